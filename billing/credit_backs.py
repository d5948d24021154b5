"""Calls that failed through our fault are given back what they were charged, automatically.

Our fault is one of:
- technical failure: the AI model did not answer even after its retry (the engine's outcome
  `technical_failure`);
- our crash: the sweep found the call stuck and ended it (`campaigns.dialing.dialer.sweep`);
- dead air: a person answered and the agent said nothing within CREDIT_BACK_DEAD_AIR_SECONDS.

`call.completed` / `call.failed` (clozit.events, published in the transaction that settled the
call) enqueue `call_credit_back_job` after commit; the job reads the settled charge from the
ledger and gives it back once. Exactly once holds however often it runs, and whatever it races
with: the entry's reference `call:<id>:credit-back` is unique in the ledger (a dispute approved
by staff posts under the same reference, billing.disputes), and the call row is locked first, in
the order `call_finish` locks (call, then credit account). A job that runs before the call is
settled finds no charge and does nothing; the settlement's own event runs it again.
"""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from accounts import audit
from campaigns.models import Call, CallTurn
from clozit import events
from clozit.queueing import enqueue

from . import ledger
from .models import CallCreditBack, LedgerEntry

# campaigns.dialing.dialer.sweep's words for a live call it ends because the carrier went quiet
# (a crash of ours lost the call's end). test_credit_backs runs the sweep, so a change there shows.
SWEEP_ENDED_REASON = "No final status from the carrier"


def call_credit_reference(call_id: int) -> str:
    """The one ledger reference a call's credit back may have, automatic or by dispute."""
    return f"call:{call_id}:credit-back"


def call_charge(*, call: Call) -> Decimal:
    """What the ledger charged for the call: its settled usage entry (0 while its hold is still
    open, or when it cost nothing)."""
    if not call.hold_reference:
        return Decimal("0")
    entry = LedgerEntry.objects.filter(reference=f"{call.hold_reference}:usage").only("amount").first()
    return -entry.amount if entry is not None else Decimal("0")


def platform_fault(*, call: Call) -> str | None:
    """Which of our faults ended the call (a CallCreditBack.Reason), or None: the callee, the
    carrier or the conversation ended it as calls end."""
    if call.is_live:
        return None
    if call.outcome == Call.Outcome.TECHNICAL_FAILURE:
        return CallCreditBack.Reason.TECHNICAL_FAILURE
    if call.status == Call.Status.FAILED and call.failure_reason == SWEEP_ENDED_REASON:
        return CallCreditBack.Reason.CRASH
    if call.status == Call.Status.COMPLETED and call.answered_at is not None and call.answered_by != "machine":
        # A machine's greeting is waited out in silence on purpose (campaigns.calls.services).
        first_words = (
            CallTurn.objects.filter(call_id=call.pk, speaker=CallTurn.Speaker.AGENT)
            .order_by("sequence")
            .values_list("created_at", flat=True)
            .first()
        )
        limit = call.answered_at + timedelta(seconds=settings.CREDIT_BACK_DEAD_AIR_SECONDS)
        if first_words is None or first_words > limit:
            return CallCreditBack.Reason.DEAD_AIR
    return None


def call_credit_back_post(*, call: Call, reason: str, by=None) -> CallCreditBack | None:
    """Give back what `call` was charged, once, for `reason`. The caller holds the call's row lock
    in its transaction. Returns the credit back (the existing one when the call was credited back
    before), or None when the call was charged nothing."""
    existing = CallCreditBack.objects.filter(call_id=call.pk).first()
    if existing is not None:
        return existing
    charge = call_charge(call=call)
    if charge <= 0:
        return None
    label = CallCreditBack.Reason(reason).label
    entry = ledger.credit_post(
        workspace=call.workspace,
        amount=charge,
        kind=LedgerEntry.Kind.CALL_CREDIT_BACK,
        reference=call_credit_reference(call.pk),
        memo=f"Call {call.pk} credited back: {label}",
        by=by,
    )
    credit_back = CallCreditBack.objects.create(
        workspace_id=call.workspace_id, call=call, reason=reason, amount=entry.amount, entry=entry
    )
    audit.record(
        workspace=call.workspace_id,
        actor=by,
        action="credits.call_credit_back",
        summary=f"Call {call.pk} to {call.to_number} credited back {entry.amount} credits: {label}.",
    )
    return credit_back


@transaction.atomic
def call_credit_back(*, call_id: int) -> CallCreditBack | None:
    """Credit back the call if it ended through our fault (see the module); safe to run any
    number of times, before or after the call is settled."""
    call = Call.objects.select_for_update(of=("self",)).select_related("workspace").filter(pk=call_id).first()
    if call is None:
        return None
    reason = platform_fault(call=call)
    if reason is None:
        return None
    return call_credit_back_post(call=call, reason=reason)


def credit_backs_due(*, now=None, hours: int = 6) -> int:
    """For the cron scheduler: calls charged in the last `hours` that look like our fault and
    have no credit back yet, checked again (a job lost with Redis, a worker killed mid-check).
    Returns how many were credited back."""
    now = now or timezone.now()
    spoke_in_time = CallTurn.objects.filter(
        call_id=OuterRef("pk"),
        speaker=CallTurn.Speaker.AGENT,
        created_at__lte=F("call__answered_at") + timedelta(seconds=settings.CREDIT_BACK_DEAD_AIR_SECONDS),
    )
    suspects = (
        Call.objects.filter(ended_at__gte=now - timedelta(hours=hours), credits_charged__gt=0)
        .exclude(status__in=Call.LIVE_STATUSES)
        .filter(~Exists(CallCreditBack.objects.filter(call_id=OuterRef("pk"))))
        .filter(
            Q(outcome=Call.Outcome.TECHNICAL_FAILURE)
            | Q(status=Call.Status.COMPLETED, answered_at__isnull=False)
            & ~Q(answered_by="machine")
            & ~Exists(spoke_in_time)
        )
        .values_list("pk", flat=True)
    )
    return sum(call_credit_back(call_id=call_id) is not None for call_id in list(suspects[:1000]))


def call_credit_back_job(call_id: int) -> None:
    """RQ job (enqueued by `on_event`)."""
    call_credit_back(call_id=call_id)


def on_event(sender=None, *, event: events.Event, **kwargs) -> None:
    """clozit.events listener: a call that ended is checked after commit. Writes nothing here:
    the check reads the call as committed, and an event replayed only runs it again."""
    if event.type not in (events.CALL_COMPLETED, events.CALL_FAILED):
        return
    call_id = event.data["call_id"]
    # Most outbound calls are never answered and cannot be our fault: no job for them (a job
    # per call would double the queue's work). The job decides for the rest.
    unanswered = (
        Call.objects.filter(pk=call_id, answered_at__isnull=True)
        .exclude(outcome=Call.Outcome.TECHNICAL_FAILURE)
        .exclude(status=Call.Status.FAILED, failure_reason=SWEEP_ENDED_REASON)
    )
    if unanswered.exists():
        return
    transaction.on_commit(lambda: enqueue("default", call_credit_back_job, call_id))
