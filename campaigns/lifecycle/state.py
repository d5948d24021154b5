"""What the campaign pages say about a campaign's state, told from the present.

A paused campaign's stored reason is what was true when it paused; the page tells it again from
the balance, the account's status, the list's consent and the caller number as they are now
(`campaign_note`). A running campaign that calls nobody says why and when its next call will be
placed, in the account's time zone and the callee's (`campaign_activity`). Each read costs a
fixed number of queries, however many contacts the campaign has.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from billing import ledger
from telephony.numbers import caller_number_usable

from ..contacts.windows import WAITING_CLOSED, WAITING_NEVER, WAITING_NO_DAYS, WAITING_NO_ZONE, callee_time_zones
from ..models import Call, Campaign, CampaignContact
from .budget import campaign_budget_left

RESUMED_FOR_CREDITS = "Resumed by itself when credits became available."
ACCOUNT_ACTIVE_AGAIN = (
    "Paused while the account could not place calls. It is active again: resume the campaign to go on calling."
)


def credits_words(amount: Decimal) -> str:
    """ "61", "0.5": a credit amount as people write it."""
    return f"{Decimal(amount).normalize():f}"


def duration_words(seconds: int) -> str:
    """ "45 s", "4 min", "1 min 30 s", "1 h 5 min"."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} min")
    if secs and not hours:
        parts.append(f"{secs} s")
    return " ".join(parts) or "0 s"


def call_reserve(campaign: Campaign) -> tuple[Decimal, str]:
    """The most one call of this campaign reserves while it runs, and why that much: the agent's
    longest call, or what is left of the campaign's budget when that is less."""
    amount = ledger.call_cost(seconds=campaign.agent.max_call_seconds)
    why = f"the agent's longest call, {duration_words(campaign.agent.max_call_seconds)}"
    if campaign.budget_credits is not None:
        left = campaign.budget_credits if campaign.status == Campaign.Status.DRAFT else campaign_budget_left(campaign)
        left = Decimal(int(max(left, Decimal(0))))
        if left < amount:
            amount, why = left, "what is left of the campaign's budget"
    return amount, why


def credits_pause_reason(*, campaign: Campaign, available: Decimal, held: Decimal) -> str:
    """Why a campaign cannot place its next call for lack of credits, with the numbers."""
    reserve, why = call_reserve(campaign)
    text = (
        f"Paused: not enough credits for the next call. Each call reserves up to {credits_words(reserve)} credits "
        f"while it runs ({why}; what is not used is returned at hang-up) and needs at least "
        f"{settings.CALL_MIN_CREDITS} to start; {credits_words(max(available, Decimal(0)))} are available"
    )
    if held > 0:
        return (
            f"{text} ({credits_words(held)} more are held by calls in progress). It resumes by itself within a minute "
            "of credits becoming available: when those calls end, or when you add credits."
        )
    return f"{text}. Add credits: the campaign resumes by itself within a minute."


def account_pause_reason(workspace) -> str:
    return f"Paused: the account is {workspace.get_status_display().lower()}."


def consent_pause_reason(campaign: Campaign) -> str:
    return (
        "Paused: nobody has confirmed consent to call the people on the list "
        f"“{campaign.contact_list.name}”. Confirm it on the list's page, then resume."
    )


def caller_number_pause_reason(campaign: Campaign) -> str:
    return (
        f"Paused: the caller number {campaign.caller_number or '(none)'} is no longer yours to call from. "
        "Edit the campaign to choose another number, then resume."
    )


def campaign_note(*, campaign: Campaign) -> str:
    """The line shown beside the campaign's status. For a paused campaign, its reason as it is
    now: credits that have arrived, a reactivated account or a confirmed list are not described
    as still missing."""
    reason = campaign.status_reason
    if campaign.status != Campaign.Status.PAUSED:
        return reason
    workspace, kind = campaign.workspace, campaign.pause_kind
    if kind == Campaign.PauseKind.CREDITS:
        balance = ledger.balance_of(workspace=workspace)
        if workspace.can_dial and balance.available >= settings.CALL_MIN_CREDITS:
            return (
                f"{credits_words(balance.available)} credits are available now: "
                "the campaign resumes by itself within a minute."
            )
        return credits_pause_reason(campaign=campaign, available=balance.available, held=balance.held)
    if kind == Campaign.PauseKind.ACCOUNT:
        if not workspace.can_dial:
            return account_pause_reason(workspace)
        balance = ledger.balance_of(workspace=workspace)
        if balance.available < settings.CALL_MIN_CREDITS:
            return (
                f"{ACCOUNT_ACTIVE_AGAIN[:-1]} once at least {settings.CALL_MIN_CREDITS} credits are free "
                f"({credits_words(max(balance.available, Decimal(0)))} are available now)."
            )
        return ACCOUNT_ACTIVE_AGAIN
    if kind == Campaign.PauseKind.CONSENT and campaign.contact_list.consent_confirmed_at is not None:
        return (
            f"Consent to call the people on “{campaign.contact_list.name}” is confirmed now: "
            "resume the campaign to go on calling."
        )
    if kind == Campaign.PauseKind.CALLER_NUMBER and caller_number_usable(workspace, campaign.caller_number):
        return f"The caller number {campaign.caller_number} can be used now: resume the campaign to go on calling."
    return reason


@dataclass(frozen=True)
class Activity:
    """Why a running campaign is calling nobody (or fewer people than it may), and when its next
    call will be placed (None: as soon as the reason is gone)."""

    message: str
    next_call_at: datetime | None = None
    callee_zone: str = ""


# Waits that are a later look, not a call: they end when the contact or the campaign changes.
STUCK_WAITS = (WAITING_NO_ZONE, WAITING_NEVER, WAITING_NO_DAYS)


def _waiting_words(reason: str) -> str:
    if not reason:
        return "the contacts left are waiting to be tried again"
    if reason.startswith(WAITING_CLOSED):
        return "it is outside calling hours for every contact left"
    return reason[0].lower() + reason[1:]


def campaign_activity(*, campaign: Campaign, progress: dict, now: datetime | None = None) -> Activity | None:
    """For a running campaign: None while it calls as it may; else why not. `progress` is
    selectors.campaign_progress's (live call counts)."""
    if campaign.status != Campaign.Status.RUNNING:
        return None
    now = now or timezone.now()
    live = progress["dialing"] + progress["in_call"]
    pending = CampaignContact.objects.filter(campaign=campaign, status=CampaignContact.Status.PENDING)
    due = pending.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    if live == 0:
        if not due.exists():
            waiting = pending.filter(next_attempt_at__gt=now).select_related("contact").order_by("next_attempt_at")
            # Contacts without a usable zone or window are looked at again later, but that is no call.
            stuck = Q()
            for prefix in STUCK_WAITS:
                stuck |= Q(waiting_reason__startswith=prefix)
            upcoming = waiting.exclude(stuck).first()
            if upcoming is None:
                blocked = waiting.first()
                if blocked is None:
                    return None  # nobody left: it completes
                return Activity(
                    message=f"Nobody is being called right now: {_waiting_words(blocked.waiting_reason)} "
                    "(every contact left waits for this)."
                )
            zones = callee_time_zones(upcoming.contact) if upcoming.contact_id else []
            return Activity(
                message=f"Nobody is being called right now: {_waiting_words(upcoming.waiting_reason)}.",
                next_call_at=upcoming.next_attempt_at,
                callee_zone=zones[0] if zones else "",
            )
        workspace = campaign.workspace
        in_use = Call.objects.filter(workspace=workspace, status__in=Call.LIVE_STATUSES).count()
        if in_use >= workspace.call_limit:
            return Activity(
                message=f"Waiting for a free line: the {workspace.call_limit} calls your account may have at once "
                "are all in progress in other campaigns. The next call is placed when one of them ends."
            )
        return None
    if live < campaign.max_concurrent_calls and due.exists():
        balance = ledger.balance_of(workspace=campaign.workspace)
        if balance.available < settings.CALL_MIN_CREDITS:
            reserve, _ = call_reserve(campaign)
            return Activity(
                message=f"Calling {live} at a time instead of {campaign.max_concurrent_calls}: each call reserves up "
                f"to {credits_words(reserve)} credits and needs at least {settings.CALL_MIN_CREDITS} to start, and "
                f"{credits_words(balance.held)} are held by calls in progress with "
                f"{credits_words(max(balance.available, Decimal(0)))} free. More calls start as credits are freed."
            )
    return None


def campaigns_scheduled(*, workspace, limit: int = 5):
    """The account's drafts waiting for their scheduled launch, soonest first."""
    return (
        Campaign.objects.filter(workspace=workspace, status=Campaign.Status.DRAFT, launch_at__isnull=False)
        .select_related("agent", "contact_list")
        .order_by("launch_at")[:limit]
    )
