"""Staff decide on campaigns waiting for approval (campaigns.lifecycle.approval), from admin.
Approving launches the campaign through campaign_launch with every launch check; rejecting
tells the customer why, on the campaign page and by email to the workspace's owners."""

from django.db import transaction
from django.utils import timezone

from accounts import audit
from notices import kinds
from notices.services import notice_send_to_workspace

from ..errors import CampaignError
from ..models import Campaign, CampaignApproval, WorkspaceApproval
from .approval import approval_snapshot_refresh
from .services import campaign_launch


def _pending(approval_id: int) -> CampaignApproval:
    approval = (
        CampaignApproval.objects.select_for_update(of=("self",))
        .select_related("campaign", "workspace")
        .filter(pk=approval_id)
        .first()
    )
    if approval is None or approval.status != CampaignApproval.Status.PENDING:
        raise CampaignError("This campaign is no longer waiting for approval.")
    return approval


def campaign_approve(*, approval_id: int, by) -> Campaign:
    """Approve and launch. The approval stands even when the launch is refused now (no credits,
    say): the campaign keeps why, and its owner's next launch goes straight through. A campaign
    whose agent or list changed since it was asked is not approved: its request is brought up to
    date, for staff to review again."""
    with transaction.atomic():
        changed = approval_snapshot_refresh(_pending(approval_id))
    if changed:
        raise CampaignError(
            "This campaign's agent or list changed since it was asked: the request now shows it as it is. "
            "Review it again."
        )
    return _approve(approval_id=approval_id, by=by)


@transaction.atomic
def _approve(*, approval_id: int, by) -> Campaign:
    approval = _pending(approval_id)
    approval.status = CampaignApproval.Status.APPROVED
    approval.decided_by, approval.decided_at = by, timezone.now()
    approval.save(update_fields=["status", "decided_by", "decided_at"])
    WorkspaceApproval.objects.get_or_create(
        workspace_id=approval.workspace_id, defaults={"approved_by": by, "note": f"Approved “{approval.campaign}”."}
    )
    campaign = approval.campaign
    audit.record(
        workspace=approval.workspace_id,
        actor=by,
        action="campaign.approved",
        summary=f"Approved the campaign “{campaign.name}”.",
    )
    try:
        with transaction.atomic():
            return campaign_launch(campaign=campaign, by=by)
    except CampaignError as refusal:
        reason = f"Approved by Clozit staff, but it could not start: {refusal} Once that is fixed, launch it again."
        Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DRAFT).update(
            status_reason=reason[: Campaign._meta.get_field("status_reason").max_length]
        )
        campaign.refresh_from_db()
        return campaign


@transaction.atomic
def campaign_reject(*, approval_id: int, reason: str, by) -> Campaign:
    """Refuse the launch with a reason the customer reads; the campaign stays a draft, which they
    may change and launch again (a new request)."""
    reason = reason.strip()
    if not reason:
        raise CampaignError("Give a reason: the workspace's owners read it.")
    approval = _pending(approval_id)
    approval.status = CampaignApproval.Status.REJECTED
    approval.decided_by, approval.decided_at, approval.decision_reason = by, timezone.now(), reason
    approval.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    campaign = approval.campaign
    words = f"Not approved by Clozit staff: {reason}"
    campaign.status_reason = words[: Campaign._meta.get_field("status_reason").max_length]
    campaign.save(update_fields=["status_reason"])
    audit.record(
        workspace=approval.workspace_id,
        actor=by,
        action="campaign.rejected",
        summary=f"Did not approve the campaign “{campaign.name}”: {reason}",
    )
    _send_rejection(approval)
    return campaign


def _send_rejection(approval: CampaignApproval) -> None:
    """Tell the workspace's owners (a notice each, emailed after commit), once per approval."""
    notice_send_to_workspace(
        workspace=approval.workspace,
        kind=kinds.CAMPAIGN_REJECTED,
        key=f"campaign-approval:{approval.pk}:rejected",
        context={"approval": approval, "campaign": approval.campaign},
    )
