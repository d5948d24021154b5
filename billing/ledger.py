"""The only code that changes credit balances.

Every change locks the account's balance row, writes one append-only entry with a unique
reference, and updates the balance in the same transaction; the database refuses a
negative balance. Calling any function twice with the same reference changes nothing
the second time, so replayed webhooks and re-run jobs are harmless.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import CreditAccount, CreditHold, LedgerEntry

CREDITS_PER_CALL_SECOND = Decimal("1")
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


def _account_for_update(user) -> CreditAccount:
    CreditAccount.objects.get_or_create(user=user)
    return CreditAccount.objects.select_for_update().get(user=user)


def _post(*, account: CreditAccount, kind: str, amount: Decimal, reference: str, memo: str, by) -> LedgerEntry:
    """Append an entry and move the balance; the caller holds the account row lock."""
    account.balance += amount
    if account.balance < account.held:
        raise InsufficientCredits("Not enough credits for this change.")
    account.save(update_fields=["balance", "updated_at"])
    return LedgerEntry.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        balance_after=account.balance,
        reference=reference,
        memo=memo[:500],
        created_by=by,
    )


def balance_of(*, user) -> Balance:
    account = CreditAccount.objects.filter(user=user).first()
    if account is None:
        return Balance(Decimal("0"), Decimal("0"))
    return Balance(account.balance, account.held)


def call_cost(*, seconds: int) -> Decimal:
    """Calls cost one credit per connected second, every started second counted."""
    return (Decimal(max(seconds, 0)) * CREDITS_PER_CALL_SECOND).quantize(Decimal("1"), rounding=ROUND_CEILING)


@transaction.atomic
def credit_post(*, user, amount: Decimal, kind: str, reference: str, memo: str = "", by=None) -> LedgerEntry:
    """Add (positive) or take (negative) credits once per `reference`.

    Returns the existing entry when the reference has already been posted.
    """
    amount = Decimal(amount)
    if amount == 0:
        raise LedgerError("A ledger entry must change the balance.")
    if amount != amount.quantize(CENT):
        raise LedgerError("Credit amounts have at most two decimals.")
    account = _account_for_update(user)
    existing = LedgerEntry.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    return _post(account=account, kind=kind, amount=amount, reference=reference, memo=memo, by=by)


@transaction.atomic
def credit_clawback(*, user, wanted: Decimal, kind: str, reference: str, memo: str = "") -> Decimal:
    """Take back up to `wanted` credits, never more than are available (not spent, not held).

    Returns what was taken; once per `reference` (a repeat returns the first result).
    """
    account = _account_for_update(user)
    existing = LedgerEntry.objects.filter(reference=reference).first()
    if existing is not None:
        return -existing.amount
    taken = min(Decimal(wanted), max(account.available, Decimal("0"))).quantize(Decimal("0.01"))
    if taken <= 0:
        return Decimal("0")
    _post(account=account, kind=kind, amount=-taken, reference=reference, memo=memo, by=None)
    return taken


AI_QUERY_COST = Decimal("0.5")


def ai_query_charge(*, user, reference: str, memo: str = "") -> LedgerEntry:
    """Charge one AI assistant answer (a summary, insights), once per `reference`. Call it only
    after the answer was delivered: failed AI work is never charged."""
    return credit_post(user=user, amount=-AI_QUERY_COST, kind=LedgerEntry.Kind.AI_QUERY, reference=reference, memo=memo)


AI_QUERY_HOLD_LIFETIME = timedelta(minutes=15)


@transaction.atomic
def ai_query_reserve(*, user, reference: str) -> CreditHold:
    """Set one AI answer's price aside before asking the model, so an answer is never given
    that cannot be paid for. Settle it with `ai_query_settle` once the answer is delivered,
    or free it with `hold_release` when the model failed (failed AI work costs nothing)."""
    account = _account_for_update(user)
    existing = CreditHold.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    if account.available < AI_QUERY_COST:
        raise InsufficientCredits(f"An AI answer costs {AI_QUERY_COST} credit; add credits to ask.")
    account.held += AI_QUERY_COST
    account.save(update_fields=["held", "updated_at"])
    return CreditHold.objects.create(
        account=account, reference=reference, amount=AI_QUERY_COST, expires_at=timezone.now() + AI_QUERY_HOLD_LIFETIME
    )


def ai_query_settle(*, reference: str, memo: str = "") -> Decimal:
    """Charge a reserved AI answer that was delivered (once; a repeat changes nothing)."""
    return hold_settle(reference=reference, amount_used=AI_QUERY_COST, memo=memo, kind=LedgerEntry.Kind.AI_QUERY)


def number_rental_charge(*, user, reference: str, amount: Decimal, memo: str = "") -> LedgerEntry:
    """Charge one period of a phone number's rental (`amount` credits, positive), once per
    `reference` (one per number and period). Raises InsufficientCredits when the credits not
    held by calls in progress cannot pay it."""
    if Decimal(amount) <= 0:
        raise LedgerError("A number rental charge must be a positive number of credits.")
    return credit_post(
        user=user, amount=-Decimal(amount), kind=LedgerEntry.Kind.NUMBER_RENTAL, reference=reference, memo=memo
    )


def credit_adjust(*, user, amount: Decimal, memo: str, by) -> LedgerEntry:
    """A staff correction, recorded with who made it and why."""
    if not memo.strip():
        raise LedgerError("Say why the balance is being adjusted.")
    return credit_post(
        user=user,
        amount=amount,
        kind=LedgerEntry.Kind.STAFF_ADJUSTMENT,
        reference=f"staff:{uuid.uuid4()}",
        memo=memo,
        by=by,
    )


@transaction.atomic
def credit_forfeit(*, user, reason: str, by) -> Decimal:
    """Staff forfeit an account's available credits (balance less what calls in progress hold)
    when terminating it for a violation; recorded with who did it and why. Holds are left alone:
    their calls settle as usual. Returns what was forfeited (0, and no entry, when nothing was
    available)."""
    if not (reason or "").strip():
        raise LedgerError("Say why the credits are forfeited.")
    account = _account_for_update(user)
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


def starter_grant(*, user) -> LedgerEntry | None:
    amount = settings.STARTER_CREDITS
    CreditAccount.objects.get_or_create(user=user)
    if amount <= 0:
        return None
    return credit_post(
        user=user,
        amount=Decimal(amount),
        kind=LedgerEntry.Kind.STARTER_GRANT,
        reference=f"starter:{user.pk}",
        memo="Welcome credits",
    )


@transaction.atomic
def hold_place(*, user, reference: str, max_amount: Decimal, min_amount: Decimal, lifetime: timedelta) -> CreditHold:
    """Reserve up to `max_amount` (whole credits) of the available balance.

    Raises InsufficientCredits when less than `min_amount` is available. A second call
    with the same reference returns the first hold.
    """
    account = _account_for_update(user)
    existing = CreditHold.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    amount = min(Decimal(max_amount), Decimal(math.floor(account.available)))
    if amount < min_amount or amount <= 0:
        raise InsufficientCredits("Not enough credits to place a call.")
    account.held += amount
    account.save(update_fields=["held", "updated_at"])
    grace = timedelta(seconds=settings.CREDIT_HOLD_GRACE_SECONDS)
    return CreditHold.objects.create(
        account=account, reference=reference, amount=amount, expires_at=timezone.now() + lifetime + grace
    )


@transaction.atomic
def hold_settle(
    *, reference: str, amount_used: Decimal, memo: str = "", kind: str = LedgerEntry.Kind.CALL_USAGE
) -> Decimal:
    """Charge what was used (never more than was held) and free the rest. Returns the charge.

    Settling an already settled or released hold returns its charge and changes nothing.
    """
    hold = CreditHold.objects.select_related("account").get(reference=reference)
    account = CreditAccount.objects.select_for_update().get(pk=hold.account_id)
    hold = CreditHold.objects.select_for_update().get(pk=hold.pk)
    if hold.status != CreditHold.Status.ACTIVE:
        return hold.charged
    charge = min(Decimal(amount_used).quantize(CENT, rounding=ROUND_CEILING), hold.amount)
    account.held -= hold.amount
    account.save(update_fields=["held", "updated_at"])
    if charge > 0:
        _post(
            account=account,
            kind=kind,
            amount=-charge,
            reference=f"{reference}:usage",
            memo=memo,
            by=None,
        )
    hold.charged = charge
    hold.status = CreditHold.Status.SETTLED if charge > 0 else CreditHold.Status.RELEASED
    hold.closed_at = timezone.now()
    hold.save(update_fields=["charged", "status", "closed_at"])
    return charge


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
