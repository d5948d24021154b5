"""RQ jobs that pace campaigns and place calls.

PostgreSQL is the source of truth; Redis only wakes workers up. Every job takes ids, may run
twice, and re-reads what it needs under a row lock:

- `campaign_advance` fills free call slots: claims pending contacts (skip-locked, so two workers
  never take the same one), reserves credits, and writes each call row before anything is dialled.
- `call_place` dials a queued call once; a call that may have been dialled is never redialled.
- `sweep` (every 30 s, from the scheduler) repairs what crashes leave behind.
"""

import logging
import math
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import django_rq
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.models import Workspace
from billing import ledger
from billing.models import CreditHold
from clozit import events
from clozit.queueing import enqueue
from telephony.models import PhoneNumber
from telephony.numbers import caller_number_usable
from telephony.providers.base import OutboundCall, ProviderError
from telephony.rate_limit import dial_slot_reserve
from telephony.registry import get_provider

from ..calls.services import call_finish, calls_stale, webhook_url
from ..contacts.donotcall import DNC_RESULT
from ..contacts.windows import AnyHours, Wait, WindowCheck
from ..lifecycle import state
from ..lifecycle.budget import campaign_budget_left
from ..lifecycle.services import campaign_pause, campaign_resume_for_credits, campaign_stop
from ..models import Agent, Call, Campaign, CampaignContact, DialingStop, DoNotCall
from .abuse import campaign_abuse_check
from .breaker import campaign_breaker_check
from .killswitch import campaign_pause_for_stop, stop_covering

logger = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=5)
# A campaign pauses itself after this many calls in a row the provider failed to place.
PROVIDER_FAILURES_BEFORE_PAUSE = 5
# A call stuck before the carrier accepted it: re-sent if never dialled, failed if it may have been.
QUEUED_RESEND_AFTER = timedelta(minutes=2)
DIALING_GIVE_UP_AFTER = timedelta(minutes=5)
RING_ALLOWANCE_SECONDS = 120


def campaign_advance(campaign_id: int) -> list[int]:
    """Fill the campaign's free call slots and dial. Returns the ids of the calls placed."""
    # Abuse signals (opt-outs, hang-ups), then what the carrier reported of the recent calls
    # (failed, blocked, cut short), pause the campaign before it places another call.
    if campaign_abuse_check(campaign_id) or campaign_breaker_check(campaign_id):
        return []
    call_ids, more_to_examine = _claim(campaign_id)
    if call_ids:
        _dial_jobs_enqueue(call_ids)
    if more_to_examine:
        # A whole slice waited for its calling window: look at the next one now, not at the next
        # sweep, so the page soon knows when the first call will be (and a long list of contacts
        # outside their hours is set aside in a minute, not in hours).
        enqueue("dialing", campaign_advance, campaign_id)
    _complete_if_done(campaign_id)
    return call_ids


def _dial_jobs_enqueue(call_ids: list[int]) -> None:
    """One dial job per call, sent to Redis together (one round trip) once the claim is
    committed. The provider rides along, so a dial job reserves its calls-per-second slot
    without reading its call first."""
    queue = django_rq.get_queue("dialing")  # one connection for the batch
    jobs = [
        queue.prepare_data(call_place, args=(call_id,), kwargs={"provider": settings.TELEPHONY_PROVIDER})
        for call_id in call_ids
    ]
    transaction.on_commit(lambda: queue.enqueue_many(jobs))


# A claim looks at no more than this many candidates: a long list of contacts whose window is
# closed is set aside (next_attempt_at) a bounded slice at a time, never all in one transaction.
CLAIM_SCAN_LIMIT = 500
CLAIM_BATCH_MAX = 100


def _on_dnc(workspace_id: int, number_ref):
    """The account's own do-not-call list or the platform-wide one (entries without an owner)."""
    return Exists(
        DoNotCall.objects.filter(Q(workspace=workspace_id) | Q(workspace__isnull=True), phone_number=number_ref)
    )


def _claim_calls(campaign_id: int) -> list[int]:
    """Claim calls for the campaign's free slots; the ids of the calls written."""
    return _claim(campaign_id)[0]


@transaction.atomic
def _claim(campaign_id: int) -> tuple[list[int], bool]:
    """(call ids, more to examine): the second is True when the claim placed no call because the
    whole slice it looked at must wait (and more contacts may be due)."""
    workspace_id = Campaign.objects.filter(pk=campaign_id).values_list("workspace_id", flat=True).first()
    if workspace_id is None:
        return [], False
    # The account row first, then the campaign (the order account status changes lock them in):
    # two campaigns of one account claim one after the other, so together they never exceed
    # the account's limit of calls in progress. FOR NO KEY UPDATE, not FOR UPDATE: a finishing
    # call holds the credit account and, at commit, checks its foreign keys to these rows (FOR
    # KEY SHARE); a FOR UPDATE here, waiting for that credit account in hold_place, deadlocks.
    workspace = Workspace.objects.select_for_update(no_key=True).get(pk=workspace_id)
    campaign = (
        Campaign.objects.select_for_update(of=("self",), no_key=True)
        .select_related("agent", "contact_list")
        .filter(pk=campaign_id)
        .first()
    )
    if campaign is None or campaign.status != Campaign.Status.RUNNING:
        return [], False
    campaign.workspace = workspace
    # Staff's kill switch (killswitch.py): no new claim in a stopped scope.
    stop = stop_covering(workspace_id=workspace.pk)
    if stop is not None:
        campaign_pause_for_stop(campaign=campaign, stop=stop)
        return [], False
    if not workspace.can_dial:
        campaign_pause(campaign=campaign, reason=state.account_pause_reason(workspace), kind=Campaign.PauseKind.ACCOUNT)
        return [], False
    if campaign.contact_list.consent_confirmed_at is None:
        campaign_pause(campaign=campaign, reason=state.consent_pause_reason(campaign), kind=Campaign.PauseKind.CONSENT)
        return [], False
    if not caller_number_usable(workspace, campaign.caller_number):
        campaign_pause(
            campaign=campaign,
            reason=state.caller_number_pause_reason(campaign),
            kind=Campaign.PauseKind.CALLER_NUMBER,
        )
        return [], False

    # The campaign's live calls and the account's, in one count.
    counts = Call.objects.filter(workspace=workspace, status__in=Call.LIVE_STATUSES).aggregate(
        campaign=Count("pk", filter=Q(campaign=campaign)), account=Count("pk")
    )
    live, account_live = counts["campaign"], counts["account"]
    # The budget is committed by reservation: what calls were charged plus what live calls hold
    # never exceeds it, because each new hold is capped at what is left.
    budget_left = campaign_budget_left(campaign)
    smallest_call = max(Decimal(settings.CALL_MIN_CREDITS), Decimal(1))
    if budget_left is not None and budget_left < smallest_call:
        if not live:
            campaign_stop(
                campaign=campaign,
                reason=f"Stopped: the campaign's budget of {campaign.budget_credits.normalize():f} credits is used.",
                result="Not called: the campaign's budget was used",
            )
        return [], False
    slots = min(campaign.max_concurrent_calls - live, workspace.call_limit - account_live)
    if slots <= 0:
        return [], False

    now = timezone.now()
    windows = WindowCheck(campaign, now)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    candidates = (
        CampaignContact.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("contact")
        .annotate(blocked=_on_dnc(workspace.pk, OuterRef("contact__phone_number")))
        .filter(due, campaign=campaign, status=CampaignContact.Status.PENDING)
        .order_by("id")
    )
    batch_size = min(max(4 * slots, 20), CLAIM_BATCH_MAX)
    max_amount = ledger.call_cost(seconds=campaign.agent.max_call_seconds)
    call_ids: list[int] = []
    blocked: list[int] = []
    waiting: list[CampaignContact] = []
    examined, after, out_of_credits, short_of_credits = 0, 0, False, False
    while len(call_ids) < slots and examined < CLAIM_SCAN_LIMIT and not out_of_credits:
        batch = list(candidates.filter(pk__gt=after)[: min(batch_size, CLAIM_SCAN_LIMIT - examined)])
        if not batch:
            break
        to_call: list[CampaignContact] = []
        for target in batch:
            after = target.pk
            examined += 1
            # Numbers put on either do-not-call list since launch are never dialled.
            if target.blocked:
                blocked.append(target.pk)
                continue
            wait = windows.wait_for(target.contact)
            if wait is not None:
                target.next_attempt_at, target.waiting_reason, target.updated_at = wait.until, wait.reason[:200], now
                waiting.append(target)
                continue
            to_call.append(target)
            if len(call_ids) + len(to_call) >= slots:
                break
        if not to_call:
            continue
        if budget_left is not None and budget_left < smallest_call:
            out_of_credits = True  # of the budget: the campaign stops once its live calls end
            break
        placed, held = _calls_reserve(campaign, to_call, max_amount=max_amount, budget_left=budget_left, now=now)
        call_ids += placed
        if budget_left is not None:
            budget_left -= held
        if len(placed) < len(to_call):
            out_of_credits = True
            # Not a pause while calls of this campaign are live: they return what they do not
            # use when they end, and each end wakes the campaign to claim again. What stopped
            # the holds was the budget when what is left of it cannot pay the shortest call.
            short_of_credits = budget_left is None or budget_left >= smallest_call
    if blocked:
        CampaignContact.objects.filter(pk__in=blocked).update(
            status=CampaignContact.Status.SKIPPED, result=DNC_RESULT, waiting_reason="", updated_at=now
        )
    if waiting:
        CampaignContact.objects.bulk_update(waiting, ["next_attempt_at", "waiting_reason", "updated_at"])
    if short_of_credits and not live and not call_ids:
        balance = ledger.balance_of(workspace=workspace)
        campaign_pause(
            campaign=campaign,
            reason=state.credits_pause_reason(campaign=campaign, available=balance.available, held=balance.held),
            kind=Campaign.PauseKind.CREDITS,
        )
    more_to_examine = not call_ids and examined >= CLAIM_SCAN_LIMIT and not out_of_credits
    return call_ids, more_to_examine


def _calls_reserve(
    campaign: Campaign, targets: list[CampaignContact], *, max_amount: Decimal, budget_left: Decimal | None, now
) -> tuple[list[int], Decimal]:
    """The call rows and their credit holds, before anything is dialled, for the first targets
    the account (and the campaign's budget) can cover; those targets are claimed. Returns the
    ids of the calls written, in the targets' order, and what their holds reserve in all.

    A handful of statements for the whole batch: the calls' ids drawn first, so that each hold
    names its call and each call row is written once, already carrying its hold and time limit.
    Runs inside the claim's transaction: the rows and holds exist together or not at all."""
    agent = campaign.agent
    ids = _call_ids_draw(len(targets))
    holds = ledger.holds_place(
        workspace=campaign.workspace,
        references=[f"call:{call_id}" for call_id in ids],
        max_amount=max_amount,
        min_amount=settings.CALL_MIN_CREDITS,
        lifetime=timedelta(seconds=agent.max_call_seconds + RING_ALLOWANCE_SECONDS),
        total_at_most=None if budget_left is None else Decimal(math.floor(budget_left)),
    )
    if not holds:
        return [], Decimal(0)
    claimed = targets[: len(holds)]
    Call.objects.bulk_create(
        Call(
            pk=call_id,
            workspace=campaign.workspace,
            campaign=campaign,
            target=target,
            contact=target.contact,
            agent=agent,
            to_number=target.contact.phone_number,
            from_number=campaign.caller_number,
            provider=settings.TELEPHONY_PROVIDER,
            hold_reference=hold.reference,
            # The carrier ends the call when the reserved credits are used up.
            time_limit_seconds=ledger.call_time_limit(hold=hold),
        )
        for call_id, target, hold in zip(ids, claimed, holds, strict=False)
    )
    CampaignContact.objects.filter(pk__in=[target.pk for target in claimed]).update(
        status=CampaignContact.Status.CLAIMED,
        attempts=F("attempts") + 1,
        claim_expires_at=now + CLAIM_LEASE,
        waiting_reason="",
        updated_at=now,
    )
    return ids[: len(holds)], sum((hold.amount for hold in holds), Decimal(0))


# Ids for a batch of calls, drawn from the table's own sequence (so rows written later with
# them never collide with rows written elsewhere); ids a refused hold leaves unused are a gap.
CALL_IDS_DRAW = f"SELECT nextval(pg_get_serial_sequence('{Call._meta.db_table}', 'id')) FROM generate_series(1, %s)"


def _call_ids_draw(count: int) -> list[int]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(CALL_IDS_DRAW, [count])
            return [row[0] for row in cursor.fetchall()]
        # SQLite (`make run` without DATABASE_URL): the table's AUTOINCREMENT counter, moved on by
        # a write, so under SQLite's one writer lock (a first call ever has no counter row yet).
        table = Call._meta.db_table
        cursor.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT %s, 0 "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = %s)",
            [table, table],
        )
        cursor.execute("UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s RETURNING seq", [count, table])
        last = cursor.fetchone()[0]
    return list(range(last - count + 1, last + 1))


def _complete_if_done(campaign_id: int) -> bool:
    """A running campaign with nobody left to call and no call in progress is complete."""
    busy_targets = CampaignContact.objects.filter(
        campaign=OuterRef("pk"), status__in=[CampaignContact.Status.PENDING, CampaignContact.Status.CLAIMED]
    )
    live_calls = Call.objects.filter(campaign=OuterRef("pk"), status__in=Call.LIVE_STATUSES)
    # One transaction for the change and its event: `campaign.completed` is heard only if it happened.
    with transaction.atomic():
        completed = (
            Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.RUNNING)
            .filter(~Exists(busy_targets), ~Exists(live_calls))
            .update(status=Campaign.Status.COMPLETED, finished_at=timezone.now(), status_reason="")
        )
        if completed:
            workspace_id = Campaign.objects.values_list("workspace_id", flat=True).get(pk=campaign_id)
            events.publish(type=events.CAMPAIGN_COMPLETED, workspace_id=workspace_id, campaign_id=campaign_id)
    return bool(completed)


# A wait for a dial slot shorter than this is slept through; a longer one re-queues the job.
SLOT_SLEEP_LIMIT_SECONDS = 0.5


def call_place(call_id: int, *, slot_reserved: bool = False, provider: str | None = None) -> None:
    """Dial a queued call. Marks it dialling first, so a re-run never dials it again. Waits
    for a slot under the provider's calls-per-second limit first (`provider`, when the claim
    passed it, saves reading the call for it)."""
    if not slot_reserved:
        if provider is None:
            provider = (
                Call.objects.filter(pk=call_id, status=Call.Status.QUEUED).values_list("provider", flat=True).first()
            )
            if provider is None:
                return
        wait = dial_slot_reserve(provider)
        if wait > SLOT_SLEEP_LIMIT_SECONDS:
            django_rq.get_queue("dialing").enqueue_in(timedelta(seconds=wait), call_place, call_id, slot_reserved=True)
            return
        if wait > 0:
            time.sleep(wait)
    # A callee's calling window, read before the lock (its hours do not change in a moment, and
    # its rows were never locked); then usually one statement, its own transaction: the call
    # locked, its checks' facts read and the call marked dialling, all passing. When one fails,
    # the call is read again under a lock kept while Python decides.
    window = _window_wait(call_id)
    call = _call_to_dial(call_id, may_mark=window is None)
    if call is None or call.status != Call.Status.QUEUED:
        return
    if call.marked:
        if _refused(call, window=window):
            return
    else:
        with transaction.atomic():
            call = _call_to_dial(call_id, may_mark=False)
            if call is None or call.status != Call.Status.QUEUED or _refused(call, window=window):
                return
            Call.objects.filter(pk=call.pk).update(status=Call.Status.DIALING, dialing_started_at=timezone.now())
    row = call.row
    request = OutboundCall(
        call_id=call.pk,
        to=call.to_number,
        from_=call.from_number,
        time_limit_seconds=call.time_limit_seconds,
        answer_url=webhook_url("telephony_answer", call=row),
        status_url=webhook_url("telephony_status", call=row),
        record=bool(call.record),
        recording_url=webhook_url("telephony_recording", call=row),
    )
    try:
        provider_call_id = get_provider(call.provider).place_call(request)
    except ProviderError as exc:
        logger.warning("placing call %s failed: %s", call.pk, exc.message)
        call_finish(
            call_id=call.pk,
            status=Call.Status.FAILED,
            reason=exc.message,
            retryable=not exc.permanent,
            permanent=exc.permanent,
        )
        if call.campaign_id:
            _provider_failed(call.campaign_id, exc.message)
        return
    if connection.in_atomic_block or connection.vendor != "postgresql":  # durable as the caller's transaction is
        Call.objects.filter(pk=call.pk, provider_call_id="").update(provider_call_id=provider_call_id)
    else:
        with connection.cursor() as cursor:
            cursor.execute(CARRIER_ID_RECORD, {"call": call.pk, "carrier_id": provider_call_id})
    if call.campaign_id and call.provider_failures_in_row:
        Campaign.objects.filter(pk=call.campaign_id, provider_failures_in_row__gt=0).update(provider_failures_in_row=0)


# The carrier's id for a call just dialled, committed without waiting for the WAL flush
# (synchronous_commit off for this one transaction: a dial's second flush was a third of its
# time). Lost in a database crash, it leaves a call dialling without it, which the carrier's
# first event fills in (call_apply_event) or the sweep settles: the state a worker killed just
# after the dial leaves anyway. Every write that decides whether to dial is flushed as usual.
CARRIER_ID_RECORD = f"""
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE {Call._meta.db_table} SET provider_call_id = %(carrier_id)s
FROM relaxed WHERE id = %(call)s AND provider_call_id = ''
"""


@dataclass(frozen=True)
class Refusal:
    """Why a queued call is not dialled after all. The call never went out, so its attempt does
    not count: with `retry_at` the contact goes back in the queue then; without, the contact is
    not called in this campaign (do-not-call, campaign stopped)."""

    reason: str
    retry_at: datetime | None = None
    waiting_reason: str = ""


@dataclass(frozen=True)
class CallToDial:
    """A queued call, locked, with what its last-moment checks need: read in one statement."""

    pk: int
    status: str
    provider: str
    to_number: str
    from_number: str
    time_limit_seconds: int
    hold_reference: str
    workspace_id: int
    campaign_id: int | None
    contact_id: int | None
    record: bool
    campaign_status: str | None
    provider_failures_in_row: int
    workspace_open: bool  # not closing
    workspace_status: str
    on_dnc: bool
    caller_number_ours: bool  # an active number of the account's own, or a shared one
    hold_active: bool
    dialing_stop: str | None  # the reason of an active kill switch covering the call
    marked: bool  # marked dialling by the statement that read it

    @property
    def workspace_can_dial(self) -> bool:
        return self.workspace_open and self.workspace_status == Workspace.Status.ACTIVE

    @property
    def row(self) -> Call:
        """The call as webhook addresses name it."""
        return Call(pk=self.pk, provider=self.provider)


# The call row locked (only it: FOR UPDATE OF), joined to what the last-moment checks read, each
# rule that is a lookup answered by an EXISTS. When every check passes in SQL too (and the caller
# allows it: the calling window, Python's, is open), the same statement marks the call dialling;
# `_reason_not_to_dial` still judges, and a call it refuses is canceled whatever SQL did.
CALL_TO_DIAL = f"""
WITH c AS (
    SELECT c.id, c.status, c.provider, c.to_number, c.from_number, c.time_limit_seconds, c.hold_reference,
        c.owner_id, c.campaign_id, c.contact_id, COALESCE(a.record_calls, false) AS record,
        cp.status AS campaign_status, COALESCE(cp.provider_failures_in_row, 0) AS provider_failures_in_row,
        (w.closing_requested_at IS NULL) AS workspace_open, w.status AS workspace_status,
        EXISTS (
            SELECT FROM {DoNotCall._meta.db_table} d
            WHERE (d.owner_id = c.owner_id OR d.owner_id IS NULL) AND d.phone_number = c.to_number
        ) AS on_dnc,
        EXISTS (
            SELECT FROM {PhoneNumber._meta.db_table} n
            WHERE n.number = c.from_number AND n.status = %(number_active)s
            AND (n.owner_id = c.owner_id OR n.owner_id IS NULL)
        ) AS caller_number_ours,
        EXISTS (
            SELECT FROM {CreditHold._meta.db_table} h WHERE h.reference = c.hold_reference AND h.status = %(held)s
        ) AS hold_active,
        (
            SELECT s.reason FROM {DialingStop._meta.db_table} s
            WHERE s.lifted_at IS NULL AND (
                s.scope = %(stop_platform)s
                OR (s.scope = %(stop_carrier)s AND s.carrier = c.provider)
                OR (s.scope = %(stop_workspace)s AND s.owner_id = c.owner_id)
            )
            ORDER BY s.id LIMIT 1
        ) AS dialing_stop
    FROM {Call._meta.db_table} c
    JOIN {Workspace._meta.db_table} w ON w.id = c.owner_id
    LEFT JOIN {Campaign._meta.db_table} cp ON cp.id = c.campaign_id
    LEFT JOIN {Agent._meta.db_table} a ON a.id = c.agent_id
    WHERE c.id = %(call)s
    FOR UPDATE OF c
), marked AS (
    UPDATE {Call._meta.db_table} SET status = %(dialing)s, dialing_started_at = %(now)s
    FROM c
    WHERE {Call._meta.db_table}.id = c.id AND c.status = %(queued)s AND %(may_mark)s
        AND c.campaign_status IS DISTINCT FROM %(stopped)s AND c.workspace_open AND c.workspace_status = %(can_dial)s
        AND NOT c.on_dnc AND c.caller_number_ours AND (c.hold_reference = '' OR c.hold_active)
        AND c.dialing_stop IS NULL
    RETURNING {Call._meta.db_table}.id
)
SELECT c.*, EXISTS (SELECT FROM marked) FROM c
"""


# The same facts for SQLite: CALL_TO_DIAL's first part, without the row lock SQLite lacks.
CALL_FACTS_SQLITE = (
    CALL_TO_DIAL.split("WITH c AS (", 1)[1].split("    FOR UPDATE OF c", 1)[0].replace("SELECT FROM", "SELECT 1 FROM")
)


def _call_to_dial(call_id: int, *, may_mark: bool) -> CallToDial | None:
    """The call, locked for the rest of the transaction, with its checks' facts, and marked
    dialling when `may_mark` and they all pass in SQL; None if gone."""
    params = {
        "call": call_id,
        "number_active": PhoneNumber.Status.ACTIVE,
        "held": CreditHold.Status.ACTIVE,
        "dialing": Call.Status.DIALING,
        "queued": Call.Status.QUEUED,
        "stopped": Campaign.Status.STOPPED,
        "can_dial": Workspace.Status.ACTIVE,
        "now": timezone.now(),
        "may_mark": may_mark,
        "stop_platform": DialingStop.Scope.PLATFORM,
        "stop_carrier": DialingStop.Scope.CARRIER,
        "stop_workspace": DialingStop.Scope.WORKSPACE,
    }
    if connection.vendor != "postgresql":
        return _call_to_dial_sqlite(params)
    with connection.cursor() as cursor:
        cursor.execute(CALL_TO_DIAL, params)
        row = cursor.fetchone()
    return None if row is None else CallToDial(*row)


def _call_to_dial_sqlite(params: dict) -> CallToDial | None:
    """`_call_to_dial` on SQLite (`make run` without DATABASE_URL), which has no row locks nor
    writes inside a WITH: the facts read with the same SELECT, then the call marked by a
    conditional UPDATE, which only one of two racing dials can win."""
    with connection.cursor() as cursor:
        cursor.execute(CALL_FACTS_SQLITE, params)
        row = cursor.fetchone()
    if row is None:
        return None
    call = CallToDial(*row, marked=False)
    passes = (
        params["may_mark"]
        and call.status == Call.Status.QUEUED
        and call.campaign_status != Campaign.Status.STOPPED
        and call.workspace_open
        and call.workspace_status == Workspace.Status.ACTIVE
        and not call.on_dnc
        and call.caller_number_ours
        and (call.hold_reference == "" or call.hold_active)
        and call.dialing_stop is None
    )
    if not passes:
        return call
    marked = Call.objects.filter(pk=call.pk, status=Call.Status.QUEUED).update(
        status=Call.Status.DIALING, dialing_started_at=params["now"]
    )
    return replace(call, marked=bool(marked))


def _window_wait(call_id: int) -> Wait | None:
    """How long the call's callee must wait for the campaign's calling window; None when it is
    open now, or windows are not enforced."""
    if not settings.CALLING_WINDOWS_ENFORCED:
        return None
    call = Call.objects.select_related("campaign", "contact").filter(pk=call_id).first()
    if call is None:
        return None
    if call.campaign is None:
        # A call placed on its own (single.py): its callee's legal window, in the zone it was placed for.
        callee = SimpleNamespace(phone_number=call.to_number, time_zone=call.engine_state.get("time_zone", ""))
        return WindowCheck(AnyHours(), timezone.now()).wait_for(callee)
    if call.contact is None:
        return None
    return WindowCheck(call.campaign, timezone.now()).wait_for(call.contact)


def _refused(call: CallToDial, *, window: Wait | None) -> bool:
    """Checked again at the last moment: the world may have changed since the claim. (A pause
    only stops new claims; calls already reserved still go out, within seconds.) A refused call
    is canceled, never dialled."""
    refusal = _reason_not_to_dial(call, window=window)
    if refusal is None:
        return False
    call_finish(
        call_id=call.pk,
        status=Call.Status.CANCELED,
        reason=refusal.reason,
        requeue_at=refusal.retry_at,
        waiting_reason=refusal.waiting_reason,
    )
    return True


def _reason_not_to_dial(call: CallToDial, *, window: Wait | None) -> Refusal | None:
    now = timezone.now()
    if call.campaign_status == Campaign.Status.STOPPED:
        return Refusal("Campaign stopped")
    if call.dialing_stop is not None:
        # Claimed before staff stopped dialling: back in the queue, its attempt not counted; the
        # campaign is paused by its next claim, and calls again once the stop is lifted.
        return Refusal(f"Dialling stopped by Clozit: {call.dialing_stop}", retry_at=now)
    if not call.workspace_can_dial:
        return Refusal("The account cannot place calls", retry_at=now)
    if call.on_dnc:
        return Refusal("On the do-not-call list")
    # The usual case is answered above; the rest of the rule (the default caller id) in full.
    if not call.caller_number_ours and not caller_number_usable(call.workspace_id, call.from_number):
        return Refusal("The caller number is no longer available", retry_at=now)
    if call.hold_reference and not call.hold_active:
        return Refusal("Its credit reservation had expired", retry_at=now)
    if window is not None:
        return Refusal(window.reason, retry_at=window.until, waiting_reason=window.reason)
    return None


def _provider_failed(campaign_id: int, reason: str) -> None:
    """Count a provider failure; enough in a row pause the campaign with the provider's reason."""
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign_id).update(provider_failures_in_row=F("provider_failures_in_row") + 1)
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if (
            campaign.status == Campaign.Status.RUNNING
            and campaign.provider_failures_in_row >= PROVIDER_FAILURES_BEFORE_PAUSE
        ):
            campaign_pause(
                campaign=campaign,
                reason=f"Paused: the phone provider failed {campaign.provider_failures_in_row} calls in a row "
                f"({reason[:150]}). Check the provider settings, then resume.",
            )


def sweep() -> dict:
    """Scheduled every 30 s: resend lost dial jobs, close calls whose end never arrived,
    release orphaned credit holds, resume campaigns paused for credits that have arrived since,
    and nudge every running campaign."""
    now = timezone.now()
    report = {
        "resent": 0,
        "abandoned": 0,
        "stale": 0,
        "holds_released": 0,
        "resumed": 0,
        "campaigns": 0,
        "errors": 0,
    }

    def each(items, action, counter):
        # One bad row must not stop the repairs of every other call and campaign.
        for item in items:
            try:
                if action(item) is not False:
                    report[counter] += 1
            except Exception:
                report["errors"] += 1
                logger.exception("sweep: %s failed for %s", counter, item)

    each(
        Call.objects.filter(status=Call.Status.QUEUED, created_at__lt=now - QUEUED_RESEND_AFTER).values_list(
            "pk", flat=True
        ),
        lambda call_id: enqueue("dialing", call_place, call_id),
        "resent",
    )
    # It may or may not have been dialled: never redial blindly, give up without charge.
    each(
        Call.objects.filter(
            status=Call.Status.DIALING, provider_call_id="", dialing_started_at__lt=now - DIALING_GIVE_UP_AFTER
        ).values_list("pk", flat=True),
        lambda call_id: call_finish(
            call_id=call_id, status=Call.Status.FAILED, reason="The carrier never confirmed the call"
        ),
        "abandoned",
    )
    each(
        calls_stale(now=now),
        lambda call: call_finish(call_id=call.pk, status=Call.Status.FAILED, reason="No final status from the carrier"),
        "stale",
    )
    try:
        report["holds_released"] = ledger.holds_release_expired(now=now)
    except Exception:
        report["errors"] += 1
        logger.exception("sweep: releasing expired holds failed")
    # Credits arrive by many roads (a purchase, a plan's period, a staff adjustment, calls that
    # ended): whichever it was, the campaigns it unblocks resume here, and are nudged just below.
    each(
        Campaign.objects.filter(status=Campaign.Status.PAUSED, pause_kind=Campaign.PauseKind.CREDITS).values_list(
            "pk", flat=True
        ),
        campaign_resume_for_credits,
        "resumed",
    )
    each(
        Campaign.objects.filter(status=Campaign.Status.RUNNING).values_list("pk", flat=True),
        campaign_advance,
        "campaigns",
    )
    return report
