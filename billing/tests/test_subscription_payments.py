"""Subscription payments are purchases like any other: a refund or a chargeback of one takes back
its unused share (and a chargeback suspends the account), a payment that arrives before its account
is known waits for Paddle's redelivery, and a cancelled subscription keeps its dates.

Payloads are the SDK's own notification fixtures (billing/tests/paddle_payloads), signed with
Paddle's algorithm and delivered twice and out of order."""

import html
import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from accounts.models import Workspace
from billing import ledger
from billing.models import LedgerEntry, PaddleEvent, Plan, Purchase, Subscription
from billing.paddle.events import account_token
from billing.tests.fake_paddle import DEFAULT_WEBHOOK_SECRET, signed_webhook
from billing.tests.paddle_payloads import (
    FIXTURE_PLAN_PRICE_ID,
    FIXTURE_SUBSCRIPTION_ID,
    FIXTURE_TRANSACTION_ID,
    entity,
    notification,
)

pytestmark = pytest.mark.django_db

PAID = "65215"  # the fixture transaction's grand total, in cents: 652.15 USD for 10 seats and add-ons
ADJUSTMENT_ID = "adj_01hvgf2s84dr6reszzg29zbvcm"


@pytest.fixture(autouse=True)
def paddle(settings):
    settings.PADDLE_API_KEY = "pdl_sdbx_apikey_01configured"
    settings.PADDLE_WEBHOOK_SECRET = DEFAULT_WEBHOOK_SECRET


@pytest.fixture
def plan(db):
    # 150 credits a seat: the fixture's subscription has 10 seats, so a paid month grants 1500.
    return Plan.objects.create(
        name="Growth", paddle_price_id=FIXTURE_PLAN_PRICE_ID, monthly_price=Decimal("30.00"), included_credits=150
    )


def text(response) -> str:
    return html.unescape(response.content.decode())


def deliver(payload):
    body, headers = signed_webhook(DEFAULT_WEBHOOK_SECRET, payload)
    return Client().post(reverse("paddle_webhook"), body, content_type="application/json", headers=headers)


def token(user) -> dict:
    return {"clozit_account_token": account_token(user.personal_workspace.pk)}


def subscription_created(user):
    data = entity("subscription.created", custom_data=token(user))
    return notification("subscription.created", data, occurred_at="2024-04-12T10:18:48.900000Z")


def month_paid(user=None):
    """Paddle's transaction.completed for the subscription's first month (its account in custom
    data when `user` is given; Paddle's fixture carries none)."""
    data = entity("transaction.completed", custom_data=token(user) if user else None)
    return notification("transaction.completed", data, occurred_at="2024-04-12T10:18:49.738971Z")


def adjustment(event_type, *, action, status, total, occurred_at):
    data = entity(
        event_type,
        action=action,
        status=status,
        type="full" if total == PAID else "partial",
        transaction_id=FIXTURE_TRANSACTION_ID,
        subscription_id=FIXTURE_SUBSCRIPTION_ID,
    )
    data["totals"]["total"] = data["items"][0]["amount"] = data["items"][0]["totals"]["total"] = total
    return notification(event_type, data, occurred_at=occurred_at)


def balance(user) -> Decimal:
    return ledger.balance_of(workspace=user.personal_workspace).balance


def spend(user, amount):
    ledger.credit_post(
        workspace=user.personal_workspace,
        amount=-Decimal(amount),
        kind=LedgerEntry.Kind.CALL_USAGE,
        reference=f"spent:{amount}",
    )


# --- 1. refunds and chargebacks of subscription payments -----------------------------------------


def test_a_refund_of_a_plan_payment_takes_back_its_share_once_in_any_order(user, plan):
    assert deliver(subscription_created(user)).status_code == 200
    approved = adjustment(
        "adjustment.updated", action="refund", status="approved", total="13043", occurred_at="2024-04-15T08:54:10Z"
    )
    assert deliver(approved).status_code == 409  # before the payment: stored, and Paddle delivers it again
    assert deliver(month_paid(user)).status_code == 200
    assert balance(user) == 100 + 1500

    assert deliver(approved).status_code == 200  # the redelivery applies it: 20 % of the payment
    assert deliver(approved).content == b"duplicate ignored"
    assert balance(user) == 1600 - 300
    # The older adjustment.created (still pending approval) arrives last: it changes nothing.
    pending = adjustment(
        "adjustment.created",
        action="refund",
        status="pending_approval",
        total="13043",
        occurred_at="2024-04-15T08:48:20Z",
    )
    assert deliver(pending).status_code == 200
    # Paddle sends the payment again, under a new event id: never granted twice.
    assert deliver(month_paid(user)).status_code == 200
    assert balance(user) == 1300

    payment = Purchase.objects.get(paddle_transaction_id=FIXTURE_TRANSACTION_ID)
    assert (payment.plan, payment.package, payment.paddle_subscription_id) == (plan, None, FIXTURE_SUBSCRIPTION_ID)
    assert (payment.status, payment.credits, payment.credits_clawed_back) == ("refunded", 1500, 300)
    assert payment.total == Decimal("652.15") and payment.invoice_number == "325-10566"
    assert list(LedgerEntry.objects.filter(kind="refund_clawback").values_list("amount", flat=True)) == [-300]
    assert not PaddleEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_chargeback_of_a_plan_payment_claws_back_and_suspends(user, plan):
    deliver(subscription_created(user))
    deliver(month_paid(user))
    spend(user, 1200)  # 400 left
    chargeback = adjustment(
        "adjustment.updated", action="chargeback", status="approved", total=PAID, occurred_at="2024-05-01T00:00:00Z"
    )
    assert deliver(chargeback).status_code == 200
    assert deliver(chargeback).status_code == 200

    payment = Purchase.objects.get(paddle_transaction_id=FIXTURE_TRANSACTION_ID)
    assert (payment.status, payment.credits_clawed_back, payment.shortfall) == ("charged_back", 400, 1100)
    assert balance(user) == 0
    workspace = Workspace.objects.get(pk=user.personal_workspace.pk)
    assert workspace.status == Workspace.Status.SUSPENDED and FIXTURE_TRANSACTION_ID in workspace.status_reason
    assert LedgerEntry.objects.filter(kind="chargeback").count() == 1


# --- 2. a payment before its account is known ----------------------------------------------------


def test_a_plan_payment_before_its_account_is_known_waits_for_redelivery(user, plan):
    paid = month_paid()  # no custom data: the account is known only from the subscription
    response = deliver(paid)
    assert response.status_code == 409
    stored = PaddleEvent.objects.get(event_id=paid["event_id"])
    assert stored.processed_at is None
    assert balance(user) == 100 and not Purchase.objects.exists()

    assert deliver(subscription_created(user)).status_code == 200
    assert deliver(paid).status_code == 200  # Paddle's redelivery applies it
    assert deliver(paid).content == b"duplicate ignored"
    assert balance(user) == 1600
    stored.refresh_from_db()
    assert stored.processed_at is not None
    assert Purchase.objects.get().workspace == user.personal_workspace


# --- 4. a cancelled subscription keeps its dates -------------------------------------------------


def test_a_cancelled_subscription_keeps_its_last_period_and_records_when(user, plan, admin_client):
    deliver(subscription_created(user))
    canceled = notification(
        "subscription.canceled", entity("subscription.canceled"), occurred_at="2024-04-12T11:24:55.000000Z"
    )
    assert canceled["data"]["current_billing_period"] is None  # as Paddle sends it
    assert deliver(canceled).status_code == 200
    assert deliver(canceled).status_code == 200
    # An update from before the cancellation arrives late: nothing moves backwards.
    late = notification(
        "subscription.updated", entity("subscription.updated"), occurred_at="2024-04-12T10:49:38.771000Z"
    )
    assert deliver(late).status_code == 200

    sub = Subscription.objects.get()
    assert sub.status == "canceled"
    assert sub.current_period_start.isoformat() == "2024-04-12T10:18:47.635628+00:00"
    assert sub.current_period_end.isoformat() == "2024-05-12T10:18:47.635628+00:00"
    assert sub.canceled_at.isoformat() == "2024-04-12T11:24:54.868000+00:00"

    client = Client()
    client.force_login(user)
    row = text(client.get(reverse("credits"))).split(f'data-testid="subscription-{sub.pk}"', 1)[1].split("</tr>")[0]
    assert "Cancelled on Apr 12, 2024" in row and "Apr 12 – May 12, 2024" in row and "Cancel plan" not in row
    assert "April 12, 2024, 11:24" in text(admin_client.get(reverse("admin:billing_subscription_changelist")))


# --- the history and refund pages for a plan payment ---------------------------------------------


def test_a_plan_payment_shows_in_the_history_and_its_refund_is_not_offered(user, plan):
    deliver(subscription_created(user))
    deliver(month_paid(user))
    client = Client()
    client.force_login(user)
    form_url = reverse("refund_request", args=[FIXTURE_TRANSACTION_ID])

    history = text(client.get(reverse("credits")))
    assert "Growth plan" in history and "1500" in history and "652.15 USD" in history
    assert form_url not in history
    page = text(client.post(form_url, {"reason": "Please refund the month"}, follow=True))
    assert "Plan payments are not refunded" in page
    assert not user.personal_workspace.refund_requests.exists()


# --- subscription payments granted before they were recorded -------------------------------------


def test_plan_payments_granted_before_the_upgrade_become_refundable(user, plan):
    """Before this change a subscription payment left only its ledger entry and its stored event;
    the migration turns those into the payment's record, so a later refund finds it."""
    paid = month_paid(user)
    PaddleEvent.objects.create(
        event_id=paid["event_id"], event_type=paid["event_type"], payload=paid, processed_at="2024-04-12T10:18:50Z"
    )
    ledger.credit_post(
        workspace=user.personal_workspace,
        amount=Decimal(150),  # granted per subscription then, whatever the seats
        kind=LedgerEntry.Kind.SUBSCRIPTION_GRANT,
        reference=f"paddle:{FIXTURE_TRANSACTION_ID}",
        memo=f"{plan.name}: credits for the period (plan {plan.pk})",
    )
    migration = importlib.import_module("billing.migrations.0008_plan_payments_and_event_checks")
    migration.record_subscription_payments(apps, None)
    migration.record_subscription_payments(apps, None)  # run twice: still one record

    payment = Purchase.objects.get()
    assert (payment.workspace, payment.plan, payment.status, payment.credits) == (
        user.personal_workspace,
        plan,
        "completed",
        150,
    )
    assert payment.total == Decimal("652.15") and payment.paddle_subscription_id == FIXTURE_SUBSCRIPTION_ID
    chargeback = adjustment(
        "adjustment.updated", action="chargeback", status="approved", total=PAID, occurred_at="2024-05-01T00:00:00Z"
    )
    assert deliver(chargeback).status_code == 200
    assert balance(user) == 100
