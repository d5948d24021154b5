"""The campaign pages: list, create, edit, copy, delete, schedule, the page itself with its
pre-flight, and the actions (launch, pause, resume, stop, archive)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from telephony.numbers import default_caller_number

from ..calls.selectors import calls_for_workspace
from ..errors import CampaignError
from ..models import Campaign
from . import selectors, services, state
from .forms import CampaignForm, CampaignScheduleForm
from .preflight import campaign_preflight as preflight_of
from .preflight import campaign_variable_gaps


# --- Campaigns --------------------------------------------------------------------
@login_required
def campaign_list(request):
    archived = request.GET.get("archived") == "1"
    campaigns = selectors.campaigns_for_workspace(workspace=request.workspace)
    context = {
        "campaigns": campaigns.filter(archived_at__isnull=not archived),
        "archived": archived,
        "archived_count": 0 if archived else campaigns.filter(archived_at__isnull=False).count(),
    }
    return render(request, "campaigns/lifecycle/campaign_list.html", context)


@login_required
def campaign_create(request):
    form = CampaignForm(
        request.POST or None,
        workspace=request.workspace,
        initial={"caller_number": default_caller_number(request.workspace)},
    )
    if request.method == "POST" and form.is_valid():
        campaign = form.save(commit=False)
        campaign.workspace = request.workspace
        campaign.save()
        messages.success(request, "Campaign created. Launch it when you are ready.")
        return redirect("campaign_detail", pk=campaign.pk)
    return render(request, "campaigns/lifecycle/campaign_form.html", {"form": form})


@login_required
def campaign_edit(request, pk):
    campaign = get_object_or_404(selectors.campaigns_for_workspace(workspace=request.workspace), pk=pk)
    editable = services.campaign_editable_settings(campaign)
    if not editable and request.method != "POST":
        messages.error(request, services.campaign_edit_refusal(campaign))
        return redirect("campaign_detail", pk=pk)
    # A post for a campaign that resumed meanwhile is shown again, as typed, with why it was not saved.
    form = CampaignForm(
        request.POST or None,
        instance=campaign,
        workspace=request.workspace,
        editable=editable or services.SETTINGS_WHILE_PAUSED,
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_update(campaign=campaign, changes=form.changes())
        except CampaignError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Campaign settings saved.")
            return redirect("campaign_detail", pk=pk)
    elif not editable:
        form.add_error(None, services.campaign_edit_refusal(campaign))
    return render(request, "campaigns/lifecycle/campaign_form.html", {"form": form, "campaign": campaign})


@login_required
@require_POST
def campaign_duplicate(request, pk):
    campaign = get_object_or_404(Campaign, pk=pk, workspace=request.workspace)
    copy = services.campaign_duplicate(campaign=campaign)
    messages.success(request, f"“{campaign.name}” copied as a new draft. Check its settings, then launch it.")
    return redirect("campaign_edit", pk=copy.pk)


@login_required
def campaign_delete(request, pk):
    campaign = get_object_or_404(selectors.campaigns_for_workspace(workspace=request.workspace), pk=pk)
    if request.method == "POST":
        try:
            services.campaign_delete(campaign=campaign, by=request.user)
        except CampaignError as exc:
            messages.error(request, str(exc))
            return redirect("campaign_detail", pk=pk)
        messages.success(request, f"Campaign “{campaign.name}” deleted.")
        return redirect("campaign_list")
    return render(request, "campaigns/lifecycle/campaign_confirm_delete.html", {"campaign": campaign})


@login_required
@require_POST
def campaign_schedule(request, pk):
    campaign = get_object_or_404(selectors.campaigns_for_workspace(workspace=request.workspace), pk=pk)
    form = CampaignScheduleForm(request.POST)
    if form.is_valid():
        try:
            services.campaign_schedule(campaign=campaign, launch_at=form.cleaned_data["launch_at"])
        except CampaignError as exc:
            form.add_error("launch_at", str(exc))
        else:
            launch_at = timezone.localtime(form.cleaned_data["launch_at"])
            messages.success(request, f"Campaign scheduled: it launches on {launch_at:%a %d %b %Y at %H:%M}.")
            return redirect("campaign_detail", pk=pk)
    # The page again, with the time as typed and what is wrong with it.
    return render(
        request, "campaigns/lifecycle/campaign_detail.html", _detail_context(request, campaign, schedule_form=form)
    )


def _detail_context(request, campaign: Campaign, *, schedule_form=None) -> dict:
    progress = selectors.campaign_progress(campaign=campaign)
    return {
        "campaign": campaign,
        "progress": progress,
        "note": state.campaign_note(campaign=campaign),
        "activity": state.campaign_activity(campaign=campaign, progress=progress),
        "editable": bool(services.campaign_editable_settings(campaign)),
        "calls": calls_for_workspace(workspace=request.workspace, campaign=campaign)[:50],
        "schedule_form": schedule_form or CampaignScheduleForm(),
    }


@login_required
def campaign_detail(request, pk):
    campaign = get_object_or_404(selectors.campaigns_for_workspace(workspace=request.workspace), pk=pk)
    context = _detail_context(request, campaign)
    if not request.htmx:
        return render(request, "campaigns/lifecycle/campaign_detail.html", context)
    # htmx stops polling on status 286: a finished campaign has nothing more to show.
    finished = campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.STOPPED)
    return render(
        request, "campaigns/lifecycle/fragment_campaign_progress.html", context, status=286 if finished else 200
    )


@login_required
def campaign_preflight(request, pk):
    """The pre-flight summary (loaded by htmx): in full for a draft, compact while paused."""
    campaign = get_object_or_404(selectors.campaigns_for_workspace(workspace=request.workspace), pk=pk)
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.PAUSED):
        return HttpResponse("")
    context = {
        "campaign": campaign,
        "preflight": preflight_of(campaign=campaign),
        "min_call_credits": settings.CALL_MIN_CREDITS,
        "variable_gaps": campaign_variable_gaps(campaign=campaign),
    }
    return render(request, "campaigns/lifecycle/preflight_summary.html", context)


def _launch(request, campaign: Campaign):
    """Launch a draft. When nobody on the list can be called now, the owner is told when the first
    call can be placed and chooses: launch anyway (it waits), or schedule the launch for then."""
    preflight = preflight_of(campaign=campaign) if campaign.status == Campaign.Status.DRAFT else None
    nobody_now = preflight is not None and preflight.callable_now == 0
    if nobody_now and request.POST.get("confirm") != "launch-anyway":
        context = {"campaign": campaign, "preflight": preflight}
        if preflight.first_call_at:
            first = timezone.localtime(preflight.first_call_at)
            context["schedule_form"] = CampaignScheduleForm(initial={"launch_at": first.strftime("%Y-%m-%dT%H:%M")})
        return render(request, "campaigns/lifecycle/campaign_launch_confirm.html", context)
    try:
        launched = services.campaign_launch(campaign=campaign, by=request.user)
    except CampaignError as exc:
        messages.error(request, str(exc))
    else:
        if launched.status == Campaign.Status.DRAFT:  # it waits for staff approval
            messages.info(request, "Sent for approval: nobody is called until Clozit staff approve the campaign.")
        elif not nobody_now:
            messages.success(request, "Campaign launched: calls are starting.")
        elif preflight.first_call_at:
            first = timezone.localtime(preflight.first_call_at)
            messages.success(
                request,
                "Campaign launched. Nobody can be called right now: the first call will be placed on "
                f"{first:%a %d %b at %H:%M} your time, when calling hours open.",
            )
        else:
            messages.warning(request, "Campaign launched, but nobody on the list can be called with these settings.")
    return redirect("campaign_detail", pk=campaign.pk)


CAMPAIGN_ACTIONS = {
    "pause": (lambda c, user: services.campaign_pause(campaign=c), "Campaign paused."),
    "resume": (lambda c, user: services.campaign_resume(campaign=c), "Campaign resumed."),
    "stop": (lambda c, user: services.campaign_stop(campaign=c, by=user), "Campaign stopped."),
    "unschedule": (
        lambda c, user: services.campaign_unschedule(campaign=c),
        "Scheduled launch canceled: the campaign is a draft again.",
    ),
    "archive": (
        lambda c, user: services.campaign_archive(campaign=c),
        "Campaign archived: it is listed under Archived campaigns.",
    ),
    "unarchive": (lambda c, user: services.campaign_archive(campaign=c, archived=False), "Campaign back in the list."),
}


@login_required
@require_POST
def campaign_action(request, pk, action):
    campaign = get_object_or_404(Campaign, pk=pk, workspace=request.workspace)
    if action == "launch":
        return _launch(request, campaign)
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
