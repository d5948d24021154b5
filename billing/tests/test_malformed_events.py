"""Correctly signed but malformed Paddle events: each is refused with a 400 that says what is wrong,
never a 500 (which Paddle retries for days) and never a grant. An event that can be identified is
kept as rejected for staff to see in the admin; a redelivery is refused the same way."""

import copy
import html
import json
import time

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from billing import ledger
from billing.models import CreditPackage, LedgerEntry, PaddleEvent, Purchase
from billing.paddle.events import account_token
from billing.tests.fake_paddle import DEFAULT_WEBHOOK_SECRET, sign, signed_webhook
from billing.tests.paddle_payloads import entity, notification

pytestmark = pytest.mark.django_db

ONE_TIME_PRICE = "pri_01gsz98e27ak2tyhexptwc58yk"  # the fixture transaction's third item, quantity 1


@pytest.fixture(autouse=True)
def paddle(settings):
    settings.PADDLE_API_KEY = "pdl_sdbx_apikey_01configured"
    settings.PADDLE_WEBHOOK_SECRET = DEFAULT_WEBHOOK_SECRET


@pytest.fixture
def package(db):
    return CreditPackage.objects.create(name="Pack", credits=500, price=199, paddle_price_id=ONE_TIME_PRICE)


def pack_paid(user) -> dict:
    """Paddle's transaction.completed fixture as a one-off purchase of our pack."""
    data = entity(
        "transaction.completed",
        id="txn_01hv8wptq8987qeep44cyrewpa",
        subscription_id=None,
        billing_period=None,
        custom_data={"clozit_account_token": account_token(user.personal_workspace.pk)},
    )
    return notification("transaction.completed", data)


def deliver(payload):
    body, headers = signed_webhook(DEFAULT_WEBHOOK_SECRET, payload, malformed=True)
    client = Client(raise_request_exception=False)  # a 500 must show as a 500, as Paddle would see it
    return client.post(reverse("paddle_webhook"), body, content_type="application/json", headers=headers)


def quantity(value):
    def change(payload):
        payload["data"]["items"][2]["quantity"] = value

    return change


def without_data_id(payload):
    del payload["data"]["id"]


def long_event_id(payload):
    payload["event_id"] = "evt_" + "x" * 61  # 65 characters; the column holds 64


def occurred_at(value):
    def change(payload):
        payload["occurred_at"] = value

    return change


# (what is wrong, change to a valid pack payment, the field the answer names, stored as rejected)
CASES = [
    ("quantity is a word", quantity("lots"), "quantity", True),
    ("quantity is negative", quantity(-3), "quantity", True),
    ("quantity is zero", quantity(0), "quantity", True),
    ("quantity is a fraction", quantity(1.5), "quantity", True),
    ("quantity is a boolean", quantity(True), "quantity", True),
    ("quantity is missing", quantity(None), "quantity", True),
    ("data.id is missing", without_data_id, "data.id", True),
    ("event_id is too long", long_event_id, "event_id", False),
    ("occurred_at is words", occurred_at("yesterday"), "occurred_at", False),
    ("occurred_at is impossible", occurred_at("2024-13-45T10:00:00Z"), "occurred_at", False),
    ("occurred_at has no time zone", occurred_at("2024-04-12T10:18:49"), "occurred_at", False),
]


@pytest.mark.parametrize(("case", "change", "field", "stored"), CASES, ids=[case[0] for case in CASES])
def test_a_malformed_payment_is_refused_and_grants_nothing(user, package, case, change, field, stored):
    payload = pack_paid(user)
    change(payload)

    for _ in range(2):  # Paddle's redelivery meets the same answer
        response = deliver(payload)
        assert response.status_code == 400, case
        assert response.content.decode().startswith("Malformed event:") and field in response.content.decode()

    assert ledger.balance_of(workspace=user.personal_workspace).balance == 100
    assert list(LedgerEntry.objects.values_list("kind", flat=True)) == ["starter_grant"]
    assert not Purchase.objects.exists()
    if stored:
        event = PaddleEvent.objects.get()
        assert event.processed_at is None and field in event.rejected_reason
    else:
        assert not PaddleEvent.objects.exists()

    # Nothing is blocked: the well-formed payment, delivered next, is granted once.
    assert deliver(pack_paid(user)).status_code == 200
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 600


@pytest.mark.parametrize(
    "body",
    [b"[]", b'"event"', json.dumps({**notification("transaction.completed", {}), "data": []}).encode()],
    ids=["a list", "a string", "data is a list"],
)
def test_a_signed_body_that_is_no_event_is_refused(user, body):
    client = Client(raise_request_exception=False)
    response = client.post(
        reverse("paddle_webhook"),
        body,
        content_type="application/json",
        headers={"Paddle-Signature": sign(DEFAULT_WEBHOOK_SECRET, body, int(time.time()))},
    )
    assert response.status_code == 400 and response.content.startswith(b"Malformed event:")
    assert not PaddleEvent.objects.exists()


def test_malformed_adjustments_and_subscription_events_change_nothing(user, package):
    assert deliver(pack_paid(user)).status_code == 200
    refund = entity("adjustment.updated", status="approved", transaction_id=None)
    canceled = entity("subscription.canceled", current_billing_period={"starts_at": "soon", "ends_at": None})
    for event_type, data, field in [
        ("adjustment.updated", refund, "transaction_id"),
        ("subscription.canceled", canceled, "current_billing_period"),
    ]:
        response = deliver(notification(event_type, copy.deepcopy(data)))
        assert response.status_code == 400 and field in response.content.decode()
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 600
    assert PaddleEvent.objects.exclude(rejected_reason="").count() == 2


def test_staff_see_rejected_events_in_the_admin(user, package):
    payload = pack_paid(user)
    quantity("lots")(payload)
    deliver(payload)
    staff = User.objects.create_superuser(email="admin@example.com", password="admin pass 1234")
    client = Client()
    client.force_login(staff)
    page = html.unescape(
        client.get(reverse("admin:billing_paddleevent_changelist"), {"state": "rejected"}).content.decode()
    )
    assert payload["event_id"] in page and "quantity must be a whole number from 1 to 1,000,000, not 'lots'" in page
