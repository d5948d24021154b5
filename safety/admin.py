"""The staff queue of callee reports: open reports first, with the call, its transcript's start,
the workspace, the campaign and the reporter's words; dismiss, warn or suspend with a reason
(safety.services.reports_resolve), which emails the workspace's owners."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from clozit.admin import QueueStatusFilter
from telephony.providers.base import ProviderError
from telephony.registry import get_provider

from . import qa, selectors, services
from .errors import SafetyError
from .models import QAReview, Report


class ResolutionForm(forms.Form):
    note = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
        help_text="Emailed to the workspace's owners with the decision, and kept with the reports.",
    )


class OpenFirst(QueueStatusFilter):
    """Open reports unless asked otherwise: the queue is what is still to decide."""

    statuses = Report.Status.choices
    default = Report.Status.OPEN


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "reason", "workspace", "campaign_link", "call_link", "words", "status"]
    list_filter = [OpenFirst, "reason"]
    list_select_related = ["workspace", "campaign", "call"]
    search_fields = ["workspace__name", "workspace__company_name", "campaign__name", "text"]
    readonly_fields = [
        "created_at",
        "status",
        "reason",
        "text",
        "reporter_masked",
        "workspace",
        "campaign_link",
        "call_link",
        "purpose",
        "transcript",
        "resolution_note",
        "resolved_by",
        "resolved_at",
    ]
    fields = readonly_fields
    actions = ["dismiss", "warn", "suspend"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Reporter's words")
    def words(self, report):
        return report.text[:120] + ("…" if len(report.text) > 120 else "") or "—"

    @admin.display(description="Campaign")
    def campaign_link(self, report):
        if report.campaign is None:
            return "—"
        url = reverse("admin:campaigns_campaign_change", args=[report.campaign_id])
        return format_html('<a href="{}">{}</a> ({})', url, report.campaign, report.campaign.get_status_display())

    @admin.display(description="Call")
    def call_link(self, report):
        url = reverse("admin:campaigns_call_change", args=[report.call_id])
        when = report.call.created_at.strftime("%Y-%m-%d %H:%M")
        return format_html('<a href="{}">{}</a> {}', url, report.call_id, when)

    @admin.display(description="Campaign's purpose")
    def purpose(self, report):
        return (report.campaign.purpose if report.campaign else "") or "not stated"

    @admin.display(description="Transcript (start)")
    def transcript(self, report):
        turns = selectors.transcript_excerpt(call_id=report.call_id)
        if not turns:
            return "No transcript (the call was not answered, or it was purged)."
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd>{}</dd>", turns))

    def _resolve(self, request, queryset, decision: str, verb: str):
        form = ResolutionForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                count = services.reports_resolve(
                    report_ids=list(queryset.values_list("pk", flat=True)),
                    decision=decision,
                    note=form.cleaned_data["note"],
                    by=request.user,
                )
            except SafetyError as exc:
                messages.error(request, str(exc))
                return None
            messages.success(request, f"{verb}: {count} open report(s). The workspaces' owners are emailed.")
            return None
        return render(
            request,
            "admin/safety/resolve.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{verb}: give a reason",
                "form": form,
                "reports": queryset.select_related("workspace", "campaign"),
                "action": request.POST.get("action"),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Dismiss (no action against the workspace)")
    def dismiss(self, request, queryset):
        return self._resolve(request, queryset, Report.Status.DISMISSED, "Dismiss")

    @admin.action(description="Warn the workspace")
    def warn(self, request, queryset):
        return self._resolve(request, queryset, Report.Status.WARNED, "Warn")

    @admin.action(description="Suspend the workspace")
    def suspend(self, request, queryset):
        return self._resolve(request, queryset, Report.Status.SUSPENDED, "Suspend")


# --- The QA review queue (safety.qa) -------------------------------------------------------------


class VerdictForm(forms.Form):
    notes = forms.CharField(
        label="Notes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
        help_text="What you heard. Required for coaching and violations; a violation's notes are emailed to "
        "the workspace's owners.",
    )


class ToReviewFirst(QueueStatusFilter):
    """Reviews still to do unless asked otherwise."""

    statuses = QAReview.Status.choices
    default = QAReview.Status.OPEN


@admin.register(QAReview)
class QAReviewAdmin(admin.ModelAdmin):
    list_display = ["created_at", "why", "workspace", "campaign", "call_link", "status", "verdict"]
    list_filter = [ToReviewFirst, "verdict"]
    list_select_related = ["workspace", "campaign", "call"]
    search_fields = ["workspace__name", "workspace__company_name", "campaign__name", "notes"]
    readonly_fields = [
        "created_at",
        "why",
        "status",
        "workspace",
        "campaign",
        "call_link",
        "outcome",
        "recording",
        "transcript",
        "verdict",
        "notes",
        "reviewed_by",
        "reviewed_at",
        "mark_links",
    ]
    fields = readonly_fields
    actions = ["mark_fine", "mark_coaching", "mark_violation"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "<int:pk>/recording/",
                self.admin_site.admin_view(self.recording_view),
                name="safety_qareview_recording",
            ),
            path(
                "<int:pk>/mark/<str:verdict>/",
                self.admin_site.admin_view(self.mark_view),
                name="safety_qareview_mark",
            ),
            *super().get_urls(),
        ]

    def recording_view(self, request, pk):
        """The call's recording for staff: fetched from the carrier, as the owner's own call page
        does (campaigns.calls.views.call_recording), never a public link."""
        if not self.has_view_permission(request):
            raise Http404
        call = get_object_or_404(QAReview.objects.select_related("call"), pk=pk).call
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

    def mark_view(self, request, pk, verdict):
        """One review's verdict from its own page (the list's actions do several at once): the
        notes form, then qa.qa_reviews_mark, then the next review still to do."""
        if not self.has_view_permission(request) or verdict not in self.VERDICTS:
            raise Http404
        review = get_object_or_404(QAReview, pk=pk)
        verb = self.VERDICTS[verdict]
        form = VerdictForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                qa.qa_reviews_mark(review_ids=[pk], verdict=verdict, notes=form.cleaned_data["notes"], by=request.user)
            except SafetyError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"{verb}: {review}.")
                following = QAReview.objects.filter(status=QAReview.Status.OPEN).order_by("created_at", "pk").first()
                if following is not None:
                    return redirect("admin:safety_qareview_change", following.pk)
                return redirect("admin:safety_qareview_changelist")
        return render(
            request,
            "admin/safety/qa_verdict.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{verb}: notes",
                "form": form,
                "reviews": [review],
                "opts": self.model._meta,
            },
        )

    VERDICTS = {
        QAReview.Verdict.FINE: "Fine",
        QAReview.Verdict.COACHING: "Coaching",
        QAReview.Verdict.VIOLATION: "Violation",
    }

    @admin.display(description="Your verdict")
    def mark_links(self, review):
        links = [
            (reverse("admin:safety_qareview_mark", args=[review.pk, value]), label)
            for value, label in self.VERDICTS.items()
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @admin.display(description="Why queued")
    def why(self, review):
        return review.reasons_label

    @admin.display(description="Call")
    def call_link(self, review):
        url = reverse("admin:campaigns_call_change", args=[review.call_id])
        when = review.call.created_at.strftime("%Y-%m-%d %H:%M")
        return format_html('<a href="{}">{}</a> {}', url, review.call_id, when)

    @admin.display(description="Outcome")
    def outcome(self, review):
        call = review.call
        text = f"{call.get_status_display()}, {call.duration_seconds} s"
        if call.outcome:
            text += f", {call.get_outcome_display()}"
        return text + (f" ({call.failure_reason})" if call.failure_reason else "")

    @admin.display(description="Recording")
    def recording(self, review):
        if not review.call.recording_url:
            return "No recording."
        url = reverse("admin:safety_qareview_recording", args=[review.pk])
        return format_html('<a href="{}">Listen ({} s)</a>', url, review.call.recording_seconds)

    @admin.display(description="Transcript")
    def transcript(self, review):
        turns = selectors.transcript_excerpt(call_id=review.call_id, turns=500)
        if not turns:
            return "No transcript (the call was not answered, or it was purged)."
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd>{}</dd>", turns))

    def _mark(self, request, queryset, verdict: str, verb: str):
        form = VerdictForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                count = qa.qa_reviews_mark(
                    review_ids=list(queryset.values_list("pk", flat=True)),
                    verdict=verdict,
                    notes=form.cleaned_data["notes"],
                    by=request.user,
                )
            except SafetyError as exc:
                messages.error(request, str(exc))
                return None
            messages.success(request, f"{verb}: {count} review(s).")
            return None
        return render(
            request,
            "admin/safety/qa_verdict.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{verb}: notes",
                "form": form,
                "reviews": queryset.select_related("workspace", "campaign"),
                "action": request.POST.get("action"),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Mark fine")
    def mark_fine(self, request, queryset):
        return self._mark(request, queryset, QAReview.Verdict.FINE, "Fine")

    @admin.action(description="Mark as needing coaching")
    def mark_coaching(self, request, queryset):
        return self._mark(request, queryset, QAReview.Verdict.COACHING, "Coaching")

    @admin.action(description="Mark as a violation (counts towards suspension; emails the owners)")
    def mark_violation(self, request, queryset):
        return self._mark(request, queryset, QAReview.Verdict.VIOLATION, "Violation")
