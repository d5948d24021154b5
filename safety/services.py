"""What the people called may do about a call (opt out of one business or of all, report it), and
how staff resolve reports.

Reports pause a campaign: SAFETY_REPORTS_TO_PAUSE open reports of it, from different people,
within SAFETY_REPORT_WINDOW_HOURS pause it at once (calls in progress finish) and flag it, with
the same flag the automatic abuse signals use (campaigns.dialing.abuse), so it shows in the
admin's "flagged" campaigns as well as in the reports queue. Only open reports count: once staff
resolve them they never pause the campaign again.
"""

import hashlib
import hmac
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import audit
from accounts.admin_history import admin_history_purge
from accounts.models import Workspace
from accounts.services import workspace_set_status
from campaigns.contacts.donotcall import dnc_add
from campaigns.dialing.abuse import campaign_flag_clear
from campaigns.errors import CampaignError
from campaigns.lifecycle.services import campaign_pause
from campaigns.models import Call, Campaign, DoNotCall
from notices import kinds
from notices.services import notice_send_to_workspace

from .errors import SafetyError
from .models import QAReview, Report
from .qa import qa_queue

OPT_OUT_REASON = "Asked on the “Who called me?” page"
MAX_REPORT_TEXT = 2000


def number_digest(number: str) -> str:
    """A keyed hash of an E.164 number: the same number gives the same digest, and nobody without
    the server's secret can tell which number it was (phone numbers are few enough to hash all)."""
    key = ("safety-number:" + settings.SECRET_KEY).encode()
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def number_masked(number: str) -> str:
    """ "+14155550123" -> "+1•••••••23": enough for staff to tell reports apart."""
    return (number[:2] + "•" * max(len(number) - 4, 0) + number[-2:])[:20]


def callee_opt_out(*, call: Call, everyone: bool) -> DoNotCall:
    """The callee of `call` is never called again by its business (`everyone` False), or by any
    Clozit customer (`everyone` True: the platform-wide list). At once: their places still queued
    are skipped now, and the dialer checks both lists again at claim and just before dialling."""
    entry = dnc_add(
        workspace=None if everyone else call.workspace,
        phone_number=call.to_number,
        reason=OPT_OUT_REASON,
        call_id=call.pk,  # the business that called hears of it (contact.opted_out), either way
    )
    with transaction.atomic():
        qa_queue(call=call, reasons=[QAReview.Reason.OPT_OUT])  # staff listen to what made them ask
    return entry


def report_submit(*, call: Call, reason: str, text: str = "") -> Report:
    """Record the callee's report of `call`, then pause and flag its campaign if it has had enough
    reports lately. Reporting the same call twice is refused with a message, and changes nothing."""
    if reason not in Report.Reason.values:
        raise SafetyError("Choose what was wrong with the call.")
    text = text.strip()[:MAX_REPORT_TEXT]
    if reason == Report.Reason.OTHER and not text:
        raise SafetyError("Tell us in a few words what was wrong with the call.")
    try:
        with transaction.atomic():
            report = Report.objects.create(
                call=call,
                workspace_id=call.workspace_id,
                campaign_id=call.campaign_id,
                reason=reason,
                text=text,
                reporter_digest=number_digest(call.to_number),
                reporter_masked=number_masked(call.to_number),
            )
    except IntegrityError:
        raise SafetyError("You have already reported this call. Thank you: our staff will review it.") from None
    with transaction.atomic():
        qa_queue(call=call, reasons=[QAReview.Reason.COMPLAINT])  # staff listen to the call reported
    if call.campaign_id:
        campaign_reports_check(campaign_id=call.campaign_id)
    return report


def _recent_reporters(campaign_id: int) -> int:
    since = timezone.now() - timedelta(hours=settings.SAFETY_REPORT_WINDOW_HOURS)
    return (
        Report.objects.filter(campaign_id=campaign_id, status=Report.Status.OPEN, created_at__gte=since)
        .values("reporter_digest")
        .distinct()
        .count()
    )


def campaign_reports_check(*, campaign_id: int) -> bool:
    """Pause and flag the campaign when enough different people reported it lately. Returns
    whether it was paused now. A campaign that is not running is flagged only (staff still see it)."""
    reporters, limit = _recent_reporters(campaign_id), settings.SAFETY_REPORTS_TO_PAUSE
    if reporters < max(limit, 1):
        return False
    hours = settings.SAFETY_REPORT_WINDOW_HOURS
    paused = False
    with transaction.atomic():
        # FOR NO KEY UPDATE, as the abuse signals: calls being written for the campaign do not wait on it.
        campaign = Campaign.objects.select_for_update(no_key=True).filter(pk=campaign_id).first()
        if campaign is None:
            return False
        if campaign.status == Campaign.Status.RUNNING:
            try:
                campaign_pause(
                    campaign=campaign,
                    reason=f"Paused for review: {reporters} people reported calls of this campaign as unwanted "
                    f"within {hours} hours. Our staff will review the reports and email the workspace's owners.",
                )
                paused = True
            except CampaignError:
                pass
        Campaign.objects.filter(pk=campaign_id).update(
            flagged_at=timezone.now(),
            flag_reason=f"Callee reports: {reporters} people within {hours} hours (see Trust and safety › Reports)",
        )
    return paused


# --- Staff resolve ------------------------------------------------------------------------------

DECISIONS = {
    Report.Status.DISMISSED: "dismissed",
    Report.Status.WARNED: "warned",
    Report.Status.SUSPENDED: "suspended",
}


def _send_decision(*, workspace: Workspace, decision: str, note: str, reports: list[Report]) -> None:
    """Tell the workspace's owners (a notice each, emailed after commit), once per decision: the
    key names the group's first report."""
    notice_send_to_workspace(
        workspace=workspace,
        kind=kinds.REPORT_DECISION,
        key=f"report-decision:{reports[0].pk}:{decision}",
        context={
            "decision": decision,
            "note": note,
            "reports": reports,
            "campaigns": sorted({r.campaign.name for r in reports if r.campaign}),
        },
    )


@transaction.atomic
def reports_resolve(*, report_ids: list[int], decision: str, note: str, by) -> int:
    """Staff decide on open reports: dismiss, warn, or suspend the workspaces they are about
    (accounts.services.workspace_set_status, which pauses their running campaigns). Each
    workspace's owners get one email with the decision and `note`. The campaigns' flags are
    cleared: they have been reviewed. Reports already resolved are left as they are; returns how
    many were resolved now."""
    if decision not in DECISIONS:
        raise SafetyError("Choose dismiss, warn or suspend.")
    note = note.strip()
    if not note:
        raise SafetyError("Give a reason: the workspace's owners read it.")
    reports = list(
        Report.objects.select_for_update(of=("self",))
        .filter(pk__in=report_ids, status=Report.Status.OPEN)
        .select_related("workspace", "campaign")
        .order_by("pk")
    )
    by_workspace: dict[int, list[Report]] = defaultdict(list)
    now = timezone.now()
    for report in reports:
        report.status, report.resolution_note, report.resolved_by, report.resolved_at = decision, note, by, now
        report.save(update_fields=["status", "resolution_note", "resolved_by", "resolved_at"])
        by_workspace[report.workspace_id].append(report)
    for workspace_id, group in by_workspace.items():
        workspace = group[0].workspace
        if decision == Report.Status.SUSPENDED and workspace.status == Workspace.Status.ACTIVE:
            workspace_set_status(
                workspace=workspace,
                status=Workspace.Status.SUSPENDED,
                reason=f"After reports of its calls: {note}",
                by=by,
                # The decision's own notice says the workspace is suspended, why and how to appeal: one
                # message for one decision, not a second "workspace suspended" notice beside it.
                tell_owners=False,
            )
        for campaign in {r.campaign for r in group if r.campaign}:
            campaign_flag_clear(campaign=campaign)
        audit.record(
            workspace=workspace_id,
            actor=by,
            action=f"report.{DECISIONS[decision]}",
            summary=f"{len(group)} report(s) about the workspace's calls {DECISIONS[decision]}: {note}",
        )
        _send_decision(workspace=workspace, decision=decision, note=note, reports=group)
    return len(reports)


def reports_purge(sender=None, *, workspace_id: int, **kwargs) -> None:
    """A purged workspace's reports and QA reviews go: they quote what the people called said, and
    what staff heard on its calls (the receiver of clozit.events.workspace_purging, run inside the
    purge's transaction). The admin's log of staff decisions stays, without the names it showed."""
    reports = Report.objects.filter(workspace_id=workspace_id)
    reviews = QAReview.objects.filter(workspace_id=workspace_id)
    admin_history_purge([reports, reviews])
    reports.delete()
    reviews.delete()
