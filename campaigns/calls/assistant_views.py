"""The "Ask AI" panels on the call and campaign pages, the answer polling, and the campaign report.

The panels load themselves by htmx into the detail pages (`assistant_*_slot.html`), so those
pages' views need nothing from here. Everything is scoped to the signed-in owner: another
account's call, campaign or question is a 404.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from billing import prices

from ..errors import CampaignError
from ..models import AssistantQuestion, Call, Campaign
from . import assistant, reports


def _panel(request, *, call: Call | None = None, campaign: Campaign | None = None):
    """GET shows the panel; POST asks a question, then shows the panel with it pending."""
    subject_url = reverse("call_detail", args=[call.pk]) if call else reverse("campaign_detail", args=[campaign.pk])
    panel_url = reverse("call_assistant", args=[call.pk]) if call else reverse("campaign_assistant", args=[campaign.pk])
    error, draft = "", ""
    if request.method == "POST":
        draft = request.POST.get("question", "")
        try:
            assistant.assistant_ask(request.workspace, call=call, campaign=campaign, question=draft)
        except CampaignError as exc:
            error = str(exc)
        else:
            draft = ""
        if not request.htmx:  # a plain form post (no JavaScript): back to the assistant's own page
            if error:
                messages.error(request, error)
            return redirect(panel_url)
    report_campaign = campaign if campaign is not None else call.campaign
    context = {
        "call": call,
        "campaign": campaign,
        "subject_url": subject_url,
        "panel_url": panel_url,
        "report_url": reverse("campaign_report", args=[report_campaign.pk]) if report_campaign else "",
        "llm": assistant.llm_configured(),
        "no_llm_message": assistant.NO_LLM_MESSAGE,
        "suggestions": assistant.CALL_SUGGESTIONS if call else assistant.CAMPAIGN_SUGGESTIONS,
        "questions": assistant.assistant_questions(workspace=request.workspace, call=call, campaign=campaign),
        "cost": prices.ai_query_cost(),
        "max_chars": assistant.MAX_QUESTION_CHARS,
        "error": error,
        "draft": draft,
    }
    template = "campaigns/calls/assistant_panel.html" if request.htmx else "campaigns/calls/assistant_page.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def call_assistant(request, pk):
    call = get_object_or_404(Call.objects.select_related("campaign", "contact"), pk=pk, workspace=request.workspace)
    return _panel(request, call=call)


@login_required
@require_http_methods(["GET", "POST"])
def campaign_assistant(request, pk):
    campaign = get_object_or_404(Campaign, pk=pk, workspace=request.workspace)
    return _panel(request, campaign=campaign)


@login_required
@require_GET
def assistant_question(request, pk):
    """One question as it stands; htmx polls it while pending and stops (286) once it is done."""
    question = get_object_or_404(AssistantQuestion, pk=pk, workspace=request.workspace)
    question = assistant.assistant_fail_stale(question=question)
    done = question.status != AssistantQuestion.Status.PENDING
    return render(request, "campaigns/calls/assistant_question.html", {"q": question}, status=286 if done else 200)


@login_required
@require_GET
def campaign_report(request, pk):
    campaign = get_object_or_404(Campaign.objects.select_related("agent"), pk=pk, workspace=request.workspace)
    captured, captured_rows = reports.captured_page(campaign=campaign, page=request.GET.get("page") or 1)
    context = {
        "campaign": campaign,
        "outcomes": reports.outcome_counts(campaign=campaign),
        "failures": reports.failure_reasons(campaign=campaign),
        "callbacks": reports.callbacks(campaign=campaign),
        "callbacks_total": reports.callbacks_count(campaign=campaign),
        "callbacks_limit": reports.CALLBACKS_LIMIT,
        "phrases": reports.common_phrases(campaign=campaign),
        "captured": captured,
        "captured_rows": captured_rows,
    }
    return render(request, "campaigns/calls/campaign_report.html", context)
