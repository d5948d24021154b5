"""Monthly plans: state from Paddle's webhooks (newest wins), credits for each paid period once,
cancel at the end of the period through the real SDK against the fake Paddle API."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from billing.models import LedgerEntry, Plan, Subscription
from billing.paddle.events import account_token
from billing.subscriptions import SubscriptionError, subscription_cancel
from billing.tests.fake_paddle import event, fake_paddle, paddle_settings, signed_webhook  # noqa: F401 - fixtures
from billing.tests.fake_paddle import subscription as subscription_entity
from billing.tests.fake_paddle import transaction as transaction_entity

MONTHLY = "pri_01jfakepaddle0monthly00004"  # 29.00 USD a month in the fake


@pytest.fixture
def plan(db):
    return Plan.objects.create(
        name="Growth", paddle_price_id=MONTHLY, monthly_price=Decimal("29.00"), included_credits=1500
    )


def deliver(client, event_type, data, *, secret, occurred_at=None):
    payload = event(event_type, data, occurred_at=occurred_at or timezone.now())
    body, headers = signed_webhook(secret, payload)
    return client.post(
        reverse("paddle_webhook"),
        data=body,
        content_type="application/json",
        HTTP_PADDLE_SIGNATURE=headers["Paddle-Signature"],
    )


def period_paid(user, sub_id, txn_id):
    return transaction_entity(
        txn_id,
        MONTHLY,
        custom_data={"clozit_account_token": account_token(user.personal_workspace.pk)},
        total_minor="2900",
        subscription_id=sub_id,
        origin="subscription_recurring",
    )


@pytest.mark.django_db
def test_each_paid_period_grants_the_plans_credits_once(client, user, plan, paddle_settings):  # noqa: F811
    secret = paddle_settings_secret()
    sub = subscription_entity(
        "sub_01a", custom_data={"clozit_account_token": account_token(user.personal_workspace.pk)}, price_id=MONTHLY
    )
    assert deliver(client, "subscription.created", sub, secret=secret).status_code == 200
    for _ in range(2):  # delivered twice
        deliver(client, "transaction.completed", period_paid(user, "sub_01a", "txn_period1"), secret=secret)
    deliver(client, "transaction.completed", period_paid(user, "sub_01a", "txn_period2"), secret=secret)
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 100 + 1500 * 2
    assert LedgerEntry.objects.filter(kind="subscription_grant").count() == 2
    stored = Subscription.objects.get()
    assert (stored.workspace, stored.plan, stored.status) == (user.personal_workspace, plan, "active")


@pytest.mark.django_db
def test_an_older_event_never_undoes_newer_state(client, user, plan, paddle_settings):  # noqa: F811
    secret = paddle_settings_secret()
    custom = {"clozit_account_token": account_token(user.personal_workspace.pk)}
    now = timezone.now()
    ends = (now + timedelta(days=20)).isoformat()
    canceling = subscription_entity(
        "sub_01b", custom_data=custom, price_id=MONTHLY, scheduled_change={"action": "cancel", "effective_at": ends}
    )
    deliver(client, "subscription.updated", canceling, secret=secret, occurred_at=now)
    older = subscription_entity("sub_01b", custom_data=custom, price_id=MONTHLY)
    deliver(client, "subscription.created", older, secret=secret, occurred_at=now - timedelta(minutes=5))
    assert Subscription.objects.get().cancel_at is not None


@pytest.mark.django_db
def test_cancel_asks_paddle_to_stop_at_the_end_of_the_period(client, user, plan, paddle_settings):  # noqa: F811
    ends = timezone.now() + timedelta(days=12)
    paddle_settings.add_subscription(
        sub_id="sub_01c",
        price_id=MONTHLY,
        current_billing_period={"starts_at": timezone.now().isoformat(), "ends_at": ends.isoformat()},
    )
    sub = Subscription.objects.create(
        workspace=user.personal_workspace,
        plan=plan,
        paddle_subscription_id="sub_01c",
        status="active",
        current_period_end=ends,
    )
    client.force_login(user)
    response = client.post(reverse("subscription_cancel", args=[sub.pk]))
    assert response.status_code == 302
    sub.refresh_from_db()
    assert abs((sub.cancel_at - ends).total_seconds()) < 2
    (call,) = paddle_settings.requests_to("POST", "/subscriptions/sub_01c/cancel")
    assert json.dumps(call.json).find("next_billing_period") != -1
    with pytest.raises(SubscriptionError):
        subscription_cancel(subscription=sub)
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 100  # nothing refunded, credits stay


@pytest.mark.django_db
def test_a_paddle_failure_leaves_the_subscription_running(user, plan, paddle_settings):  # noqa: F811
    sub = Subscription.objects.create(
        workspace=user.personal_workspace, plan=plan, paddle_subscription_id="sub_missing", status="active"
    )
    with pytest.raises(SubscriptionError, match="could not cancel"):
        subscription_cancel(subscription=sub)
    sub.refresh_from_db()
    assert sub.cancel_at is None


@pytest.mark.django_db(transaction=True)
def test_test_checkout_subscribes_through_the_signed_webhooks(live_server, settings, client, user, plan, run_jobs):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.PADDLE_API_KEY = ""
    client.force_login(user)
    assert "Subscribe (test checkout)" in client.get(reverse("credits_buy")).content.decode()
    client.post(reverse("credits_test_subscribe", args=[plan.pk]))
    run_jobs()
    sub = Subscription.objects.get(workspace=user.personal_workspace)
    assert sub.status == "active" and sub.current_period_end > timezone.now()
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 1600
    page = client.get(reverse("credits")).content.decode()
    assert "Growth" in page and "Cancel plan" in page
    client.post(reverse("subscription_cancel", args=[sub.pk]))
    sub.refresh_from_db()
    assert sub.cancel_at == sub.current_period_end
    assert "You already have an active plan" not in client.get(reverse("credits_buy")).content.decode()


def paddle_settings_secret():
    from django.conf import settings

    return settings.PADDLE_WEBHOOK_SECRET
