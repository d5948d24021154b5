"""Staff approval before a launch: a workspace's first campaign, and any campaign whose list is
larger than CAMPAIGN_APPROVAL_ABOVE_CONTACTS, waits for Clozit staff when launched
(campaign_launch asks `campaign_approval_needed`, then `campaign_approval_request`). Staff decide
in admin (campaigns.lifecycle.review): an approval launches the campaign through campaign_launch,
so every launch check still applies. Once one campaign of a workspace is approved, or has ever
been launched, its later small campaigns launch directly."""

from django.conf import settings

from accounts import audit
from accounts.admin_history import admin_history_purge
from clozit.exporting import export_json, export_rows

from ..models import Campaign, CampaignApproval, WorkspaceApproval

WAITING = (
    "Waiting for approval: Clozit staff review a workspace's first campaign (and very large ones) before "
    "it calls anyone, usually within one working day. It starts calling once approved; you are emailed "
    "if it is not."
)


def workspace_approved(workspace_id: int) -> bool:
    """Staff approved one of its campaigns, or it launched campaigns before approvals began (or
    while they were off): either way, its campaigns have been seen calling."""
    return (
        WorkspaceApproval.objects.filter(workspace_id=workspace_id).exists()
        or Campaign.objects.filter(workspace_id=workspace_id, started_at__isnull=False).exists()
    )


def campaign_approval_needed(campaign: Campaign) -> str:
    """Why the campaign must wait for staff before it calls anyone ("" when it need not)."""
    if not settings.CAMPAIGN_APPROVAL_REQUIRED:
        return ""
    size = campaign.contact_list.contacts.count()
    limit = settings.CAMPAIGN_APPROVAL_ABOVE_CONTACTS
    # An approval covers the list size staff saw: a draft whose list grew since is asked again.
    seen = campaign.approvals.filter(status=CampaignApproval.Status.APPROVED, contacts__gte=size).exists()
    if size > limit and not seen:
        return f"Its list has {size} contacts, more than {limit}."
    if not workspace_approved(campaign.workspace_id):
        return "The workspace's first campaign."
    return ""


def campaign_approval_request(*, campaign: Campaign, why: str, by) -> CampaignApproval:
    """Put the (locked, launchable) draft in the staff queue instead of launching it. It stays a
    draft, so nothing dials; its page says it waits. Asking twice keeps the one request."""
    pending = campaign.approvals.filter(status=CampaignApproval.Status.PENDING).first()
    if pending is not None:
        approval_snapshot_refresh(pending)  # launched again after a change: staff see what it is now
        return pending
    request = CampaignApproval.objects.create(
        workspace_id=campaign.workspace_id, campaign=campaign, why=why[:200], requested_by=by, **snapshot(campaign)
    )
    # A scheduled launch that needs approval waits for staff, not for its time again.
    campaign.launch_at = None
    campaign.status_reason = WAITING
    campaign.save(update_fields=["launch_at", "status_reason"])
    audit.record(
        workspace=campaign.workspace_id,
        actor=by,
        action="campaign.approval_asked",
        summary=f"Launched the campaign “{campaign.name}”: it waits for approval by Clozit staff.",
    )
    return request


def snapshot(campaign: Campaign) -> dict:
    """What staff review: the agent's words and the list's size, as they are now."""
    agent = campaign.agent
    script = "\n\n".join(
        f"{label}:\n{text}"
        for label, text in (
            ("Persona", agent.persona),
            ("Goal", agent.goal),
            ("Questions", agent.questions),
            ("Answers", agent.answers),
            ("Closing line", agent.closing_line),
        )
        if text
    )
    return {"script": script, "opening_line": agent.opening_line, "contacts": campaign.contact_list.contacts.count()}


def approval_snapshot_refresh(approval: CampaignApproval) -> bool:
    """Bring a pending request up to date with its campaign (its agent or list changed since it was
    asked). Returns whether anything had changed."""
    now = snapshot(approval.campaign)
    if all(getattr(approval, name) == value for name, value in now.items()):
        return False
    for name, value in now.items():
        setattr(approval, name, value)
    approval.save(update_fields=list(now))
    return True


def workspace_preapprove(*, workspace, by=None, note: str) -> WorkspaceApproval:
    """Approve a workspace without a review (the demo workspace of `make run`, a known customer):
    its campaigns launch directly unless their list is above the size limit."""
    approval, _ = WorkspaceApproval.objects.get_or_create(
        workspace_id=workspace.pk, defaults={"approved_by": by, "note": note[:200]}
    )
    return approval


def approval_pending(campaign: Campaign) -> bool:
    return campaign.status == Campaign.Status.DRAFT and (
        campaign.approvals.filter(status=CampaignApproval.Status.PENDING).exists()
    )


def approvals_purge(sender=None, *, workspace_id: int, **kwargs) -> None:
    """A purged workspace's approval requests go (they copy its agents' words and staff's reasons);
    that it was approved stays, without a note (receiver of clozit.events.workspace_purging, inside
    the purge's transaction)."""
    requests = CampaignApproval.objects.filter(workspace_id=workspace_id)
    admin_history_purge([requests, WorkspaceApproval.objects.filter(workspace_id=workspace_id)])
    requests.delete()
    WorkspaceApproval.objects.filter(workspace_id=workspace_id).update(note="")


def approvals_export(sender=None, *, workspace_id: int, **kwargs) -> dict[str, str]:
    """The workspace's approval requests and decisions, for its data export (receiver of
    clozit.events.workspace_exporting)."""
    return {
        "campaign_approvals.json": export_json(
            {
                "requests": export_rows(CampaignApproval.objects.filter(workspace_id=workspace_id)),
                "workspace": export_rows(WorkspaceApproval.objects.filter(workspace_id=workspace_id)),
            }
        )
    }
