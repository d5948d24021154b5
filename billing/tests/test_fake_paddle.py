"""The fake Paddle API and webhook builders hold up against the real paddle-python-sdk."""

import json
import re
import time

import pytest
from paddle_billing.Entities.Event import Event
from paddle_billing.Entities.PricingPreviews import PricePreviewItem
from paddle_billing.Entities.Shared import Action, AddressPreview, AdjustmentType, CustomData
from paddle_billing.Entities.Subscriptions import SubscriptionEffectiveFrom
from paddle_billing.Exceptions.ApiError import ApiError
from paddle_billing.Exceptions.ApiErrors.AdjustmentApiError import AdjustmentApiError
from paddle_billing.Exceptions.ApiErrors.TransactionApiError import TransactionApiError
from paddle_billing.Notifications import Secret, Verifier
from paddle_billing.Notifications.Entities.Adjustment import Adjustment as AdjustmentNotification
from paddle_billing.Notifications.Entities.Subscription import Subscription as SubscriptionNotification
from paddle_billing.Notifications.Entities.Transaction import Transaction as TransactionNotification
from paddle_billing.Resources.Adjustments.Operations import CreateAdjustment, CreateAdjustmentItem
from paddle_billing.Resources.PricingPreviews.Operations import PreviewPrice
from paddle_billing.Resources.Subscriptions.Operations import CancelSubscription, UpdateSubscription
from paddle_billing.Resources.Transactions.Operations import CreateTransaction
from paddle_billing.Resources.Transactions.Operations.Create import TransactionCreateItem

from billing.tests.fake_paddle import (
    DEFAULT_WEBHOOK_SECRET,
    FakePaddle,
    WebhookRequest,
    adjustment,
    event,
    fake_paddle,  # noqa: F401 - pytest fixture
    iso,
    paddle_client,
    signed_webhook,
    subscription,
    transaction_completed,
)

STARTER = "pri_01jfakepaddle0starter00001"  # 10.00 USD in the default catalogue
MONTHLY = "pri_01jfakepaddle0monthly00004"


@pytest.fixture
def client(fake_paddle):  # noqa: F811 - the fixture above
    return paddle_client(fake_paddle)


def _create_transaction(client, quantity=1, **fields):
    return client.transactions.create(
        CreateTransaction(items=[TransactionCreateItem(price_id=STARTER, quantity=quantity)], **fields)
    )


# --- pricing preview -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "postal_code", "rate", "tax", "formatted_total"),
    [
        ("DE", "10115", "0.19", "380", "$23.80"),
        ("GB", None, "0.2", "400", "$24.00"),
        ("US", None, "0", "0", "$20.00"),
        ("US", "10001", "0.08875", "178", "$21.78"),  # 177.5 rounds half-up
        ("BR", None, "0", "0", "$20.00"),  # not in the table: untaxed
    ],
)
def test_pricing_preview_taxes_by_place(fake_paddle, client, country, postal_code, rate, tax, formatted_total):  # noqa: F811
    preview = client.pricing_previews.preview_prices(
        PreviewPrice(
            items=[PricePreviewItem(price_id=STARTER, quantity=2)],
            address=AddressPreview(country_code=country, postal_code=postal_code),
            customer_ip_address="203.0.113.7",
        )
    )

    line = preview.details.line_items[0]
    assert line.price.id == STARTER and line.price.unit_price.amount == "1000"
    assert line.quantity == 2 and line.tax_rate == rate
    assert line.unit_totals.subtotal == "1000"
    assert (line.totals.subtotal, line.totals.discount, line.totals.tax) == ("2000", "0", tax)
    assert line.totals.total == str(2000 + int(tax))
    assert line.formatted_totals.total == formatted_total
    assert line.product.id and line.discounts == []
    assert preview.currency_code == "USD" and preview.address.country_code == country
    (request,) = fake_paddle.requests
    assert (request.method, request.path) == ("POST", "/pricing-preview")
    assert request.json == {
        "items": [{"price_id": STARTER, "quantity": 2}],
        "address": {"postal_code": postal_code, "country_code": country},
        "customer_ip_address": "203.0.113.7",
    }
    assert request.headers["Authorization"] == f"Bearer {fake_paddle.api_key}"


def test_pricing_preview_in_the_price_currency():
    with FakePaddle(prices={"pri_eur": (990, "EUR", "Credits")}) as fake:
        preview = paddle_client(fake).pricing_previews.preview_prices(
            PreviewPrice(items=[PricePreviewItem(price_id="pri_eur", quantity=1)], address=AddressPreview(None, "DE"))
        )
    line = preview.details.line_items[0]
    assert preview.currency_code == "EUR"
    assert (line.totals.tax, line.totals.total, line.formatted_totals.total) == ("188", "1178", "€11.78")


def test_pricing_preview_of_an_unknown_price_is_paddles_error(client):
    with pytest.raises(TransactionApiError) as caught:
        client.pricing_previews.preview_prices(
            PreviewPrice(items=[PricePreviewItem(price_id="pri_01nosuchprice0000000000000", quantity=1)])
        )
    assert caught.value.response.status_code == 400
    assert caught.value.error_code == "transaction_price_not_found"
    assert "pri_01nosuchprice0000000000000" in caught.value.detail
    assert caught.value.docs_url.endswith("/errors/transactions/transaction_price_not_found")


# --- transactions ----------------------------------------------------------------------------------


def test_transaction_create_then_get(fake_paddle, client):  # noqa: F811
    created = _create_transaction(client, quantity=3, custom_data=CustomData({"clozit_account": 7}))

    assert created.id.startswith("txn_") and len(created.id) == 30
    assert created.status == "draft"  # no customer and address yet, as on Paddle
    assert created.checkout.url == f"https://clozit.test/billing/pay?_ptxn={created.id}"
    assert created.custom_data.data == {"clozit_account": 7}
    assert created.items[0].price.id == STARTER and created.items[0].quantity == 3
    assert (created.details.totals.subtotal, created.details.totals.total) == ("3000", "3000")
    assert created.details.totals.currency_code == "USD"
    fetched = client.transactions.get(created.id)
    assert fetched.id == created.id and fetched.custom_data.data == {"clozit_account": 7}
    assert [(r.method, r.path) for r in fake_paddle.requests] == [
        ("POST", "/transactions"),
        ("GET", f"/transactions/{created.id}"),
    ]
    assert fake_paddle.requests[0].json == {
        "items": [{"price_id": STARTER, "quantity": 3}],
        "custom_data": {"clozit_account": 7},
    }


def test_transaction_with_customer_and_address_is_ready(client):
    created = _create_transaction(client, customer_id="ctm_01abc", address_id="add_01abc")
    assert created.status == "ready"


def test_completed_transaction_has_tax_payment_and_invoice(fake_paddle, client):  # noqa: F811
    created = _create_transaction(client)
    fake_paddle.complete_transaction(created.id, country_code="DE")

    paid = client.transactions.get(created.id)
    assert paid.status == "completed" and paid.invoice_number and paid.customer_id.startswith("ctm_")
    assert (paid.details.totals.tax, paid.details.totals.grand_total) == ("190", "1190")
    assert paid.details.totals.fee == "110"  # 5 % + 50
    assert paid.payments[0].status == "captured" and paid.billed_at is not None


def test_unknown_transaction_is_not_found(client):
    with pytest.raises(ApiError) as caught:
        client.transactions.get("txn_01nosuchtransaction00000000")
    assert (caught.value.response.status_code, caught.value.error_code) == (404, "not_found")


# --- adjustments -----------------------------------------------------------------------------------


def test_full_refund_is_pending_approval_and_blocks_another(fake_paddle, client):  # noqa: F811
    txn = _create_transaction(client)
    fake_paddle.complete_transaction(txn.id, country_code="GB")

    refund = client.adjustments.create(CreateAdjustment.full(Action.Refund, "duplicate purchase", txn.id))

    assert refund.id.startswith("adj_") and refund.status == "pending_approval"
    assert (refund.action, refund.type, refund.transaction_id) == ("refund", "full", txn.id)
    assert (refund.totals.subtotal, refund.totals.tax, refund.totals.total) == ("1000", "200", "1200")
    assert refund.customer_id == fake_paddle.transactions[txn.id]["customer_id"]
    assert fake_paddle.requests_to("POST", "/adjustments")[0].json == {
        "action": "refund",
        "reason": "duplicate purchase",
        "transaction_id": txn.id,
        "type": "full",
    }
    with pytest.raises(AdjustmentApiError) as caught:
        client.adjustments.create(CreateAdjustment.full(Action.Refund, "again", txn.id))
    assert caught.value.error_code == "adjustment_pending_refund_request"

    approved = fake_paddle.set_adjustment_status(refund.id, "approved")
    assert approved["status"] == "approved"
    with pytest.raises(AdjustmentApiError) as caught:
        client.adjustments.create(CreateAdjustment.full(Action.Refund, "again", txn.id))
    assert caught.value.error_code == "adjustment_transaction_item_has_already_been_fully_adjusted"


def test_partial_refund_splits_out_the_tax(fake_paddle, client):  # noqa: F811
    txn = _create_transaction(client)
    item_id = fake_paddle.complete_transaction(txn.id, country_code="DE")["details"]["line_items"][0]["id"]

    refund = client.adjustments.create(
        CreateAdjustment(
            action=Action.Refund,
            items=[CreateAdjustmentItem(item_id=item_id, type=AdjustmentType.Partial, amount="595")],
            reason="half",
            transaction_id=txn.id,
        )
    )

    assert refund.type == "partial" and refund.items[0].item_id == item_id
    assert (refund.totals.subtotal, refund.totals.tax, refund.totals.total) == ("500", "95", "595")
    fake_paddle.set_adjustment_status(refund.id)
    with pytest.raises(AdjustmentApiError) as caught:
        client.adjustments.create(
            CreateAdjustment.partial(
                Action.Refund, [CreateAdjustmentItem(item_id, AdjustmentType.Partial, "596")], "more", txn.id
            )
        )
    assert caught.value.error_code == "adjustment_amount_above_remaining_allowed"


def test_refund_of_an_unpaid_transaction_is_refused(client):
    txn = _create_transaction(client)
    with pytest.raises(AdjustmentApiError) as caught:
        client.adjustments.create(CreateAdjustment.full(Action.Refund, "nope", txn.id))
    assert caught.value.error_code == "adjustment_transaction_invalid_status_for_refund"


# --- subscriptions ---------------------------------------------------------------------------------


def test_subscription_cancel_at_period_end_then_undo(fake_paddle, client):  # noqa: F811
    seeded = fake_paddle.add_subscription(sub_id="sub_01seeded", price_id=MONTHLY, custom_data={"clozit_account": 3})
    period_end = seeded["current_billing_period"]["ends_at"]

    canceled = client.subscriptions.cancel(
        "sub_01seeded", CancelSubscription(effective_from=SubscriptionEffectiveFrom.NextBillingPeriod)
    )

    assert canceled.status == "active" and canceled.next_billed_at is None
    assert canceled.scheduled_change.action == "cancel"
    assert iso(canceled.scheduled_change.effective_at) == period_end
    assert canceled.items[0].price.id == MONTHLY and canceled.custom_data.data == {"clozit_account": 3}
    assert fake_paddle.requests[-1].json == {"effective_from": "next_billing_period"}
    assert client.subscriptions.get("sub_01seeded").scheduled_change.action == "cancel"

    resumed = client.subscriptions.update("sub_01seeded", UpdateSubscription(scheduled_change=None))
    assert resumed.scheduled_change is None and iso(resumed.next_billed_at) == period_end
    assert fake_paddle.requests[-1][:3] == ("PATCH", "/subscriptions/sub_01seeded", {"scheduled_change": None})


def test_subscription_cancel_immediately_then_again():
    fake = FakePaddle(subscriptions=[subscription("sub_01given", price_id=MONTHLY)])
    try:
        client = paddle_client(fake)
        canceled = client.subscriptions.cancel(
            "sub_01given", CancelSubscription(effective_from=SubscriptionEffectiveFrom.Immediately)
        )
        assert canceled.status == "canceled" and canceled.canceled_at is not None
        assert canceled.current_billing_period is None and canceled.scheduled_change is None
        with pytest.raises(ApiError) as caught:
            client.subscriptions.cancel("sub_01given", CancelSubscription())
        assert caught.value.error_code == "subscription_is_canceled_action_invalid"
        with pytest.raises(ApiError) as caught:
            client.subscriptions.get("sub_01missing")
        assert caught.value.error_code == "not_found"
    finally:
        fake.stop()


# --- authentication and injected failures ----------------------------------------------------------


def test_wrong_api_key_is_refused_with_paddles_error(fake_paddle):  # noqa: F811
    with pytest.raises(ApiError) as caught:
        _create_transaction(paddle_client(fake_paddle, api_key="pdl_sdbx_apikey_wrong"))

    error = caught.value
    assert error.response.status_code == 403
    assert (error.error_type, error.error_code) == ("request_error", "invalid_token")
    assert error.docs_url == "https://developer.paddle.com/errors/shared/invalid_token"
    assert fake_paddle.transactions == {}
    assert error.response.json()["meta"]["request_id"]


def test_fail_next_answers_one_request_with_an_error(fake_paddle, client):  # noqa: F811
    fake_paddle.fail_next("POST", "/transactions", status=503, code="service_unavailable", detail="down")
    with pytest.raises(ApiError) as caught:
        _create_transaction(client)
    assert (caught.value.response.status_code, caught.value.error_code) == (503, "service_unavailable")
    assert _create_transaction(client).id.startswith("txn_")


# --- webhooks --------------------------------------------------------------------------------------


def _verify(body, headers, secret=DEFAULT_WEBHOOK_SECRET, **verifier):
    return Verifier(**verifier).verify(WebhookRequest(body, headers), Secret(secret))


@pytest.fixture(autouse=True)
def _drift_check_on(monkeypatch):
    monkeypatch.delenv("TEST_MODE", raising=False)  # TEST_MODE=1 would switch the SDK's time check off


@pytest.mark.parametrize(
    ("payload", "entity"),
    [
        (
            transaction_completed("txn_01given", STARTER, 2, {"clozit_account": 9}, "2380", tax_minor="380"),
            TransactionNotification,
        ),
        (
            event("adjustment.updated", adjustment(None, "txn_01given", "chargeback", "approved", "1190")),
            AdjustmentNotification,
        ),
        (
            event(
                "subscription.updated",
                subscription(
                    "sub_01given",
                    "active",
                    MONTHLY,
                    {"clozit_account": 9},
                    {"starts_at": "2026-01-01T00:00:00.000000Z", "ends_at": "2026-02-01T00:00:00.000000Z"},
                    {"action": "cancel", "effective_at": "2026-02-01T00:00:00.000000Z"},
                ),
            ),
            SubscriptionNotification,
        ),
    ],
    ids=["transaction.completed", "adjustment.updated", "subscription.updated"],
)
def test_signed_webhooks_verify_and_parse_with_the_sdk(payload, entity):
    body, headers = signed_webhook(DEFAULT_WEBHOOK_SECRET, payload)

    assert _verify(body, headers) is True
    timestamp, digest = re.fullmatch(r"ts=(\d+);h1=([0-9a-f]{64})", headers["Paddle-Signature"]).groups()
    assert abs(int(timestamp) - time.time()) < 5
    parsed = Event.from_dict(json.loads(body))  # the SDK swallows parse errors into UndefinedEntity
    assert isinstance(parsed.data, entity)
    assert parsed.event_id.startswith("evt_") and json.loads(body)["notification_id"].startswith("ntf_")


def test_transaction_completed_payload_shape():
    data = transaction_completed(
        "txn_01given", STARTER, 2, {"clozit_account": 9}, "2380", "EUR", "325-10001", tax_minor="380"
    )["data"]
    assert (data["id"], data["status"], data["invoice_number"]) == ("txn_01given", "completed", "325-10001")
    assert data["items"] == [{"price": data["items"][0]["price"], "quantity": 2, "proration": None}]
    assert data["items"][0]["price"]["id"] == STARTER and data["custom_data"] == {"clozit_account": 9}
    totals = data["details"]["totals"]
    assert (totals["subtotal"], totals["tax"], totals["total"], totals["grand_total"]) == (
        "2000",
        "380",
        "2380",
        "2380",
    )
    assert totals["currency_code"] == "EUR" and data["billed_at"] and data["customer_id"].startswith("ctm_")


def test_a_completed_fake_transaction_makes_a_webhook(fake_paddle, client):  # noqa: F811
    txn = _create_transaction(client, custom_data=CustomData({"clozit_account": 4}))
    body, headers = signed_webhook("s3cret", event("transaction.completed", fake_paddle.complete_transaction(txn.id)))
    assert _verify(body, headers, "s3cret")
    parsed = Event.from_dict(json.loads(body))
    assert parsed.data.id == txn.id and parsed.data.custom_data.data == {"clozit_account": 4}


def test_tampered_body_fails_verification():
    body, headers = signed_webhook(DEFAULT_WEBHOOK_SECRET, transaction_completed(total_minor="1000"))
    assert _verify(body.replace(b'"total":"1000"', b'"total":"9000"'), headers) is False


def test_wrong_secret_fails_verification():
    body, headers = signed_webhook("pdl_ntfset_other", transaction_completed())
    assert _verify(body, headers) is False


@pytest.mark.parametrize("offset", [-6, -300, +6], ids=["just-stale", "stale", "future"])
def test_timestamp_outside_the_verifiers_variance_fails(offset):
    body, headers = signed_webhook(DEFAULT_WEBHOOK_SECRET, transaction_completed(), timestamp=time.time() + offset)
    assert _verify(body, headers) is False  # default maximum_variance is 5 seconds
    assert _verify(body, headers, maximum_variance=600) is True


def test_signed_webhook_refuses_payloads_paddle_would_never_send():
    """Hand-made payloads missing most of Paddle's fields once hid which fields the app really
    relies on (a subscription payment's `subscription_id` among them): the builder checks the shape
    with the SDK's own parser, unless a test sends a malformed event on purpose."""
    bare = {
        "event_id": "evt_01x",
        "event_type": "transaction.completed",
        "occurred_at": "2026-01-01T00:00:00Z",
        "data": {"id": "txn_01x", "items": []},
    }
    with pytest.raises(AssertionError, match="not a Paddle notification"):
        signed_webhook(DEFAULT_WEBHOOK_SECRET, bare)  # no notification_id
    with pytest.raises(AssertionError, match="cannot parse"):
        signed_webhook(DEFAULT_WEBHOOK_SECRET, {**bare, "notification_id": "ntf_01x"})
    body, _ = signed_webhook(DEFAULT_WEBHOOK_SECRET, bare, malformed=True)
    assert json.loads(body) == bare
    signed_webhook(DEFAULT_WEBHOOK_SECRET, transaction_completed())  # the builders' payloads pass
