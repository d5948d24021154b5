"""The prices and rates in force at a moment: pack and plan prices, credits per call second, per
AI query and per phone number month.

Each has a base (settings for the rates, the admin row for a pack or a plan) that a scheduled
`PriceChange` overrides from its `effective_at` on; of the changes in force, the one that took
effect last wins, and a canceled change never counts. Until a change takes effect the old price
applies everywhere: checkout, the buy page, holds, charges, the pre-flight estimate.

These are read on hot paths (every call's hold and settlement), so each process keeps the short
list of changes not canceled for PRICE_CHANGES_CACHE_SECONDS (60 s by default), and forgets it
when it saves or deletes a PriceChange itself. Boundaries stay exact: the list holds future changes
with their dates, so a change takes effect at its moment in every process. Only a change another
process schedules to start at once (a decrease) or cancels shortly before it starts is seen up
to that long later.

Which rate a call pays: the rate in force when its credits were held (the call was placed). The
hold's size, the carrier's time limit and the settlement all use that one rate
(billing.ledger.call_time_limit, billing.ledger.call_settle).

Imports no caller of the ledger (pyproject's `ledger-imports-no-caller`): the ledger imports this.
Scheduling and announcing changes is billing.price_changes.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from clozit.memo import Kept

from .models import PriceChange

Item = PriceChange.Item


@dataclass(frozen=True)
class Change:
    """A scheduled change as plain data (what the cache keeps and the pages show)."""

    pk: int
    item: str
    package_id: int | None
    plan_id: int | None
    old_value: Decimal
    new_value: Decimal
    new_paddle_price_id: str
    effective_at: datetime
    summary: str


@dataclass(frozen=True)
class Price:
    """What a pack or a plan costs at a moment, and the Paddle price that charges it."""

    amount: Decimal
    paddle_price_id: str
    currency: str


def _load_changes() -> tuple[Change, ...]:
    rows = PriceChange.objects.filter(canceled_at__isnull=True).order_by("effective_at", "pk")
    return tuple(
        Change(
            pk=row.pk,
            item=row.item,
            package_id=row.package_id,
            plan_id=row.plan_id,
            old_value=row.old_value,
            new_value=row.new_value,
            new_paddle_price_id=row.new_paddle_price_id,
            effective_at=row.effective_at,
            summary=row.summary,
        )
        for row in rows.iterator()
    )


_kept_changes = Kept(_load_changes, seconds=lambda: settings.PRICE_CHANGES_CACHE_SECONDS)


def cache_clear() -> None:
    """Forget the cached list: the next read loads it again."""
    _kept_changes.forget()


def _changes() -> tuple[Change, ...]:
    return _kept_changes.get()


def _forget(**_) -> None:
    # Now, so this process's next read in the same transaction sees the row, and again after the
    # commit, so a list read between the two (holding the uncommitted row) is not kept either.
    cache_clear()
    transaction.on_commit(cache_clear)


post_save.connect(_forget, sender=PriceChange, dispatch_uid="billing.prices.forget_on_save")
post_delete.connect(_forget, sender=PriceChange, dispatch_uid="billing.prices.forget_on_delete")


def _of(item: str, *, package_id: int | None = None, plan_id: int | None = None) -> list[Change]:
    return [c for c in _changes() if c.item == item and c.package_id == package_id and c.plan_id == plan_id]


def change_in_force(
    item: str, *, package_id: int | None = None, plan_id: int | None = None, at: datetime | None = None
) -> Change | None:
    """The change that sets the price of `item` at `at` (now by default), or None (the base)."""
    at = at or timezone.now()
    in_force = [c for c in _of(item, package_id=package_id, plan_id=plan_id) if c.effective_at <= at]
    return in_force[-1] if in_force else None  # sorted by effective_at, then pk


def upcoming_changes(
    item: str | None = None, *, package_id: int | None = None, plan_id: int | None = None, at: datetime | None = None
) -> list[Change]:
    """Changes not in force yet at `at` (now by default), soonest first: of `item` (and the pack or
    plan) when given, else all of them."""
    at = at or timezone.now()
    if item is None:
        return [c for c in _changes() if c.effective_at > at]
    return [c for c in _of(item, package_id=package_id, plan_id=plan_id) if c.effective_at > at]


def next_change(
    item: str, *, package_id: int | None = None, plan_id: int | None = None, at: datetime | None = None
) -> Change | None:
    """The next change of `item` not in force yet, or None."""
    upcoming = upcoming_changes(item, package_id=package_id, plan_id=plan_id, at=at)
    return upcoming[0] if upcoming else None


def has_taken_effect(item: str) -> bool:
    """Whether any change of `item` is in force now (False: the base has always applied)."""
    return change_in_force(item) is not None


def _rate(item: str, base, at: datetime | None) -> Decimal:
    change = change_in_force(item, at=at)
    return change.new_value if change is not None else Decimal(base)


def call_second_rate(at: datetime | None = None) -> Decimal:
    """Credits per connected second of a call placed at `at`."""
    return _rate(Item.CALL_SECOND, settings.CREDITS_PER_CALL_SECOND, at)


def ai_query_cost(at: datetime | None = None) -> Decimal:
    """Credits per AI assistant answer (summary, insights, playground turn)."""
    return _rate(Item.AI_QUERY, settings.AI_QUERY_CREDITS, at)


def number_monthly_fee(at: datetime | None = None) -> Decimal:
    """Credits per month of a phone number bought at `at`."""
    return _rate(Item.NUMBER_MONTHLY, settings.PHONE_NUMBER_MONTHLY_CREDITS, at)


def number_renewal_fee(*, fee: Decimal, period_start: datetime, previous_start: datetime) -> Decimal:
    """The fee of a number's period starting `period_start`: the fee it paid for the period that
    started `previous_start`, unless a fee change took effect after that and by `period_start`
    (then the new fee). A number keeps the fee it was bought at (staff may have set another)
    until the fee itself changes; one staff made free stays free."""
    if Decimal(fee) == 0:
        return Decimal(0)
    changed = [c for c in _of(Item.NUMBER_MONTHLY) if previous_start < c.effective_at <= period_start]
    return changed[-1].new_value if changed else Decimal(fee)


def package_price(package, at: datetime | None = None) -> Price:
    """What `package` costs at `at`, and the Paddle price id to charge it with."""
    change = change_in_force(Item.PACKAGE_PRICE, package_id=package.pk, at=at)
    if change is None:
        return Price(package.price, package.paddle_price_id, package.currency)
    return Price(change.new_value.quantize(Decimal("0.01")), change.new_paddle_price_id, package.currency)


def plan_price(plan, at: datetime | None = None) -> Price:
    """What `plan` costs a month at `at`, and the Paddle price id new subscriptions use."""
    change = change_in_force(Item.PLAN_PRICE, plan_id=plan.pk, at=at)
    if change is None:
        return Price(plan.monthly_price, plan.paddle_price_id, plan.currency)
    return Price(change.new_value.quantize(Decimal("0.01")), change.new_paddle_price_id, plan.currency)


def package_id_for_paddle_price(price_id: str) -> int | None:
    """The pack a Paddle price charges through a price change (scheduled, in force or canceled:
    whoever paid with it gets the pack), or None. Read from the database, not the cache: a
    webhook must know a change made a moment ago in another process."""
    if not price_id:
        return None
    return (
        PriceChange.objects.filter(item=Item.PACKAGE_PRICE, new_paddle_price_id=price_id)
        .order_by("-effective_at", "-pk")
        .values_list("package_id", flat=True)
        .first()
    )


def plan_id_for_paddle_price(price_id: str) -> int | None:
    """The plan a Paddle price bills through a price change (see package_id_for_paddle_price)."""
    if not price_id:
        return None
    return (
        PriceChange.objects.filter(item=Item.PLAN_PRICE, new_paddle_price_id=price_id)
        .order_by("-effective_at", "-pk")
        .values_list("plan_id", flat=True)
        .first()
    )


def raise_notice_days() -> int:
    """Days of notice before a price rises (PRICE_RAISE_NOTICE_DAYS), for pages that promise it."""
    return settings.PRICE_RAISE_NOTICE_DAYS
