"""Scheduling price changes with notice, and canceling them before they start.

A change that raises a price (a higher pack or plan price, more credits per call second, per AI
query or per number month) starts no sooner than PRICE_RAISE_NOTICE_DAYS (30) after it is
scheduled; a decrease may start at once. Every active account is told the moment it is scheduled,
by email and in the app (notices, kind PRICE_CHANGE), and again if it is canceled. What is in
force when is billing.prices.

Shorter credit life is the other promise with 30 days' notice; it is billing.expiry
(`plan_expiry_announce`), which refuses a start sooner than that.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from notices import kinds
from notices.services import notice_broadcast

from . import prices
from .models import CreditPackage, Plan, PriceChange

Item = PriceChange.Item
# A start typed as "now" is a few moments old when it reaches us: still a start now.
PAST_TOLERANCE = timedelta(minutes=5)
CENT = Decimal("0.01")


class PriceChangeError(Exception):
    """A change the rules refuse; the message says why, for staff."""


def _value_before(*, item: str, package, plan, moment: datetime) -> Decimal:
    """The price of `item` just before `moment`: what a change starting then changes from."""
    just_before = moment - timedelta(microseconds=1)
    if item == Item.PACKAGE_PRICE:
        return prices.package_price(package, just_before).amount
    if item == Item.PLAN_PRICE:
        return prices.plan_price(plan, just_before).amount
    if item == Item.CALL_SECOND:
        return prices.call_second_rate(just_before)
    if item == Item.AI_QUERY:
        return prices.ai_query_cost(just_before)
    return prices.number_monthly_fee(just_before)


def _paddle_price_in_use(price_id: str) -> bool:
    return (
        CreditPackage.objects.filter(paddle_price_id=price_id).exists()
        or Plan.objects.filter(paddle_price_id=price_id).exists()
        or PriceChange.objects.filter(new_paddle_price_id=price_id).exists()
    )


def _check(*, item, new_value: Decimal, effective_at: datetime, package, plan, new_paddle_price_id: str, now):
    if item not in Item.values:
        raise PriceChangeError("Choose what the change is about.")
    if (item == Item.PACKAGE_PRICE) != (package is not None):
        raise PriceChangeError("A credit pack price change names its pack, and only that change does.")
    if (item == Item.PLAN_PRICE) != (plan is not None):
        raise PriceChangeError("A plan price change names its plan, and only that change does.")
    if item == Item.NUMBER_MONTHLY:
        if new_value < 0:
            raise PriceChangeError("A number's monthly fee cannot be below zero.")
    elif new_value <= 0:
        raise PriceChangeError("The new price must be above zero.")
    if item in (Item.PACKAGE_PRICE, Item.PLAN_PRICE):
        if new_value != new_value.quantize(CENT):
            raise PriceChangeError("A price has at most two decimals (cents).")
        if not new_paddle_price_id.startswith("pri_"):
            raise PriceChangeError(
                "Give the new price's Paddle id (pri_…): create the price in Paddle first, then schedule it here."
            )
        if _paddle_price_in_use(new_paddle_price_id):
            raise PriceChangeError(f"{new_paddle_price_id} is already the price of a pack, a plan or another change.")
    elif new_paddle_price_id:
        raise PriceChangeError("Only pack and plan prices are charged through a Paddle price.")
    if item in (Item.AI_QUERY, Item.NUMBER_MONTHLY) and new_value != new_value.quantize(CENT):
        raise PriceChangeError("Credits are charged in hundredths: at most two decimals.")
    if item == Item.CALL_SECOND and new_value != new_value.quantize(Decimal("0.0001")):
        # A call's cost is rounded up to whole credits, so a finer rate is fine up to the field's four.
        raise PriceChangeError("A rate per second has at most four decimals.")
    if effective_at < now - PAST_TOLERANCE:
        raise PriceChangeError("A change cannot start in the past.")


def price_change_schedule(
    *,
    item: str,
    new_value: Decimal,
    effective_at: datetime,
    by,
    package: CreditPackage | None = None,
    plan: Plan | None = None,
    new_paddle_price_id: str = "",
    summary: str = "",
) -> PriceChange:
    """Schedule `item`'s new price from `effective_at` and announce it to every active account.

    Raises PriceChangeError (nothing recorded, nobody told) when the change is not allowed: a raise
    sooner than PRICE_RAISE_NOTICE_DAYS away, a start in the past, the same price again, a second
    change of the same price at the same moment, a pack or plan change without a new Paddle price.
    """
    now = timezone.now()
    new_value = Decimal(new_value)
    new_paddle_price_id = (new_paddle_price_id or "").strip()
    summary = (summary or "").strip()
    _check(
        item=item,
        new_value=new_value,
        effective_at=effective_at,
        package=package,
        plan=plan,
        new_paddle_price_id=new_paddle_price_id,
        now=now,
    )
    effective_at = max(effective_at, now)
    with transaction.atomic():
        prices.cache_clear()  # this process reads what the database holds now, not up to 60 s ago
        old_value = _value_before(item=item, package=package, plan=plan, moment=effective_at)
        if new_value == old_value:
            raise PriceChangeError(f"The price is already {_amount_text(item, old_value, package, plan)} then.")
        notice_days = settings.PRICE_RAISE_NOTICE_DAYS
        if new_value > old_value and effective_at < now + timedelta(days=notice_days):
            earliest = (now + timedelta(days=notice_days)).astimezone(UTC)
            raise PriceChangeError(
                f"A higher price needs {notice_days} days' notice: it can start on {earliest:%d %B %Y, %H:%M} UTC"
                " at the earliest."
            )
        if PriceChange.objects.filter(
            item=item, package=package, plan=plan, effective_at=effective_at, canceled_at__isnull=True
        ).exists():
            raise PriceChangeError("Another change of this price starts at that same moment; cancel it first.")
        # A change slipped in before one already announced would change what that one does (a
        # decrease announced from 1.0 to 0.9 would become a rise from 0.5, on too little notice):
        # the announced one is canceled and scheduled again after it instead.
        if PriceChange.objects.filter(
            item=item, package=package, plan=plan, effective_at__gt=effective_at, canceled_at__isnull=True
        ).exists():
            raise PriceChangeError(
                "A later change of this price is already scheduled: cancel it, then schedule the changes in order."
            )
        change = PriceChange.objects.create(
            item=item,
            package=package,
            plan=plan,
            old_value=old_value,
            new_value=new_value,
            new_paddle_price_id=new_paddle_price_id,
            effective_at=effective_at,
            summary=summary,
            created_by=by,
        )
        notice_broadcast(
            kind=kinds.PRICE_CHANGE,
            key=f"price-change:{change.pk}",
            context=_notice_context(change, canceled=False),
            link=_link(change),
        )
        change.announced_at = timezone.now()
        change.save(update_fields=["announced_at"])
    return change


def price_change_cancel(*, change: PriceChange, by) -> PriceChange:
    """Cancel a change that has not started: the price stays as it is, and every account that
    was told of the change is told it is off. Canceling a canceled change changes nothing.
    Raises PriceChangeError once the change is in force (schedule another change instead)."""
    with transaction.atomic():
        change = PriceChange.objects.select_for_update(of=("self",)).select_related("package", "plan").get(pk=change.pk)
        if change.canceled_at is not None:
            return change
        if change.effective_at <= timezone.now():
            raise PriceChangeError("This change is in force already; schedule another change to undo it.")
        if PriceChange.objects.filter(
            item=change.item,
            package=change.package,
            plan=change.plan,
            effective_at__gt=change.effective_at,
            canceled_at__isnull=True,
        ).exists():
            # The later one was announced as a change from this one's price.
            raise PriceChangeError("A later change of this price is scheduled after this one: cancel that one first.")
        change.canceled_at = timezone.now()
        change.save(update_fields=["canceled_at"])
        if change.announced_at is not None:
            notice_broadcast(
                kind=kinds.PRICE_CHANGE,
                key=f"price-change:{change.pk}:canceled",
                context=_notice_context(change, canceled=True),
                link=_link(change),
            )
    return change


# --- Words for the notice ------------------------------------------------------------------
def _what(change: PriceChange) -> str:
    if change.item == Item.PACKAGE_PRICE:
        return f"The {change.package.name} credit pack ({Decimal(change.package.credits).normalize():f} credits)"
    if change.item == Item.PLAN_PRICE:
        return f"The {change.plan.name} plan"
    return {
        Item.CALL_SECOND: "Voice calls",
        Item.AI_QUERY: "Each AI assistant answer (summaries, insights, playground turns)",
        Item.NUMBER_MONTHLY: "A phone number of your own",
    }[change.item]


def _amount_text(item: str, value: Decimal, package=None, plan=None) -> str:
    number = f"{Decimal(value).normalize():f}"
    if item == Item.PACKAGE_PRICE:
        return f"{Decimal(value).quantize(CENT)} {package.currency}"
    if item == Item.PLAN_PRICE:
        return f"{Decimal(value).quantize(CENT)} {plan.currency} a month"
    unit = "credit" if Decimal(value) == 1 else "credits"
    return {
        Item.CALL_SECOND: f"{number} {unit} per connected second",
        Item.AI_QUERY: f"{number} {unit}",
        Item.NUMBER_MONTHLY: f"{number} {unit} a month",
    }[item]


def _notice_context(change: PriceChange, *, canceled: bool) -> dict:
    """Plain data for the notice templates (RQ pickles it)."""
    return {
        "what": _what(change),
        "old": _amount_text(change.item, change.old_value, change.package, change.plan),
        "new": _amount_text(change.item, change.new_value, change.package, change.plan),
        "when": f"{change.effective_at.astimezone(UTC):%d %B %Y, %H:%M} UTC",
        "summary": change.summary,
        "raise": change.new_value > change.old_value,
        "canceled": canceled,
        "number_fee": change.item == Item.NUMBER_MONTHLY,
        "plan": change.item == Item.PLAN_PRICE,
    }


def _link(change: PriceChange) -> str:
    return reverse("number_list") if change.item == Item.NUMBER_MONTHLY else reverse("credits_buy")
