from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from telephony.numbers import default_caller_number

from . import selectors, services
from .errors import CampaignError
from .forms import AgentForm, CampaignForm
from .models import Agent, Call, Campaign
from .variables import agent_variable_warnings


# --- Agents -----------------------------------------------------------------------
@login_required
def agent_list(request):
    return render(request, "campaigns/agent_list.html", {"agents": Agent.objects.filter(owner=request.user)})


@login_required
def agent_edit(request, pk=None):
    agent = get_object_or_404(Agent, pk=pk, owner=request.user) if pk else Agent(owner=request.user)
    form = AgentForm(request.POST or None, instance=agent, owner=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Agent “{agent.name}” saved.")
        for warning in agent_variable_warnings(agent=agent):
            messages.warning(request, warning)
        return redirect("agent_list")
    # The lines as stored, or as just submitted (the form has put them on the agent).
    variable_warnings = agent_variable_warnings(agent=form.instance) if (agent.pk or form.is_bound) else []
    return render(
        request,
        "campaigns/agent_form.html",
        {"form": form, "agent": agent, "variable_warnings": variable_warnings},
    )


@login_required
def agent_delete(request, pk):
    agent = get_object_or_404(Agent, pk=pk, owner=request.user)
    if request.method == "POST":
        if agent.campaigns.exists():
            messages.error(request, "This agent is used by a campaign, so it cannot be deleted.")
            return redirect("agent_list")
        agent.delete()
        messages.success(request, f"Agent “{agent.name}” deleted.")
        return redirect("agent_list")
    return render(request, "campaigns/agent_confirm_delete.html", {"agent": agent})


# --- Contacts and do-not-call: campaigns/contacts_views.py ------------------------------


# --- Campaigns --------------------------------------------------------------------
@login_required
def campaign_list(request):
    return render(
        request, "campaigns/campaign_list.html", {"campaigns": selectors.campaigns_for_owner(owner=request.user)}
    )


@login_required
def campaign_create(request):
    form = CampaignForm(
        request.POST or None, owner=request.user, initial={"caller_number": default_caller_number(request.user)}
    )
    if request.method == "POST" and form.is_valid():
        campaign = form.save(commit=False)
        campaign.owner = request.user
        campaign.save()
        messages.success(request, "Campaign created. Launch it when you are ready.")
        return redirect("campaign_detail", pk=campaign.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form})


@login_required
def campaign_detail(request, pk):
    campaign = get_object_or_404(selectors.campaigns_for_owner(owner=request.user), pk=pk)
    context = {
        "campaign": campaign,
        "progress": selectors.campaign_progress(campaign=campaign),
        "calls": selectors.calls_for_owner(owner=request.user, campaign=campaign)[:50],
    }
    if not request.htmx:
        return render(request, "campaigns/campaign_detail.html", context)
    # htmx stops polling on status 286: a finished campaign has nothing more to show.
    finished = campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.STOPPED)
    return render(request, "campaigns/fragment_campaign_progress.html", context, status=286 if finished else 200)


@login_required
def campaign_preflight(request, pk):
    """The pre-flight summary (loaded by htmx): in full for a draft, compact while paused."""
    from .preflight import campaign_preflight as preflight_of
    from .preflight import campaign_variable_gaps

    campaign = get_object_or_404(selectors.campaigns_for_owner(owner=request.user), pk=pk)
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.PAUSED):
        return HttpResponse("")
    context = {"campaign": campaign, "preflight": preflight_of(campaign=campaign)}
    context["variable_gaps"] = campaign_variable_gaps(campaign=campaign)
    return render(request, "campaigns/preflight_summary.html", context)


CAMPAIGN_ACTIONS = {
    "launch": (lambda c, user: services.campaign_launch(campaign=c, by=user), "Campaign launched: calls are starting."),
    "pause": (lambda c, user: services.campaign_pause(campaign=c), "Campaign paused."),
    "resume": (lambda c, user: services.campaign_resume(campaign=c), "Campaign resumed."),
    "stop": (lambda c, user: services.campaign_stop(campaign=c), "Campaign stopped."),
}


@login_required
@require_POST
def campaign_action(request, pk, action):
    campaign = get_object_or_404(Campaign, pk=pk, owner=request.user)
    if action not in CAMPAIGN_ACTIONS:
        return redirect("campaign_detail", pk=pk)
    perform, done = CAMPAIGN_ACTIONS[action]
    try:
        perform(campaign, request.user)
    except CampaignError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("campaign_detail", pk=pk)


# --- Calls ------------------------------------------------------------------------
@login_required
def call_list(request):
    return render(request, "campaigns/call_list.html", {"calls": selectors.calls_for_owner(owner=request.user)[:200]})


@login_required
def call_detail(request, pk):
    call = get_object_or_404(selectors.calls_for_owner(owner=request.user), pk=pk)
    return render(request, "campaigns/call_detail.html", {"call": call, "turns": call.turns.all(), "Call": Call})


@login_required
def call_recording(request, pk):
    """Recordings play only through here, for the call's owner; never a public link."""
    from telephony.providers.base import ProviderError
    from telephony.registry import get_provider

    call = get_object_or_404(Call, pk=pk, owner=request.user)
    if not call.recording_url:
        raise Http404("This call has no recording.")
    try:
        audio, content_type = get_provider(call.provider).fetch_recording(
            call.recording_url, recording_id=call.recording_id
        )
    except ProviderError as exc:
        return HttpResponse(f"The recording is not available right now: {exc.message}", status=502)
    response = HttpResponse(audio, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    return response
