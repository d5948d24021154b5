"""Paddle webhooks: signed with Paddle's algorithm (HMAC-SHA256 over "ts:body"), stored by event
id, applied once, in any order; forged ones change nothing."""

import hashlib
import hmac
import json
import time
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import User, Workspace, WorkspaceEvent
from billing import ledger
from billing.models import CreditPackage, LedgerEntry, PaddleEvent, Purchase
from billing.paddle.events import account_token, buyer_token
from billing.verification import ledger_problems

SECRET = "pdl_ntfset_test_secret"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.PADDLE_WEBHOOK_SECRET = SECRET
    settings.PADDLE_API_KEY = "pdl_test_key"  # a configured Paddle: no test checkout, real price ids only


@pytest.fixture
def package(db):
    return CreditPackage.objects.create(name="Starter", credits=500, price=Decimal("10.00"), paddle_price_id="pri_500")


def sign(body: bytes, *, secret=SECRET, ts=None) -> str:
    ts = int(time.time()) if ts is None else ts
    digest = hmac.new(secret.encode(), f"{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return f"ts={ts};h1={digest}"


def event(event_type, data, *, event_id=None):
    return {
        "event_id": event_id or f"evt_{uuid.uuid4().hex[:20]}",
        "event_type": event_type,
        "occurred_at": "2026-11-24T08:00:00Z",
        "notification_id": "ntf_1",
        "data": data,
    }


def completed(user, *, txn="txn_01", price_id="pri_500", quantity=1, total="1000"):
    return event(
        "transaction.completed",
        {
            "id": txn,
            "status": "completed",
            "custom_data": {"clozit_account_token": account_token(user.personal_workspace.pk)},
            "items": [{"price": {"id": price_id}, "quantity": quantity}],
            "details": {
                "totals": {"subtotal": total, "tax": "0", "total": total, "grand_total": total, "currency_code": "USD"}
            },
            "invoice_number": "325-1",
        },
    )


def adjustment(*, adj="adj_01", txn="txn_01", action="refund", status="approved", total="1000"):
    return event(
        "adjustment.updated",
        {
            "id": adj,
            "transaction_id": txn,
            "action": action,
            "status": status,
            "type": "full",
            "totals": {"total": total, "currency_code": "USD"},
        },
    )


def deliver(client, payload, *, signature=None):
    body = json.dumps(payload).encode()
    return client.post(
        reverse("paddle_webhook"),
        data=body,
        content_type="application/json",
        HTTP_PADDLE_SIGNATURE=signature if signature is not None else sign(body),
    )


def balance(user):
    return ledger.balance_of(workspace=user.personal_workspace).balance


@pytest.mark.django_db
def test_a_completed_payment_grants_the_package_once_however_often_delivered(client, user, package):
    payload = completed(user)
    assert deliver(client, payload).status_code == 200
    assert deliver(client, payload).content == b"duplicate ignored"
    assert balance(user) == 600
    purchase = Purchase.objects.get()
    assert (purchase.status, purchase.credits, purchase.total, purchase.invoice_number) == (
        "completed",
        500,
        Decimal("10.00"),
        "325-1",
    )
    # Paddle resends with a new event id for the same transaction: still granted once.
    assert deliver(client, completed(user)).status_code == 200
    assert balance(user) == 600 and LedgerEntry.objects.filter(kind="purchase").count() == 1
    assert ledger_problems() == []


@pytest.mark.django_db
def test_the_workspace_log_names_the_member_who_paid_once(client, user, package):
    teammate = User.objects.create_user(email="payer@example.com", first_name="Pat", last_name="Payer")
    payload = completed(user)
    payload["data"]["custom_data"]["clozit_buyer_token"] = buyer_token(teammate.pk)
    deliver(client, payload)
    deliver(client, completed(user))  # Paddle's resend, without our token: nothing more recorded

    bought = WorkspaceEvent.objects.get(workspace=user.personal_workspace, action="credits.purchase")
    assert (bought.actor, bought.actor_name) == (teammate, "Pat Payer")
    assert "500 credits" in bought.summary and "txn_01" in bought.summary


@pytest.mark.django_db
def test_a_forged_buyer_token_names_nobody(client, user, package):
    payload = completed(user)
    payload["data"]["custom_data"]["clozit_buyer_token"] = f"{user.pk}:forged"
    deliver(client, payload)
    assert WorkspaceEvent.objects.get(action="credits.purchase").actor is None  # "Clozit", not a guess


@pytest.mark.django_db
def test_forged_unsigned_and_stale_webhooks_change_nothing(client, user, package):
    payload = completed(user)
    body = json.dumps(payload).encode()
    for signature in [
        "",
        sign(body, secret="wrong"),
        sign(body, ts=int(time.time()) - 3600),
        "ts=1;h1=zz;x=1",
        "garbage",
    ]:
        response = deliver(client, payload, signature=signature)
        assert response.status_code == 403, signature
    tampered = dict(payload, data=dict(payload["data"], items=[{"price": {"id": "pri_500"}, "quantity": 100}]))
    assert deliver(client, tampered, signature=sign(body)).status_code == 403
    assert balance(user) == 100 and not PaddleEvent.objects.exists() and not Purchase.objects.exists()


@pytest.mark.django_db
def test_the_package_comes_from_the_price_paid_not_from_custom_data(client, user, package):
    CreditPackage.objects.create(name="Big", credits=5000, price=Decimal("100.00"), paddle_price_id="pri_5000")
    payload = completed(user)
    payload["data"]["custom_data"]["clozit_package"] = 999  # whatever the browser claimed
    deliver(client, payload)
    assert balance(user) == 600
    deliver(client, completed(user, txn="txn_02", price_id="pri_unknown"))
    assert balance(user) == 600  # an unknown price grants nothing


@pytest.mark.django_db
def test_a_refund_takes_back_only_unused_credits(client, user, package):
    deliver(client, completed(user))
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(-550), kind="call_usage", reference="spent"
    )  # 50 left
    assert deliver(client, adjustment(status="pending_approval")).status_code == 200
    assert balance(user) == 50  # pending refunds change nothing
    deliver(client, adjustment())
    deliver(client, adjustment())
    assert balance(user) == 0
    purchase = Purchase.objects.get()
    assert purchase.status == "refunded" and purchase.credits_clawed_back == 50
    assert ledger_problems() == []


@pytest.mark.django_db
def test_a_partial_refund_takes_back_its_share(client, user, package):
    deliver(client, completed(user))
    deliver(client, adjustment(total="400"))  # 40% of the payment
    assert balance(user) == 400  # 100 starter + 500 − 200


@pytest.mark.django_db
def test_a_chargeback_claws_back_records_the_shortfall_and_suspends(client, user, package):
    deliver(client, completed(user))
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(-400), kind="call_usage", reference="spent"
    )  # 200 left
    deliver(client, adjustment(adj="adj_cb", action="chargeback", status="approved"))
    purchase = Purchase.objects.get()
    assert (purchase.status, purchase.credits_clawed_back, purchase.shortfall) == ("charged_back", 200, 300)
    assert balance(user) == 0
    user.refresh_from_db()
    workspace = Workspace.objects.get(pk=user.personal_workspace.pk)
    assert workspace.status == Workspace.Status.SUSPENDED and "chargeback" in workspace.status_reason.lower()
    assert ledger_problems() == []


@pytest.mark.django_db
def test_a_refund_before_its_payment_waits_for_redelivery(client, user, package):
    refund = adjustment()
    assert deliver(client, refund).status_code == 409  # stored, not applied: Paddle retries
    assert PaddleEvent.objects.get().processed_at is None
    deliver(client, completed(user))
    assert deliver(client, refund).status_code == 200  # the retry finishes the job
    assert balance(user) == 100
    assert deliver(client, completed(user)).status_code == 200
    assert balance(user) == 100  # a late duplicate of the payment never re-grants


@pytest.mark.django_db
def test_unknown_events_are_stored_and_acknowledged(client, user):
    assert deliver(client, event("customer.updated", {"id": "ctm_1"})).status_code == 200
    assert PaddleEvent.objects.get().processed_at is not None


@pytest.mark.django_db
def test_malformed_json_with_a_valid_signature_is_refused(client):
    body = b"not json"
    response = client.post(
        reverse("paddle_webhook"), data=body, content_type="application/json", HTTP_PADDLE_SIGNATURE=sign(body)
    )
    assert response.status_code == 400 and not PaddleEvent.objects.exists()


@pytest.mark.django_db
def test_a_payment_credits_only_an_account_our_server_signed_for(client, user, package):
    other = User.objects.create_user(email="victim@example.com", password="x")
    for custom in [
        {"clozit_account": other.pk},
        {"clozit_account_token": f"{other.pk}:forged"},
        {"clozit_account_token": "not-a-number:x"},
    ]:
        payload = completed(user, txn=f"txn_{uuid.uuid4().hex[:8]}")
        payload["data"]["custom_data"] = custom
        assert deliver(client, payload).status_code == 200
    assert balance(other) == 0 and balance(user) == 100
    assert not Purchase.objects.exists()
