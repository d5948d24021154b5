"""Monthly plans through Paddle: subscription state from webhooks, credits per paid period, cancel.

Paddle owns the subscription; we keep its latest state (newer events win, by occurred_at) and
grant the plan's included credits for every completed transaction of the subscription, once per
transaction. Cancelling asks Paddle to stop at the end of the period already paid for: access and
credits continue until then, and paid periods are not refunded.
"""

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import ledger
from .models import LedgerEntry, Plan, Subscription

logger = logging.getLogger(__name__)

TEST_SUBSCRIPTION_PREFIX = "sub_test_"


class SubscriptionError(Exception):
    """A request the subscription rules refuse; the message is written for the user."""


def _plan_for(data: dict) -> Plan | None:
    for item in data.get("items") or []:
        plan = Plan.objects.filter(paddle_price_id=(item.get("price") or {}).get("id", "")).first()
        if plan is not None:
            return plan
    return None


def subscription_event(data: dict, *, occurred_at=None) -> None:
    """subscription.created / .updated / .canceled / ...: record the newest state."""
    from .purchases import account_from_custom_data

    sub_id = data.get("id", "")
    existing = Subscription.objects.select_for_update().filter(paddle_subscription_id=sub_id).first()
    if existing is not None and existing.state_as_of and occurred_at and occurred_at < existing.state_as_of:
        return  # older than what we know: never undo newer state
    period = data.get("current_billing_period") or {}
    change = data.get("scheduled_change") or {}
    fields = {
        "status": data.get("status", ""),
        "current_period_start": parse_datetime(period.get("starts_at") or ""),
        "current_period_end": parse_datetime(period.get("ends_at") or ""),
        "cancel_at": parse_datetime(change.get("effective_at") or "") if change.get("action") == "cancel" else None,
        "state_as_of": occurred_at,
    }
    if existing is not None:
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save()
        return
    user = account_from_custom_data(data.get("custom_data") or {})
    plan = _plan_for(data)
    if user is None or plan is None:
        logger.error("paddle subscription %s names no known account or plan", sub_id)
        return
    Subscription.objects.create(user=user, plan=plan, paddle_subscription_id=sub_id, **fields)


def subscription_period_paid(data: dict) -> bool:
    """A completed transaction of a subscription: grant its plan's credits once. Returns False
    when the transaction is not a subscription's."""
    from .purchases import account_from_custom_data

    plan = _plan_for(data)
    if not data.get("subscription_id") or plan is None:
        return False
    user = account_from_custom_data(data.get("custom_data") or {})
    if user is None:
        sub = Subscription.objects.filter(paddle_subscription_id=data["subscription_id"]).first()
        user = sub.user if sub else None
    if user is None:
        logger.error("paddle subscription transaction %s names no known account", data.get("id"))
        return True
    ledger.credit_post(
        user=user,
        amount=plan.included_credits,
        kind=LedgerEntry.Kind.SUBSCRIPTION_GRANT,
        reference=f"paddle:{data['id']}",
        memo=f"{plan.name}: credits for the period (plan {plan.pk})",
    )
    return True


@transaction.atomic
def subscription_cancel(*, subscription: Subscription) -> Subscription:
    """Cancel at the end of the paid period."""
    from paddle_billing.Entities.Subscriptions import SubscriptionEffectiveFrom
    from paddle_billing.Resources.Subscriptions.Operations import CancelSubscription

    from .paddle.client import paddle_client, paddle_configured

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
