"""Notices for what happens in a workspace (clozit.events): a campaign paused by the rules or
completed, the balance falling below the account's low-balance threshold.

Listeners run inside the transaction that made the change: they write notice rows, and the
emails go after commit (notices.services), so a change rolled back tells nobody."""

import hashlib
import inspect

from django.db.models import Count, Max, Q
from django.urls import reverse

from accounts.models import Membership, Workspace
from billing.low_balance import low_balance_threshold_of
from billing.models import LedgerEntry
from campaigns.lifecycle.services import campaign_pause
from campaigns.models import Call, Campaign, CampaignContact
from clozit import events

from . import kinds
from .services import notice_send_to_workspace

Role = Membership.Role
CAMPAIGN_ROLES = (Role.OWNER, Role.ADMIN)
MONEY_ROLES = (Role.OWNER, Role.BILLING)
# A member who presses "Pause" gets campaign_pause's own reason; that pause is theirs, not ours to tell.
PAUSED_BY_A_PERSON = inspect.signature(campaign_pause).parameters["reason"].default
# The account's suspension pauses every campaign: its own notice (account_suspended) says so once.
NOT_TOLD_PAUSE_KINDS = {Campaign.PauseKind.ACCOUNT, Campaign.PauseKind.NONE}


def on_event(*, event: events.Event, **_) -> None:
    if event.type == events.CAMPAIGN_PAUSED:
        campaign_paused(event)
    elif event.type == events.CAMPAIGN_COMPLETED:
        campaign_completed(event)
    elif event.type == events.CREDITS_LOW:
        credits_low(event)


def pause_key(*, campaign_id: int, kind: str, reason: str) -> str:
    """What names one pause: the campaign, the last call it placed before stopping, and why it
    stopped. The same pause reported again has all three the same, so it is told once; a later
    pause follows more calls or has another reason, so it is told again."""
    last_call = Call.objects.filter(campaign_id=campaign_id).aggregate(last=Max("pk"))["last"] or 0
    digest = hashlib.sha256(reason.encode()).hexdigest()[:10]
    return f"campaign:{campaign_id}:paused:{last_call}:{kind or 'other'}:{digest}"


def campaign_paused(event: events.Event) -> None:
    kind, reason = event.data.get("kind") or Campaign.PauseKind.OTHER, event.data.get("reason") or ""
    if kind in NOT_TOLD_PAUSE_KINDS or (kind == Campaign.PauseKind.OTHER and reason == PAUSED_BY_A_PERSON):
        return
    campaign = Campaign.objects.filter(pk=event.data["campaign_id"]).select_related("workspace").first()
    if campaign is None:
        return
    notice_send_to_workspace(
        workspace=campaign.workspace,
        kind=kinds.CAMPAIGN_PAUSED,
        key=pause_key(campaign_id=campaign.pk, kind=kind, reason=reason),
        context={"campaign": campaign, "reason": reason, "pause_kind": kind},
        link=reverse("campaign_detail", args=[campaign.pk]),
        roles=CAMPAIGN_ROLES,
    )


def campaign_completed(event: events.Event) -> None:
    campaign = Campaign.objects.filter(pk=event.data["campaign_id"]).select_related("workspace").first()
    if campaign is None:
        return
    S = CampaignContact.Status
    counts = CampaignContact.objects.filter(campaign=campaign).aggregate(
        contacts=Count("pk"),
        done=Count("pk", filter=Q(status=S.DONE)),
        failed=Count("pk", filter=Q(status=S.FAILED)),
        skipped=Count("pk", filter=Q(status=S.SKIPPED)),
    )
    notice_send_to_workspace(
        workspace=campaign.workspace,
        kind=kinds.CAMPAIGN_COMPLETED,
        key=f"campaign:{campaign.pk}:completed",
        context={"campaign": campaign, **counts},
        link=reverse("campaign_detail", args=[campaign.pk]),
        roles=CAMPAIGN_ROLES,
    )


def credits_low(event: events.Event) -> None:
    """Once per crossing: the balance can only fall below the threshold again after credits
    lifted it back over, so the last credit added before the crossing names it (with the
    threshold, so a threshold the owners change is a new line to cross)."""
    workspace = Workspace.objects.filter(pk=event.workspace_id).first()
    if workspace is None:
        return
    last_credit = (
        LedgerEntry.objects.filter(account__workspace_id=workspace.pk, amount__gt=0)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    threshold = event.data.get("threshold") or str(low_balance_threshold_of(workspace=workspace)[0])
    notice_send_to_workspace(
        workspace=workspace,
        kind=kinds.LOW_BALANCE,
        key=f"credits:{workspace.pk}:low:{threshold}:after-entry-{last_credit or 0}",
        context={"balance": event.data.get("balance", ""), "threshold": threshold},
        link=reverse("credits"),
        roles=MONEY_ROLES,
    )
