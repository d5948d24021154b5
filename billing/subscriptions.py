"""Monthly plans through Paddle: subscription state from webhooks, credits per paid period, cancel.

Paddle owns the subscription; we keep its latest state (newer events win, by occurred_at) and
grant the plan's included credits for every completed transaction of the subscription, once per
transaction. Each such payment is recorded as a `Purchase` of the plan, so Paddle's refunds and
chargebacks of it are applied like those of a credit pack (billing.purchases). Cancelling asks
Paddle to stop at the end of the period already paid for: access and credits continue until then,
and paid periods are not refunded.
"""

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from paddle_billing.Entities.Subscriptions import SubscriptionEffectiveFrom
from paddle_billing.Resources.Subscriptions.Operations import CancelSubscription

from . import ledger, prices
from .models import LedgerEntry, Plan, Purchase, Subscription
from .paddle.client import paddle_client, paddle_configured
from .paddle.events import EventNotReady, account_from_custom_data, minor_to_amount

logger = logging.getLogger(__name__)

TEST_SUBSCRIPTION_PREFIX = "sub_test_"


class SubscriptionError(Exception):
    """A request the subscription rules refuse; the message is written for the user."""


def _plan_line(data: dict) -> tuple[Plan, int] | None:
    """The plan a subscription or its transaction bills, and its quantity (validated upstream)."""
    for item in data.get("items") or []:
        price_id = (item.get("price") or {}).get("id", "")
        plan = Plan.objects.filter(paddle_price_id=price_id).first()
        if plan is None and (changed := prices.plan_id_for_paddle_price(price_id)) is not None:
            plan = Plan.objects.filter(pk=changed).first()  # its new price (a price change)
        if plan is not None:
            return plan, item.get("quantity") or 1
    return None


def _plan_for(data: dict) -> Plan | None:
    line = _plan_line(data)
    return line[0] if line else None


def subscription_event(data: dict, *, occurred_at=None) -> None:
    """subscription.created / .updated / .canceled / ...: record the newest state."""
    sub_id = data.get("id", "")
    existing = Subscription.objects.select_for_update().filter(paddle_subscription_id=sub_id).first()
    if existing is not None and existing.state_as_of and occurred_at and occurred_at < existing.state_as_of:
        return  # older than what we know: never undo newer state
    status = data.get("status", "")
    fields = {"status": status, "state_as_of": occurred_at}
    # A cancelled (or paused) subscription comes with no current period: the last one known stays,
    # so staff and the customer still see which period was paid for.
    period = data.get("current_billing_period")
    if period:
        fields["current_period_start"] = parse_datetime(period.get("starts_at") or "")
        fields["current_period_end"] = parse_datetime(period.get("ends_at") or "")
    if status == "canceled":
        # When it ended; the scheduled end (cancel_at) it may have had stays as it was.
        fields["canceled_at"] = parse_datetime(data.get("canceled_at") or "") or occurred_at
    else:
        change = data.get("scheduled_change") or {}
        fields["cancel_at"] = (
            parse_datetime(change.get("effective_at") or "") if change.get("action") == "cancel" else None
        )
    if existing is not None:
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save()
        return
    workspace = account_from_custom_data(data.get("custom_data") or {})
    plan = _plan_for(data)
    if workspace is None or plan is None:
        logger.error("paddle subscription %s names no known account or plan", sub_id)
        return
    Subscription.objects.create(workspace=workspace, plan=plan, paddle_subscription_id=sub_id, **fields)


def subscription_period_paid(data: dict) -> bool:
    """A completed transaction of a subscription: record it as a payment of the plan and grant the
    plan's credits (per unit of quantity) once. Returns False when the transaction is not a
    subscription's.

    Raises EventNotReady when the account is not known yet (no account token in the custom data and
    no subscription.created seen): the event stays unapplied and Paddle's redelivery grants it.
    """
    line = _plan_line(data)
    if not data.get("subscription_id") or line is None:
        return False
    plan, quantity = line
    txn_id, sub_id = data["id"], data["subscription_id"]
    workspace = account_from_custom_data(data.get("custom_data") or {})
    if workspace is None:
        sub = Subscription.objects.filter(paddle_subscription_id=sub_id).first()
        workspace = sub.workspace if sub else None
    if workspace is None:
        raise EventNotReady(f"subscription payment {txn_id} before its account is known ({sub_id})")
    credits = plan.included_credits * quantity
    payment, _ = Purchase.objects.select_for_update().get_or_create(
        paddle_transaction_id=txn_id,
        defaults={
            "workspace": workspace,
            "plan": plan,
            "paddle_subscription_id": sub_id,
            "credits": credits,
            "test_mode": sub_id.startswith(TEST_SUBSCRIPTION_PREFIX),
        },
    )
    if payment.status != Purchase.Status.PENDING:
        return True  # granted already, or refunded since: a late duplicate changes nothing
    ledger.credit_post(
        workspace=payment.workspace,
        amount=credits,
        kind=LedgerEntry.Kind.SUBSCRIPTION_GRANT,
        reference=f"paddle:{txn_id}",
        # billing.expiry finds a plan's grants by this memo's ending.
        memo=f"{plan.name}: credits for the period (plan {plan.pk})",
    )
    totals = (data.get("details") or {}).get("totals") or {}
    payment.status = Purchase.Status.COMPLETED
    payment.completed_at = timezone.now()
    payment.total = minor_to_amount(totals.get("grand_total") or totals.get("total"))
    payment.currency = totals.get("currency_code") or data.get("currency_code") or plan.currency
    payment.invoice_number = data.get("invoice_number") or ""
    payment.save()
    return True


@transaction.atomic
def subscription_cancel(*, subscription: Subscription) -> Subscription:
    """Cancel at the end of the paid period."""

    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if not subscription.is_live or subscription.cancel_at:
        raise SubscriptionError("This subscription is already cancelled or not active.")
    if subscription.paddle_subscription_id.startswith(TEST_SUBSCRIPTION_PREFIX) or not paddle_configured():
        subscription.cancel_at = subscription.current_period_end or timezone.now()
    else:
        try:
            updated = paddle_client().subscriptions.cancel(
                subscription.paddle_subscription_id,
                CancelSubscription(effective_from=SubscriptionEffectiveFrom.NextBillingPeriod),
            )
        except Exception as exc:  # the SDK raises many kinds; nothing changes on failure
            logger.warning("Paddle cancel failed for %s: %s", subscription.paddle_subscription_id, exc)
            raise SubscriptionError("Paddle could not cancel the subscription just now. Try again shortly.") from exc
        change = updated.scheduled_change
        subscription.cancel_at = getattr(change, "effective_at", None) or subscription.current_period_end
    subscription.save(update_fields=["cancel_at"])
    return subscription
