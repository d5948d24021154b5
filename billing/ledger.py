"""The only code that changes credit balances.

Every change locks the account's balance row, writes one append-only entry with a unique
reference, and updates the balance in the same transaction; the database refuses a
negative balance. Calling any function twice with the same reference changes nothing
the second time, so replayed webhooks and re-run jobs are harmless.

The postings every call makes (a credit post, a hold, its settlement) are each one SQL statement:
the account row is locked inside the statement, the entry or hold is inserted only if its
reference is new (ON CONFLICT DO NOTHING, so a racing replay waits for the lock and then finds the
first one), and the balance moves by what was inserted. Called outside a transaction, that
statement is its own transaction, so the row lock lasts only until its commit; inside one, it runs
in a savepoint, so a refusal leaves the caller's transaction usable. The database's CHECKs stay
the last word: a posting they refuse is InsufficientCredits.
"""

import math
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clozit import events

from . import prices
from .models import CreditAccount, CreditHold, LedgerEntry

CENT = Decimal("0.01")  # the ledger's unit: amounts have at most two decimals


class LedgerError(Exception):
    """A change the ledger refuses; the message is safe to show to a user."""


class InsufficientCredits(LedgerError):
    pass


@dataclass(frozen=True)
class Balance:
    balance: Decimal
    held: Decimal

    @property
    def available(self) -> Decimal:
        return self.balance - self.held


def _account_for_update(workspace) -> CreditAccount:
    CreditAccount.objects.get_or_create(workspace=workspace)
    return CreditAccount.objects.select_for_update().get(workspace=workspace)


# Each process remembers the accounts' own low-balance thresholds for a minute: reading it would
# add a query to every debit (every call's settlement is one statement otherwise). A level changed
# in another process applies here within THRESHOLD_MEMORY_SECONDS; a missed crossing is only a
# warning, never money.
THRESHOLD_MEMORY_SECONDS = 60
_thresholds: dict[int, tuple[float, Decimal | None]] = {}
_NOT_GIVEN = object()


def low_balance_threshold_forget(*, workspace_id: int) -> None:
    """Drop this process's memory of the workspace's threshold (billing.low_balance sets it)."""
    _thresholds.pop(workspace_id, None)


def _own_threshold(workspace_id: int, own=_NOT_GIVEN) -> Decimal | None:
    now = time.monotonic()
    if own is _NOT_GIVEN:
        remembered = _thresholds.get(workspace_id)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        own = (
            CreditAccount.objects.filter(workspace_id=workspace_id)
            .values_list("low_balance_threshold", flat=True)
            .first()
        )
    if len(_thresholds) > 10_000:
        _thresholds.clear()
    _thresholds[workspace_id] = (now + THRESHOLD_MEMORY_SECONDS, own)
    return own


def _low_balance_publish(*, workspace_id: int, amount: Decimal, balance_after: Decimal, own=_NOT_GIVEN) -> None:
    """`credits.low` when this posting took the balance from the account's low-balance threshold
    (or above) to below it: once per crossing, whatever the debit (a call, an AI query, a number's
    rent, an expiry), never again until credits lift the balance back over it. Measured on the
    balance, not on what is available: holds of calls in progress come and go with every call and
    would make it flap. Listeners only write rows in this transaction (clozit.events), so a
    posting stays cheap. `own` is the account's own threshold when the caller has the row."""
    if amount >= 0:
        return
    # The account's own threshold (set on the credits page), else LOW_BALANCE_DEFAULT_CREDITS.
    threshold = _own_threshold(workspace_id, own)
    threshold = Decimal(settings.LOW_BALANCE_DEFAULT_CREDITS) if threshold is None else threshold
    if balance_after < threshold <= balance_after - amount:
        events.publish(
            type=events.CREDITS_LOW, workspace_id=workspace_id, balance=str(balance_after), threshold=str(threshold)
        )


def _post(*, account: CreditAccount, kind: str, amount: Decimal, reference: str, memo: str, by) -> LedgerEntry:
    """Append an entry and move the balance; the caller holds the account row lock."""
    account.balance += amount
    if account.balance < account.held:
        raise InsufficientCredits("Not enough credits for this change.")
    account.save(update_fields=["balance", "updated_at"])
    _low_balance_publish(
        workspace_id=account.workspace_id,
        amount=amount,
        balance_after=account.balance,
        own=account.low_balance_threshold,
    )
    return LedgerEntry.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        balance_after=account.balance,
        reference=reference,
        memo=memo[:500],
        created_by=by,
    )


CHECK_VIOLATION = "23514"  # PostgreSQL's SQLSTATE for a CHECK constraint that refused a row


@contextmanager
def _one_statement() -> Iterator:
    """A cursor for one posting statement. Inside the caller's transaction it runs in a savepoint,
    so a refusal undoes the statement alone; outside, the statement is its own transaction.
    A CHECK that refuses it (a balance below what is held) is InsufficientCredits."""
    try:
        if connection.in_atomic_block:
            with transaction.atomic(), connection.cursor() as cursor:
                yield cursor
        else:
            with connection.cursor() as cursor:
                yield cursor
    except IntegrityError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == CHECK_VIOLATION:
            raise InsufficientCredits("Not enough credits for this change.") from exc
        raise


def _in_one_statement() -> bool:
    """PostgreSQL posts in one statement each (the SQL below). SQLite, which `make run` uses
    without DATABASE_URL and which lets one writer in at a time, takes the same steps one by one
    under the account's lock (`_locked` functions): same results, fewer calls a second."""
    return connection.vendor == "postgresql"


@transaction.atomic
def _credit_post_locked(*, workspace, amount: Decimal, kind: str, reference: str, memo: str, by) -> LedgerEntry:
    account = _account_for_update(workspace)
    existing = LedgerEntry.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    return _post(account=account, kind=kind, amount=amount, reference=reference, memo=memo, by=by)


@transaction.atomic
def _holds_place_locked(
    *, workspace, references: list[str], max_amount: Decimal, min_amount: Decimal, expires_at, cap: Decimal | None
) -> list[CreditHold]:
    account = _account_for_update(workspace)
    room = account.available if cap is None else min(account.available, cap)
    room = Decimal(math.floor(room))
    existing = {hold.reference: hold for hold in CreditHold.objects.filter(reference__in=references)}
    holds = []
    for reference in references:
        if reference in existing:
            holds.append(existing[reference])
            continue
        amount = min(Decimal(max_amount), room)
        if amount < min_amount or amount <= 0:
            break
        room -= amount
        account.held += amount
        holds.append(
            CreditHold.objects.create(account=account, reference=reference, amount=amount, expires_at=expires_at)
        )
    account.save(update_fields=["held", "updated_at"])
    return holds


@transaction.atomic
def _hold_settle_locked(*, reference: str, used: Decimal, memo: str, kind: str, usage_reference: str) -> Decimal:
    account_id = CreditHold.objects.values_list("account_id", flat=True).get(reference=reference)
    account = CreditAccount.objects.select_for_update().get(pk=account_id)
    hold = CreditHold.objects.select_for_update().get(reference=reference)
    if hold.status != CreditHold.Status.ACTIVE:
        return hold.charged
    charge = min(used, hold.amount)
    account.held -= hold.amount
    account.save(update_fields=["held", "updated_at"])
    if charge > 0:
        _post(account=account, kind=kind, amount=-charge, reference=usage_reference, memo=memo, by=None)
    hold.charged = charge
    hold.status = CreditHold.Status.SETTLED if charge > 0 else CreditHold.Status.RELEASED
    hold.closed_at = timezone.now()
    hold.save(update_fields=["charged", "status", "closed_at"])
    return charge


def _columns(model) -> tuple[str, list[str]]:
    """A table's columns for RETURNING, and the attribute names `Model.from_db` takes them as."""
    fields = model._meta.concrete_fields
    return ", ".join(f.column for f in fields), [f.attname for f in fields]


ENTRY_COLUMNS, ENTRY_ATTNAMES = _columns(LedgerEntry)
HOLD_COLUMNS, HOLD_ATTNAMES = _columns(CreditHold)

# The account row locked (FOR NO KEY UPDATE: its key never changes, so inserts that reference it
# are not held up) and read at its newest version; the entry inserted unless its reference is
# taken; the balance moved by what was inserted. A balance below what is held fails the CHECK.
POST = f"""
WITH account AS (
    SELECT id, balance + %(amount)s AS after FROM billing_creditaccount
    WHERE user_id = %(workspace)s FOR NO KEY UPDATE
), entry AS (
    INSERT INTO billing_ledgerentry
        (account_id, kind, amount, balance_after, reference, memo, created_by_id, created_at)
    SELECT id, %(kind)s, %(amount)s, after, %(reference)s, %(memo)s, %(by)s::bigint, %(now)s FROM account
    ON CONFLICT (reference) DO NOTHING
    RETURNING {ENTRY_COLUMNS}
), moved AS (
    UPDATE billing_creditaccount SET balance = balance + entry.amount, updated_at = %(now)s
    FROM entry WHERE billing_creditaccount.id = entry.account_id
)
SELECT {ENTRY_COLUMNS} FROM entry
"""

# Holds for `references`, in order, each up to %(max)s whole credits of what is available (and of
# %(cap)s in all, when given): the first ones get the most, then one the remainder, and none once
# the remainder is below %(min)s. A reference already held is left alone and takes no share.
HOLDS_PLACE = f"""
WITH account AS (
    SELECT id, floor(LEAST(balance - held, COALESCE(%(cap)s::numeric, balance - held))) AS room
    FROM billing_creditaccount WHERE user_id = %(workspace)s FOR NO KEY UPDATE
), wanted AS (
    SELECT reference, row_number() OVER (ORDER BY ordinality) AS position
    FROM unnest(%(references)s::varchar[]) WITH ORDINALITY AS w(reference, ordinality)
    WHERE NOT EXISTS (SELECT FROM billing_credithold WHERE billing_credithold.reference = w.reference)
), placed AS (
    INSERT INTO billing_credithold (account_id, reference, amount, charged, status, created_at, expires_at)
    SELECT account.id, wanted.reference, amount, 0, 'active', %(now)s, %(expires)s
    FROM account CROSS JOIN wanted
    CROSS JOIN LATERAL (SELECT LEAST(%(max)s::numeric, account.room - (wanted.position - 1) * %(max)s) AS amount) sized
    WHERE amount >= %(min)s AND amount > 0
    ORDER BY wanted.position
    ON CONFLICT (reference) DO NOTHING
    RETURNING {HOLD_COLUMNS}
), moved AS (
    UPDATE billing_creditaccount SET held = held + total.amount, updated_at = %(now)s
    FROM (SELECT account_id, sum(amount) AS amount FROM placed GROUP BY account_id) total
    WHERE billing_creditaccount.id = total.account_id
)
SELECT {HOLD_COLUMNS} FROM placed
"""

# The account row first (the order every posting locks in), then the hold, closed only if still
# active (a settle that waited for the lock finds it closed and changes nothing); the balance pays
# the charge and stops holding the amount; a usage entry records a charge above zero.
HOLD_SETTLE = """
WITH account AS (
    SELECT billing_creditaccount.id FROM billing_creditaccount
    JOIN billing_credithold hold ON hold.account_id = billing_creditaccount.id
    WHERE hold.reference = %(reference)s
    FOR NO KEY UPDATE OF billing_creditaccount
), closed AS (
    UPDATE billing_credithold SET
        charged = LEAST(%(used)s::numeric, amount),
        status = CASE WHEN LEAST(%(used)s::numeric, amount) > 0 THEN 'settled' ELSE 'released' END,
        closed_at = %(now)s
    FROM account
    WHERE billing_credithold.account_id = account.id AND reference = %(reference)s AND status = 'active'
    RETURNING billing_credithold.account_id, amount, charged
), moved AS (
    UPDATE billing_creditaccount
    SET held = held - closed.amount, balance = balance - closed.charged, updated_at = %(now)s
    FROM closed WHERE billing_creditaccount.id = closed.account_id
    RETURNING billing_creditaccount.id, balance, user_id
), usage AS (
    INSERT INTO billing_ledgerentry
        (account_id, kind, amount, balance_after, reference, memo, created_by_id, created_at)
    SELECT moved.id, %(kind)s, -closed.charged, moved.balance, %(usage_reference)s, %(memo)s, NULL::bigint, %(now)s
    FROM moved CROSS JOIN closed WHERE closed.charged > 0
)
SELECT closed.charged, moved.balance, moved.user_id FROM closed JOIN moved ON moved.id = closed.account_id
"""


def balance_of(*, workspace) -> Balance:
    account = CreditAccount.objects.filter(workspace=workspace).first()
    if account is None:
        return Balance(Decimal("0"), Decimal("0"))
    return Balance(account.balance, account.held)


def call_cost(*, seconds: int, at: datetime | None = None) -> Decimal:
    """What `seconds` connected seconds of a call placed at `at` (now by default) cost: the rate in
    force then (billing.prices, 1 credit a second by default) per second, in whole credits
    rounded up."""
    rate = prices.call_second_rate(at)
    return (Decimal(max(seconds, 0)) * rate).quantize(Decimal("1"), rounding=ROUND_CEILING)


def call_time_limit(*, hold: CreditHold) -> int:
    """The connected seconds a call's hold pays for, at the rate in force when it was placed."""
    return int(hold.amount / prices.call_second_rate(hold.created_at))


def call_settle(*, reference: str, seconds: int, memo: str = "") -> Decimal:
    """Settle a call's hold for `seconds` connected seconds, at the rate in force when the hold
    was placed (the rate its time limit used); returns the charge. Once only, as hold_settle."""
    placed_at = None
    if prices.has_taken_effect(prices.Item.CALL_SECOND):
        # Only once the rate has ever changed can the placing time matter; until then no query.
        placed_at = CreditHold.objects.filter(reference=reference).values_list("created_at", flat=True).first()
    return hold_settle(reference=reference, amount_used=call_cost(seconds=seconds, at=placed_at), memo=memo)


def credit_post(*, workspace, amount: Decimal, kind: str, reference: str, memo: str = "", by=None) -> LedgerEntry:
    """Add (positive) or take (negative) credits once per `reference`.

    Returns the existing entry when the reference has already been posted. Raises
    InsufficientCredits when the balance would fall below what calls in progress hold.
    """
    amount = Decimal(amount)
    if amount == 0:
        raise LedgerError("A ledger entry must change the balance.")
    if amount != amount.quantize(CENT):
        raise LedgerError("Credit amounts have at most two decimals.")
    if not _in_one_statement():
        return _credit_post_locked(workspace=workspace, amount=amount, kind=kind, reference=reference, memo=memo, by=by)
    params = {
        "workspace": workspace.pk,
        "amount": amount,
        "kind": kind,
        "reference": reference,
        "memo": memo[:500],
        "by": by.pk if by is not None else None,
        "now": timezone.now(),
    }
    with _one_statement() as cursor:
        cursor.execute(POST, params)
        row = cursor.fetchone()
    if row is not None:
        entry = LedgerEntry.from_db("default", ENTRY_ATTNAMES, row)
        _low_balance_publish(workspace_id=workspace.pk, amount=entry.amount, balance_after=entry.balance_after)
        return entry
    # Nothing inserted: the reference was posted before (perhaps by a replay that held the lock
    # first), or the account has no balance row yet.
    existing = LedgerEntry.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    _, created = CreditAccount.objects.get_or_create(workspace=workspace)
    if not created:  # pragma: no cover - the row exists, so the statement inserted or found one
        raise LedgerError("The posting could not be recorded; try again.")
    return credit_post(workspace=workspace, amount=amount, kind=kind, reference=reference, memo=memo, by=by)


@transaction.atomic
def credit_clawback(*, workspace, wanted: Decimal, kind: str, reference: str, memo: str = "") -> Decimal:
    """Take back up to `wanted` credits, never more than are available (not spent, not held).

    Returns what was taken; once per `reference` (a repeat returns the first result).
    """
    account = _account_for_update(workspace)
    existing = LedgerEntry.objects.filter(reference=reference).first()
    if existing is not None:
        return -existing.amount
    taken = min(Decimal(wanted), max(account.available, Decimal("0"))).quantize(Decimal("0.01"))
    if taken <= 0:
        return Decimal("0")
    _post(account=account, kind=kind, amount=-taken, reference=reference, memo=memo, by=None)
    return taken


def __getattr__(name: str) -> Decimal:
    # The rates were constants here once; code that still reads `ledger.CREDITS_PER_CALL_SECOND`
    # or `ledger.AI_QUERY_COST` gets the rate in force now (billing.prices) rather than a stale one.
    if name == "CREDITS_PER_CALL_SECOND":
        return prices.call_second_rate()
    if name == "AI_QUERY_COST":
        return prices.ai_query_cost()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def ai_query_charge(*, workspace, reference: str, memo: str = "") -> LedgerEntry:
    """Charge one AI assistant answer (a summary, insights) at the cost in force, once per
    `reference`. Call it only after the answer was delivered: failed AI work is never charged."""
    return credit_post(
        workspace=workspace,
        amount=-prices.ai_query_cost(),
        kind=LedgerEntry.Kind.AI_QUERY,
        reference=reference,
        memo=memo,
    )


AI_QUERY_HOLD_LIFETIME = timedelta(minutes=15)


@transaction.atomic
def ai_query_reserve(*, workspace, reference: str) -> CreditHold:
    """Set one AI answer's price aside before asking the model, so an answer is never given
    that cannot be paid for. Settle it with `ai_query_settle` once the answer is delivered,
    or free it with `hold_release` when the model failed (failed AI work costs nothing)."""
    account = _account_for_update(workspace)
    existing = CreditHold.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    cost = prices.ai_query_cost()
    if account.available < cost:
        raise InsufficientCredits(f"An AI answer costs {cost.normalize():f} credit; add credits to ask.")
    account.held += cost
    account.save(update_fields=["held", "updated_at"])
    return CreditHold.objects.create(
        account=account, reference=reference, amount=cost, expires_at=timezone.now() + AI_QUERY_HOLD_LIFETIME
    )


def ai_query_settle(*, reference: str, memo: str = "") -> Decimal:
    """Charge a reserved AI answer that was delivered: what was set aside, the cost in force when
    it was asked (once; a repeat changes nothing). Raises CreditHold.DoesNotExist for an unknown
    reference."""
    reserved = CreditHold.objects.values_list("amount", flat=True).get(reference=reference)
    return hold_settle(reference=reference, amount_used=reserved, memo=memo, kind=LedgerEntry.Kind.AI_QUERY)


def number_rental_charge(*, workspace, reference: str, amount: Decimal, memo: str = "") -> LedgerEntry:
    """Charge one period of a phone number's rental (`amount` credits, positive), once per
    `reference` (one per number and period). Raises InsufficientCredits when the credits not
    held by calls in progress cannot pay it."""
    if Decimal(amount) <= 0:
        raise LedgerError("A number rental charge must be a positive number of credits.")
    return credit_post(
        workspace=workspace,
        amount=-Decimal(amount),
        kind=LedgerEntry.Kind.NUMBER_RENTAL,
        reference=reference,
        memo=memo,
    )


def credit_adjust(*, workspace, amount: Decimal, memo: str, by) -> LedgerEntry:
    """A staff correction, recorded with who made it and why."""
    if not memo.strip():
        raise LedgerError("Say why the balance is being adjusted.")
    return credit_post(
        workspace=workspace,
        amount=amount,
        kind=LedgerEntry.Kind.STAFF_ADJUSTMENT,
        reference=f"staff:{uuid.uuid4()}",
        memo=memo,
        by=by,
    )


@transaction.atomic
def credit_forfeit(*, workspace, reason: str, by) -> Decimal:
    """Staff forfeit an account's available credits (balance less what calls in progress hold)
    when terminating it for a violation; recorded with who did it and why. Holds are left alone:
    their calls settle as usual. Returns what was forfeited (0, and no entry, when nothing was
    available)."""
    if not (reason or "").strip():
        raise LedgerError("Say why the credits are forfeited.")
    account = _account_for_update(workspace)
    available = account.available
    if available <= 0:
        return Decimal("0")
    _post(
        account=account,
        kind=LedgerEntry.Kind.FORFEIT,
        amount=-available,
        reference=f"forfeit:{uuid.uuid4()}",
        memo=reason.strip(),
        by=by,
    )
    return available


def starter_grant(*, workspace) -> LedgerEntry | None:
    amount = settings.STARTER_CREDITS
    CreditAccount.objects.get_or_create(workspace=workspace)
    if amount <= 0:
        return None
    return credit_post(
        workspace=workspace,
        amount=Decimal(amount),
        kind=LedgerEntry.Kind.STARTER_GRANT,
        reference=f"starter:{workspace.pk}",
        memo="Welcome credits",
    )


def hold_place(
    *, workspace, reference: str, max_amount: Decimal, min_amount: Decimal, lifetime: timedelta
) -> CreditHold:
    """Reserve up to `max_amount` (whole credits) of the available balance.

    Raises InsufficientCredits when less than `min_amount` is available. A second call
    with the same reference returns the first hold.
    """
    placed = holds_place(
        workspace=workspace, references=[reference], max_amount=max_amount, min_amount=min_amount, lifetime=lifetime
    )
    if not placed:
        raise InsufficientCredits("Not enough credits to place a call.")
    return placed[0]


def holds_place(
    *,
    workspace,
    references: list[str],
    max_amount: Decimal,
    min_amount: Decimal,
    lifetime: timedelta,
    total_at_most: Decimal | None = None,
) -> list[CreditHold]:
    """Reserve, in one statement, up to `max_amount` for each reference in order, from the
    available balance and, when given, from `total_at_most` in all: a batch of calls' holds.

    Returns the holds of the first references (the ones that could get `min_amount` or more);
    the rest got nothing, and nothing was changed for them. A reference already held returns its
    first hold and reserves nothing more.
    """
    if not references:
        return []
    now = timezone.now()
    expires_at = now + lifetime + timedelta(seconds=settings.CREDIT_HOLD_GRACE_SECONDS)
    if not _in_one_statement():
        return _holds_place_locked(
            workspace=workspace,
            references=list(references),
            max_amount=max_amount,
            min_amount=Decimal(min_amount),
            expires_at=expires_at,
            cap=None if total_at_most is None else Decimal(total_at_most),
        )
    params = {
        "workspace": workspace.pk,
        "references": list(references),
        "max": Decimal(max_amount),
        "min": Decimal(min_amount),
        "cap": None if total_at_most is None else Decimal(total_at_most),
        "now": now,
        "expires": expires_at,
    }
    with _one_statement() as cursor:
        cursor.execute(HOLDS_PLACE, params)
        rows = cursor.fetchall()
    placed = {hold.reference: hold for hold in (CreditHold.from_db("default", HOLD_ATTNAMES, row) for row in rows)}
    if len(placed) < len(references):
        # Replays: references held before (or by a replay that held the lock first).
        missing = [reference for reference in references if reference not in placed]
        placed.update((hold.reference, hold) for hold in CreditHold.objects.filter(reference__in=missing))
    holds = []
    for reference in references:
        if reference not in placed:
            break
        holds.append(placed[reference])
    return holds


def hold_settle(
    *, reference: str, amount_used: Decimal, memo: str = "", kind: str = LedgerEntry.Kind.CALL_USAGE
) -> Decimal:
    """Charge what was used (never more than was held) and free the rest. Returns the charge.

    Settling an already settled or released hold returns its charge and changes nothing.
    Raises CreditHold.DoesNotExist for an unknown reference.
    """
    used = Decimal(amount_used).quantize(CENT, rounding=ROUND_CEILING)
    if not _in_one_statement():
        return _hold_settle_locked(
            reference=reference, used=used, memo=memo[:500], kind=kind, usage_reference=f"{reference}:usage"
        )
    params = {
        "reference": reference,
        "used": used,
        "now": timezone.now(),
        "kind": kind,
        "usage_reference": f"{reference}:usage",
        "memo": memo[:500],
    }
    with _one_statement() as cursor:
        cursor.execute(HOLD_SETTLE, params)
        row = cursor.fetchone()
    if row is not None:
        charged, balance_after, workspace_id = row
        _low_balance_publish(workspace_id=workspace_id, amount=-charged, balance_after=balance_after)
        return charged
    # Closed before (or by a settle that held the lock first): its charge, unchanged.
    return CreditHold.objects.values_list("charged", flat=True).get(reference=reference)


def hold_is_active(*, reference: str) -> bool:
    return CreditHold.objects.filter(reference=reference, status=CreditHold.Status.ACTIVE).exists()


def hold_release(*, reference: str) -> None:
    hold_settle(reference=reference, amount_used=Decimal("0"))


def holds_release_expired(*, now: datetime | None = None) -> int:
    """Free holds whose call never reported its end (a crash, a lost event)."""
    now = now or timezone.now()
    released = 0
    for reference in CreditHold.objects.filter(status=CreditHold.Status.ACTIVE, expires_at__lt=now).values_list(
        "reference", flat=True
    ):
        try:
            hold_release(reference=reference)
            released += 1
        except IntegrityError:  # pragma: no cover - concurrent settle won the race
            continue
    return released
