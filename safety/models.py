"""Reports of unwanted calls, made by the people called on the public "Who called me?" page."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Report(models.Model):
    """One callee's complaint about one call, and what staff decided.

    The reporter's number is kept as an HMAC (safety.services.number_digest), never in clear: it
    is only needed to tell one reporter from another (several reports from one person count once
    towards pausing a campaign) and to refuse a second report of the same call, and the call itself
    already names the number for staff. A keyed hash, because a plain hash of a phone number is
    undone by hashing every number. `reporter_masked` (the last two digits) lets staff tell
    reports apart at a glance without reading the number."""

    class Reason(models.TextChoices):
        SPAM = "spam", "Spam or unwanted sales call"
        HARASSMENT = "harassment", "Harassment or abuse"
        SCAM = "scam", "Scam or fraud"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISMISSED = "dismissed", "Dismissed"
        WARNED = "warned", "Warned"
        SUSPENDED = "suspended", "Suspended"

    call = models.ForeignKey("campaigns.Call", on_delete=models.CASCADE, related_name="reports")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="reports")
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    reason = models.CharField(max_length=16, choices=Reason.choices)
    text = models.TextField(blank=True, help_text="The reporter's own words.")
    reporter_digest = models.CharField(max_length=64, editable=False)
    reporter_masked = models.CharField(max_length=20, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    resolution_note = models.TextField(blank=True, help_text="Why staff decided so; the workspace's owners read it.")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A person reports a call once; reporting it again changes nothing.
            models.UniqueConstraint(fields=["call", "reporter_digest"], name="report_once_per_call"),
        ]
        indexes = [
            # The count that pauses a campaign: its open reports of the last hours.
            models.Index(fields=["campaign", "created_at"], condition=Q(status="open"), name="report_open_campaign"),
            models.Index(fields=["status", "created_at"], name="report_status_created"),
        ]

    def __str__(self):
        return f"Report {self.pk} ({self.get_reason_display().lower()})"


class QAReview(models.Model):
    """One call waiting for (or given) a staff review of how the agent behaved: a sample of
    answered calls, and every call where something went wrong for the callee (safety.qa).

    One per call (a replayed event, or a report filed after the call was sampled, adds to
    `reasons`). A "violation" counts towards suspending the workspace (QA_VIOLATIONS_TO_SUSPEND
    within QA_VIOLATION_WINDOW_DAYS, counted by `reviewed_at`)."""

    class Reason(models.TextChoices):
        SAMPLE = "sample", "Random sample"
        OPT_OUT = "opt_out", "Opt-out"
        COMPLAINT = "complaint", "Complaint (report)"
        TRANSFER = "transfer", "Transfer request"
        TECHNICAL_FAILURE = "technical_failure", "Technical failure"

    class Status(models.TextChoices):
        OPEN = "open", "To review"
        REVIEWED = "reviewed", "Reviewed"

    class Verdict(models.TextChoices):
        NONE = "", "—"
        FINE = "fine", "Fine"
        COACHING = "coaching", "Needs coaching"
        VIOLATION = "violation", "Violation"

    call = models.OneToOneField("campaigns.Call", on_delete=models.CASCADE, related_name="qa_review")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="qa_reviews")
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="qa_reviews"
    )
    # Reason values, in the order they came: ["sample", "complaint"].
    reasons = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    verdict = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.NONE, blank=True)
    notes = models.TextField(blank=True, help_text="What staff saw; the workspace's owners read it on a violation.")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "QA review"
        verbose_name_plural = "QA reviews"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="qa_status_created"),
            # The count that suspends a workspace: its violations of the last days.
            models.Index(fields=["workspace", "reviewed_at"], condition=Q(verdict="violation"), name="qa_violations"),
        ]

    def __str__(self):
        return f"QA review of call {self.call_id}"

    @property
    def reasons_label(self) -> str:
        labels = dict(self.Reason.choices)
        return ", ".join(labels.get(r, r) for r in self.reasons)
