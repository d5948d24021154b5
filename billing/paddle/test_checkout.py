"""The development stand-in for Paddle's checkout (no Paddle keys): after a simulated payment it
posts the webhook Paddle would send, signed the way Paddle signs, to our own endpoint."""

import json
import time
import uuid
from datetime import timedelta

import requests
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from paddle_billing.Notifications.PaddleSignature import PaddleSignature

from billing import prices
from billing.models import Plan, Purchase
from billing.paddle.events import account_token
from billing.purchases import TEST_PRICE_PREFIX
from billing.subscriptions import TEST_SUBSCRIPTION_PREFIX


def signed_body(payload: dict, *, secret: str, timestamp: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    digest = PaddleSignature.calculate_hmac(secret, f"{ts}:".encode() + body).hexdigest()
    return body, f"ts={ts};h1={digest}"


def completed_event(purchase: Purchase) -> dict:
    package = purchase.package
    minor = str(int(purchase.total * 100))  # the price in force when the checkout started
    now = timezone.now().isoformat()
    return {
        "event_id": f"evt_test_{uuid.uuid4().hex[:24]}",
        "event_type": "transaction.completed",
        "occurred_at": now,
        "notification_id": f"ntf_test_{uuid.uuid4().hex[:24]}",
        "data": {
            "id": purchase.paddle_transaction_id,
            "status": "completed",
            "custom_data": {"clozit_account_token": account_token(purchase.workspace_id)},
            "items": [{"price": {"id": f"{TEST_PRICE_PREFIX}{package.pk}"}, "quantity": 1}],
            "details": {
                "totals": {
                    "subtotal": minor,
                    "tax": "0",
                    "total": minor,
                    "grand_total": minor,
                    "currency_code": package.currency,
                }
            },
            "currency_code": package.currency,
            "invoice_number": f"TEST-{purchase.pk}",
            "billed_at": now,
        },
    }


def deliver_test_payment(*, purchase_id: int) -> int:
    """RQ job: report the test purchase as paid through the real webhook endpoint."""
    purchase = Purchase.objects.select_related("package").get(pk=purchase_id)
    body, signature = signed_body(completed_event(purchase), secret=settings.PADDLE_WEBHOOK_SECRET)
    response = requests.post(
        settings.PUBLIC_BASE_URL + reverse("paddle_webhook"),
        data=body,
        headers={"Paddle-Signature": signature, "Content-Type": "application/json"},
        timeout=10,
    )
    response.raise_for_status()  # RQ retries a failed delivery
    return response.status_code


def deliver_test_subscription(*, workspace_id: int, plan_id: int) -> int:
    """RQ job: report a new subscription and its first paid period, as Paddle would."""

    plan = Plan.objects.get(pk=plan_id)
    now = timezone.now()
    price = prices.plan_price(plan, now)  # a scheduled change is billed only from its date
    sub_id = f"{TEST_SUBSCRIPTION_PREFIX}{uuid.uuid4().hex[:20]}"
    custom = {"clozit_account_token": account_token(workspace_id)}
    items = [{"price": {"id": price.paddle_price_id}, "quantity": 1}]
    minor = str(int(price.amount * 100))
    events = [
        {
            "event_id": f"evt_test_{uuid.uuid4().hex[:24]}",
            "event_type": "subscription.created",
            "occurred_at": now.isoformat(),
            "data": {
                "id": sub_id,
                "status": "active",
                "custom_data": custom,
                "items": items,
                "current_billing_period": {
                    "starts_at": now.isoformat(),
                    "ends_at": (now + timedelta(days=30)).isoformat(),
                },
                "scheduled_change": None,
            },
        },
        {
            "event_id": f"evt_test_{uuid.uuid4().hex[:24]}",
            "event_type": "transaction.completed",
            "occurred_at": now.isoformat(),
            "data": {
                "id": f"txn_test_{uuid.uuid4().hex[:24]}",
                "status": "completed",
                "subscription_id": sub_id,
                "custom_data": custom,
                "items": items,
                "details": {"totals": {"total": minor, "grand_total": minor, "currency_code": plan.currency}},
            },
        },
    ]
    for event in events:
        body, signature = signed_body(event, secret=settings.PADDLE_WEBHOOK_SECRET)
        response = requests.post(
            settings.PUBLIC_BASE_URL + reverse("paddle_webhook"),
            data=body,
            headers={"Paddle-Signature": signature, "Content-Type": "application/json"},
            timeout=10,
        )
        response.raise_for_status()
    return len(events)
