"""A local fake of the Paddle Billing API, and builders for signed Paddle webhooks, for tests.

`FakePaddle` is a real HTTP server on 127.0.0.1 that the real `paddle-python-sdk` talks to
(`paddle_client(fake)` builds such a client). It answers in Paddle's wire format: the envelope
`{"data": ..., "meta": {"request_id": ...}}`, errors as
`{"error": {"type": "request_error", "code", "detail", "documentation_url"[, "errors"]}, "meta": ...}`,
and entities complete enough for the SDK's `from_dict` (shapes copied from the SDK's own fixtures).

Endpoints:
    POST  /pricing-preview                 prices a list of catalogue prices for a place
    POST  /transactions                    creates a `draft` (or `ready`) transaction with a checkout URL
    GET   /transactions/{id}
    POST  /adjustments                     refunds a completed transaction (`pending_approval`)
    GET   /subscriptions/{id}
    PATCH /subscriptions/{id}              custom_data, items, next_billed_at, `scheduled_change: null`
    POST  /subscriptions/{id}/cancel       `next_billing_period` (scheduled) or `immediately`

Every request must carry `Authorization: Bearer <api_key>`; as on Paddle, a missing header is 403
`authentication_missing`, a header that is not a bearer token 403 `authentication_malformed`, and a
wrong key 403 `invalid_token` (https://developer.paddle.com/errors/shared/invalid_token).

Money is in minor units, as strings, as Paddle sends it. Tax, simplified and documented:
    * Prices are tax-exclusive (tax is added on top), whatever the price's `tax_mode` says.
    * The rate comes from `tax_rates` by country (DEFAULT_TAX_RATES: DE 19 %, GB 20 %, ...; unknown
      countries 0 %). The US is 0 % without a postal code and `us_postal_tax_rate` (8.875 %, New York)
      with one. Only an address in the request places the customer; a bare `customer_ip_address` is
      looked up in `ip_countries` (empty by default, so untaxed).
    * Tax is rounded half-up to a minor unit, per line (`totals`) and per unit (`unit_totals`).
    * Transactions carry no tax until `complete_transaction(..., country_code=...)`, as the
      checkout is where Paddle learns the address.
    * Paddle's fee on a payment is 5 % + 50 minor units; on a refund 5 % of the amount refunded.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

import pytest
from paddle_billing import Client, Options
from paddle_billing.Notifications.PaddleSignature import PaddleSignature

DEFAULT_API_KEY = "pdl_sdbx_apikey_01fakepaddlekeyforclozittests"
DEFAULT_WEBHOOK_SECRET = "pdl_ntfset_01fakepaddlesecret_clozittestswebhooksecret"

DEFAULT_TAX_RATES: dict[str, str] = {
    "DE": "0.19",
    "AT": "0.2",
    "FR": "0.2",
    "GB": "0.2",
    "IT": "0.22",
    "ES": "0.21",
    "NL": "0.21",
    "IE": "0.23",
    "CH": "0.081",
    "US": "0",
}
US_POSTAL_TAX_RATE = "0.08875"

# The catalogue the fake knows unless given another:
# price id -> (unit amount in minor units, currency, name[, billing interval for recurring prices]).
DEFAULT_PRICES: dict[str, tuple] = {
    "pri_01jfakepaddle0starter00001": (1000, "USD", "Starter credits"),
    "pri_01jfakepaddle0growth000002": (4500, "USD", "Growth credits"),
    "pri_01jfakepaddle0euro00000003": (2000, "EUR", "Credits (EUR)"),
    "pri_01jfakepaddle0monthly00004": (2900, "USD", "Monthly plan", "month"),
}

PAYMENT_FEE_RATE = Decimal("0.05")
PAYMENT_FEE_FIXED = 50
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "AUD": "A$", "CAD": "CA$", "JPY": "¥", "INR": "₹"}
_ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW"}


# --- small helpers -------------------------------------------------------------------------------


def paddle_id(prefix: str) -> str:
    """A Paddle-shaped id, `<prefix>_` + 26 of [a-z0-9] (e.g. `txn_01hv8wptq8987qeep44cyrewp9`)."""
    return f"{prefix}_01" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a `Z`, as Paddle writes datetimes."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> datetime:
    return datetime.now(UTC)


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _period_end(start: datetime, interval: str, frequency: int = 1) -> datetime:
    if interval == "year":
        return _add_months(start, 12 * frequency)
    if interval == "week":
        return start + timedelta(weeks=frequency)
    if interval == "day":
        return start + timedelta(days=frequency)
    return _add_months(start, frequency)


def _rate_str(rate: Decimal) -> str:
    text = format(rate.normalize(), "f")
    return text if text else "0"


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def tax_on(amount_minor: int, rate: Decimal | str) -> int:
    """Tax on a tax-exclusive amount, rounded half-up to a minor unit."""
    return _round(Decimal(amount_minor) * Decimal(rate))


def tax_within(amount_minor: int, rate: Decimal | str) -> int:
    """The tax contained in a tax-inclusive amount (used to split refund amounts)."""
    rate = Decimal(rate)
    return _round(Decimal(amount_minor) * rate / (1 + rate))


def format_money(amount_minor: int | str, currency: str) -> str:
    """Roughly Paddle's `formatted_*` strings: `$6,000.00`, `€11.90`, `£12.00`."""
    amount = int(amount_minor)
    sign = "-" if amount < 0 else ""
    digits = 0 if currency in _ZERO_DECIMAL_CURRENCIES else 2
    major = Decimal(abs(amount)).scaleb(-digits)
    symbol = _CURRENCY_SYMBOLS.get(currency, f"{currency} ")
    return f"{sign}{symbol}{major:,.{digits}f}"


def payment_fee(total_minor: int) -> int:
    return _round(Decimal(total_minor) * PAYMENT_FEE_RATE) + PAYMENT_FEE_FIXED if total_minor > 0 else 0


def _totals(subtotal: int, tax: int, discount: int = 0) -> dict[str, str]:
    return {
        "subtotal": str(subtotal),
        "discount": str(discount),
        "tax": str(tax),
        "total": str(subtotal - discount + tax),
    }


# --- catalogue entities --------------------------------------------------------------------------


@dataclass
class FakePrice:
    """A catalogue price the fake knows. `billing_interval` None is a one-time price."""

    id: str
    amount_minor: int
    currency: str = "USD"
    name: str = "Credits"
    product_id: str | None = None
    product_name: str | None = None
    billing_interval: str | None = None
    billing_frequency: int = 1

    def __post_init__(self):
        if self.product_id is None:
            self.product_id = "pro_" + self.id.removeprefix("pri_")
        if self.product_name is None:
            self.product_name = self.name

    def entity(self) -> dict[str, Any]:
        return price_entity(
            self.id,
            self.amount_minor,
            self.currency,
            self.name,
            product_id=self.product_id,
            billing_interval=self.billing_interval,
            billing_frequency=self.billing_frequency,
        )

    def product(self) -> dict[str, Any]:
        return product_entity(self.product_id, self.product_name)


_CATALOGUE_CREATED_AT = "2025-01-06T09:30:00.000000Z"


def price_entity(
    price_id: str,
    amount_minor: int | str,
    currency: str = "USD",
    name: str = "Credits",
    *,
    product_id: str | None = None,
    billing_interval: str | None = None,
    billing_frequency: int = 1,
    custom_data: dict | None = None,
) -> dict[str, Any]:
    """Paddle's price entity (as nested in transactions, previews, subscriptions)."""
    return {
        "id": price_id,
        "product_id": product_id or "pro_" + price_id.removeprefix("pri_"),
        "type": "standard",
        "description": name,
        "name": name,
        "billing_cycle": ({"interval": billing_interval, "frequency": billing_frequency} if billing_interval else None),
        "trial_period": None,
        "tax_mode": "account_setting",
        "unit_price": {"amount": str(amount_minor), "currency_code": currency},
        "unit_price_overrides": [],
        "quantity": {"minimum": 1, "maximum": 100},
        "status": "active",
        "custom_data": custom_data,
        "import_meta": None,
        "created_at": _CATALOGUE_CREATED_AT,
        "updated_at": _CATALOGUE_CREATED_AT,
    }


def product_entity(product_id: str, name: str = "Credits") -> dict[str, Any]:
    return {
        "id": product_id,
        "name": name,
        "type": "standard",
        "description": name,
        "tax_category": "standard",
        "image_url": None,
        "custom_data": None,
        "status": "active",
        "import_meta": None,
        "created_at": _CATALOGUE_CREATED_AT,
        "updated_at": _CATALOGUE_CREATED_AT,
    }


# --- transaction, adjustment and subscription entities -------------------------------------------


@dataclass
class _Line:
    price: dict[str, Any]
    product: dict[str, Any]
    quantity: int
    subtotal: int
    tax: int
    tax_rate: Decimal


def _line_for(price: FakePrice, quantity: int, rate: Decimal) -> _Line:
    subtotal = price.amount_minor * quantity
    return _Line(price.entity(), price.product(), quantity, subtotal, tax_on(subtotal, rate), rate)


def _captured_payment(amount_minor: int, at: datetime) -> dict[str, Any]:
    return {
        "payment_attempt_id": str(uuid.uuid4()),
        "stored_payment_method_id": str(uuid.uuid4()),
        "payment_method_id": paddle_id("paymtd"),
        "amount": str(amount_minor),
        "status": "captured",
        "error_code": None,
        "method_details": {
            "type": "card",
            "card": {
                "type": "visa",
                "last4": "4242",
                "expiry_month": 12,
                "expiry_year": at.year + 3,
                "cardholder_name": "Test Customer",
            },
            "south_korea_local_card": None,
            "underlying_details": None,
        },
        "created_at": iso(at - timedelta(seconds=14)),
        "captured_at": iso(at),
    }


def _transaction_entity(
    *,
    txn_id: str,
    status: str,
    lines: list[_Line],
    currency: str,
    custom_data: dict | None = None,
    customer_id: str | None = None,
    address_id: str | None = None,
    subscription_id: str | None = None,
    invoice_number: str | None = None,
    checkout_url: str | None = None,
    origin: str = "api",
    collection_mode: str = "automatic",
    created_at: datetime | None = None,
    billed_at: datetime | None = None,
    line_item_ids: list[str] | None = None,
) -> dict[str, Any]:
    created = created_at or _now()
    paid = status in ("paid", "completed")
    subtotal = sum(line.subtotal for line in lines)
    tax = sum(line.tax for line in lines)
    total = subtotal + tax
    fee = payment_fee(total) if paid else None
    earnings = subtotal - fee if paid else None
    totals = {
        "subtotal": str(subtotal),
        "tax": str(tax),
        "discount": "0",
        "total": str(total),
        "grand_total": str(total),
        "grand_total_tax": str(tax),
        "fee": None if fee is None else str(fee),
        "credit": "0",
        "credit_to_balance": "0",
        "balance": "0" if paid else str(total),
        "earnings": None if earnings is None else str(earnings),
        "currency_code": currency,
    }
    rates: dict[Decimal, list[int]] = {}
    for line in lines:
        sums = rates.setdefault(line.tax_rate, [0, 0])
        sums[0] += line.subtotal
        sums[1] += line.tax
    ids = line_item_ids or [paddle_id("txnitm") for _ in lines]
    billed = billed_at or (created if paid else None)
    return {
        "id": txn_id,
        "status": status,
        "customer_id": customer_id,
        "address_id": address_id,
        "business_id": None,
        "custom_data": custom_data,
        "origin": origin,
        "collection_mode": collection_mode,
        "subscription_id": subscription_id,
        "invoice_id": paddle_id("inv") if paid and invoice_number else None,
        "invoice_number": invoice_number,
        "billing_details": None,
        "billing_period": None,
        "currency_code": currency,
        "discount_id": None,
        "created_at": iso(created),
        "updated_at": iso(billed or created),
        "billed_at": iso(billed) if billed else None,
        "revised_at": None,
        "items": [{"price": line.price, "quantity": line.quantity, "proration": None} for line in lines],
        "details": {
            "tax_rates_used": [
                {"tax_rate": _rate_str(rate), "totals": _totals(sub, t)} for rate, (sub, t) in rates.items()
            ],
            "totals": totals,
            "adjusted_totals": {
                "subtotal": str(subtotal),
                "tax": str(tax),
                "total": str(total),
                "grand_total": str(total),
                "grand_total_tax": str(tax),
                "fee": "0" if fee is None else str(fee),
                "earnings": "0" if earnings is None else str(earnings),
                "currency_code": currency,
                "retained_fee": "0",
            },
            "payout_totals": ({**totals, "exchange_rate": "1", "fee_rate": str(PAYMENT_FEE_RATE)} if paid else None),
            "adjusted_payout_totals": None,
            "line_items": [
                {
                    "id": item_id,
                    "price_id": line.price["id"],
                    "quantity": line.quantity,
                    "proration": None,
                    "tax_rate": _rate_str(line.tax_rate),
                    "unit_totals": _totals(
                        int(line.price["unit_price"]["amount"]),
                        tax_on(int(line.price["unit_price"]["amount"]), line.tax_rate),
                    ),
                    "totals": _totals(line.subtotal, line.tax),
                    "product": line.product,
                }
                for item_id, line in zip(ids, lines, strict=True)
            ],
        },
        "payments": [_captured_payment(total, billed)] if paid else [],
        "checkout": {"url": checkout_url},
    }


def transaction(
    txn_id: str | None = None,
    price_id: str = "pri_01jfakepaddle0starter00001",
    quantity: int = 1,
    custom_data: dict | None = None,
    total_minor: int | str = "1000",
    currency: str = "USD",
    invoice_number: str | None = None,
    *,
    status: str = "completed",
    tax_minor: int | str = "0",
    price_name: str = "Credits",
    customer_id: str | None = None,
    address_id: str | None = None,
    subscription_id: str | None = None,
    origin: str = "api",
    created_at: datetime | None = None,
    billed_at: datetime | None = None,
) -> dict[str, Any]:
    """A transaction entity (as in `transaction.*` webhooks and the API) for one price.

    `total_minor` is the grand total the customer paid, tax included; `tax_minor` the tax in it.
    Paid (`paid`/`completed`) transactions get a customer, an invoice number, a captured card
    payment, Paddle's fee and the payout totals.
    """
    total, tax = int(total_minor), int(tax_minor)
    subtotal = total - tax
    paid = status in ("paid", "completed")
    rate = (Decimal(tax) / Decimal(subtotal)).quantize(Decimal("0.0001")) if subtotal else Decimal("0")
    unit = subtotal // quantity if quantity else subtotal
    line = _Line(
        price_entity(price_id, unit, currency, price_name),
        product_entity("pro_" + price_id.removeprefix("pri_"), price_name),
        quantity,
        subtotal,
        tax,
        rate,
    )
    txn_id = txn_id or paddle_id("txn")
    return _transaction_entity(
        txn_id=txn_id,
        status=status,
        lines=[line],
        currency=currency,
        custom_data=custom_data,
        customer_id=customer_id or (paddle_id("ctm") if paid else None),
        address_id=address_id or (paddle_id("add") if paid else None),
        subscription_id=subscription_id,
        invoice_number=invoice_number or (f"325-{secrets.randbelow(90000) + 10000}" if status == "completed" else None),
        checkout_url=f"https://clozit.test/billing/pay?_ptxn={txn_id}",
        origin=origin,
        created_at=created_at,
        billed_at=billed_at,
    )


def adjustment(
    adj_id: str | None = None,
    txn_id: str | None = None,
    action: str = "refund",
    status: str = "approved",
    total_minor: int | str = "1000",
    type: str = "full",
    *,
    currency: str = "USD",
    tax_minor: int | str = "0",
    reason: str = "Refund requested by the customer",
    customer_id: str | None = None,
    subscription_id: str | None = None,
    item_id: str | None = None,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
) -> dict[str, Any]:
    """An adjustment entity (as in `adjustment.created` / `adjustment.updated` webhooks).

    action: refund | credit | chargeback | chargeback_reverse | chargeback_warning | ...;
    status: pending_approval | approved | rejected | reversed; type: full | partial.
    `total_minor` is the amount adjusted, tax included.
    """
    total, tax = int(total_minor), int(tax_minor)
    subtotal = total - tax
    fee = _round(Decimal(total) * PAYMENT_FEE_RATE)
    created = created_at or _now()
    item_totals = {"subtotal": str(subtotal), "tax": str(tax), "total": str(total)}
    money = {
        **item_totals,
        "fee": str(fee),
        "earnings": str(subtotal - fee),
        "currency_code": currency,
        "retained_fee": "0",
    }
    rate = (Decimal(tax) / Decimal(subtotal)).quantize(Decimal("0.0001")) if subtotal else Decimal("0")
    return {
        "id": adj_id or paddle_id("adj"),
        "action": action,
        "type": type,
        "transaction_id": txn_id or paddle_id("txn"),
        "subscription_id": subscription_id,
        "customer_id": customer_id or paddle_id("ctm"),
        "reason": reason,
        "credit_applied_to_balance": None if action != "credit" else False,
        "currency_code": currency,
        "status": status,
        "items": [
            {
                "id": paddle_id("adjitm"),
                "item_id": item_id or paddle_id("txnitm"),
                "type": type,
                "amount": str(total),
                "proration": None,
                "totals": item_totals,
            }
        ],
        "totals": money,
        "payout_totals": {**money, "chargeback_fee": None},
        "tax_rates_used": [{"tax_rate": _rate_str(rate), "totals": item_totals}],
        "created_at": iso(created),
        "updated_at": iso(updated_at or created),
    }


def subscription(
    sub_id: str | None = None,
    status: str = "active",
    price_id: str = "pri_01jfakepaddle0monthly00004",
    custom_data: dict | None = None,
    current_billing_period: dict[str, str] | None = None,
    scheduled_change: dict[str, Any] | None = None,
    *,
    quantity: int = 1,
    unit_amount_minor: int | str = "2900",
    currency: str = "USD",
    price_name: str = "Monthly plan",
    billing_interval: str = "month",
    customer_id: str | None = None,
    address_id: str | None = None,
    created_at: datetime | None = None,
    canceled_at: datetime | None = None,
) -> dict[str, Any]:
    """A subscription entity (as in `subscription.*` webhooks and the API).

    `current_billing_period` is {"starts_at", "ends_at"} (ISO 8601); by default the month (or
    `billing_interval`) starting now. Canceled subscriptions have no current period and no next
    billing date. `scheduled_change` is {"action": "cancel"|"pause"|"resume", "effective_at",
    "resume_at"?}; a scheduled cancel or pause also clears the next billing date, as on Paddle.
    """
    now = _now()
    canceled = status == "canceled"
    if current_billing_period is None and not canceled:
        current_billing_period = {"starts_at": iso(now), "ends_at": iso(_period_end(now, billing_interval))}
    if scheduled_change is not None:
        scheduled_change = {"resume_at": None, **scheduled_change}
    next_billed_at = None
    billing = current_billing_period and status in ("active", "trialing", "past_due")
    if billing and (not scheduled_change or scheduled_change["action"] == "resume"):
        next_billed_at = current_billing_period["ends_at"]
    started = created_at or (
        datetime.fromisoformat(current_billing_period["starts_at"]) if current_billing_period else now
    )
    price = price_entity(price_id, unit_amount_minor, currency, price_name, billing_interval=billing_interval)
    sub_id = sub_id or paddle_id("sub")
    return {
        "id": sub_id,
        "status": status,
        "customer_id": customer_id or paddle_id("ctm"),
        "address_id": address_id or paddle_id("add"),
        "business_id": None,
        "currency_code": currency,
        "created_at": iso(started),
        "updated_at": iso(now),
        "started_at": iso(started),
        "first_billed_at": iso(started),
        "next_billed_at": next_billed_at,
        "paused_at": iso(now) if status == "paused" else None,
        "canceled_at": iso(canceled_at or now) if canceled else None,
        "collection_mode": "automatic",
        "billing_details": None,
        "current_billing_period": current_billing_period,
        "billing_cycle": {"interval": billing_interval, "frequency": 1},
        "scheduled_change": scheduled_change,
        "discount": None,
        "items": [
            {
                "status": "inactive" if canceled else "active",
                "quantity": quantity,
                "recurring": True,
                "created_at": iso(started),
                "updated_at": iso(now),
                "previously_billed_at": current_billing_period["starts_at"] if current_billing_period else None,
                "next_billed_at": next_billed_at,
                "trial_dates": None,
                "price": price,
                "product": product_entity(price["product_id"], price_name),
            }
        ],
        "custom_data": custom_data,
        "import_meta": None,
    }


# --- webhook payloads and signatures -------------------------------------------------------------


def event(
    event_type: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    occurred_at: datetime | str | None = None,
    notification_id: str | None = None,
) -> dict[str, Any]:
    """A Paddle notification body: {event_id, event_type, occurred_at, notification_id, data}."""
    if isinstance(occurred_at, datetime):
        occurred_at = iso(occurred_at)
    return {
        "event_id": event_id or paddle_id("evt"),
        "event_type": event_type,
        "occurred_at": occurred_at or iso(_now()),
        "notification_id": notification_id or paddle_id("ntf"),
        "data": data,
    }


def transaction_completed(
    txn_id: str | None = None,
    price_id: str = "pri_01jfakepaddle0starter00001",
    quantity: int = 1,
    custom_data: dict | None = None,
    total_minor: int | str = "1000",
    currency: str = "USD",
    invoice_number: str | None = None,
    *,
    event_id: str | None = None,
    occurred_at: datetime | str | None = None,
    **transaction_fields: Any,
) -> dict[str, Any]:
    """A whole `transaction.completed` event (not just its data); extra keywords go to `transaction()`."""
    data = transaction(
        txn_id, price_id, quantity, custom_data, total_minor, currency, invoice_number, **transaction_fields
    )
    return event("transaction.completed", data, event_id=event_id, occurred_at=occurred_at)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Paddle-Signature` header value for a raw body: `ts=<unix>;h1=<hex HMAC-SHA256>`."""
    digest = PaddleSignature.calculate_hmac(secret, f"{timestamp}:".encode() + body).hexdigest()
    return f"ts={timestamp};h1={digest}"


def paddle_shape_problem(payload: Any) -> str | None:
    """Why Paddle would never send `payload`, or None: the envelope must be Paddle's
    (`notification_id`, `event_id`, `event_type`, `occurred_at`, `data`) and, for an event type the
    SDK knows, its `data` must parse into the SDK's typed entity (the SDK itself swallows parse
    errors into an `UndefinedEntity`, so a hand-made payload missing half of Paddle's fields would
    otherwise pass unnoticed)."""
    from paddle_billing.Entities.Notifications import NotificationEvent
    from paddle_billing.Notifications.Entities.UndefinedEntity import UndefinedEntity

    try:
        parsed = NotificationEvent.from_dict(payload)
    except (KeyError, TypeError, ValueError) as exc:
        return f"not a Paddle notification: {exc!r}"
    if parsed.event_type.is_known() and isinstance(parsed.data, UndefinedEntity):
        return f"the SDK cannot parse this {payload['event_type']} data as Paddle's entity"
    return None


def signed_webhook(
    secret: str,
    payload: dict[str, Any],
    *,
    timestamp: int | float | datetime | None = None,
    malformed: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """(raw body, headers) for a webhook Paddle signed with `secret` at `timestamp` (default now).

    Post it as-is, e.g. `client.post(url, body, content_type="application/json", headers=headers)`.
    Refuses (AssertionError) a payload Paddle would never send, see `paddle_shape_problem`; tests of
    malformed events say so with `malformed=True`.
    """
    if not malformed:
        problem = paddle_shape_problem(payload)
        assert problem is None, f"Paddle would not send this webhook: {problem}"
    if isinstance(timestamp, datetime):
        timestamp = timestamp.timestamp()
    ts = int(time.time() if timestamp is None else timestamp)
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, {"Paddle-Signature": sign(secret, body, ts)}


@dataclass
class WebhookRequest:
    """Request-like object for `paddle_billing.Notifications.Verifier().verify(request, secret)`."""

    body: bytes
    headers: dict[str, str]


# --- the fake API server -------------------------------------------------------------------------


class RecordedRequest(NamedTuple):
    method: str
    path: str  # with the query string, if any
    json: Any
    headers: dict[str, str]


class PaddleApiError(Exception):
    """Raised inside the fake to answer with Paddle's error envelope."""

    def __init__(self, status: int, code: str, detail: str, errors: list[dict[str, str]] | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors = status, code, detail, errors


def _documentation_url(code: str) -> str:
    group = "shared"
    for prefix, name in (
        ("transaction_", "transactions"),
        ("adjustment_", "adjustments"),
        ("subscription_", "subscriptions"),
        ("price_", "prices"),
    ):
        if code.startswith(prefix):
            group = name
    return f"https://developer.paddle.com/errors/{group}/{code}"


def error_envelope(code: str, detail: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "type": "request_error",
        "code": code,
        "detail": detail,
        "documentation_url": _documentation_url(code),
    }
    if errors:
        error["errors"] = errors
    return {"error": error, "meta": {"request_id": str(uuid.uuid4())}}


def _not_found(entity_id: str) -> PaddleApiError:
    return PaddleApiError(404, "not_found", f"Entity {entity_id} not found")


def _bad_request(field: str, message: str) -> PaddleApiError:
    return PaddleApiError(400, "bad_request", "Invalid request.", [{"field": field, "message": message}])


class FakePaddle:
    """A Paddle Billing API on 127.0.0.1:<random port>, for the real SDK. See the module docstring.

    State is public and plain (dicts of JSON-ready entities) so tests can read or seed it:
    `prices`, `transactions`, `adjustments`, `subscriptions`; `requests` records every call.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        prices: Mapping[str, tuple[int, str, str] | FakePrice] | None = None,
        tax_rates: Mapping[str, str] | None = None,
        us_postal_tax_rate: str = US_POSTAL_TAX_RATE,
        ip_countries: Mapping[str, str] | None = None,
        subscriptions: list[dict[str, Any]] | None = None,
        checkout_url: str = "https://clozit.test/billing/pay",
        auto_approve_refunds: bool = False,
    ):
        self.api_key = api_key
        self.tax_rates = dict(DEFAULT_TAX_RATES if tax_rates is None else tax_rates)
        self.us_postal_tax_rate = us_postal_tax_rate
        self.ip_countries = dict(ip_countries or {})
        self.checkout_url = checkout_url
        self.auto_approve_refunds = auto_approve_refunds
        self.prices: dict[str, FakePrice] = {}
        self.transactions: dict[str, dict[str, Any]] = {}
        self.adjustments: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self._failures: list[tuple[str, str, int, str, str]] = []
        self._invoice_counter = 10000
        self._lock = threading.RLock()
        for price_id, spec in (DEFAULT_PRICES if prices is None else prices).items():
            if isinstance(spec, FakePrice):
                self.prices[price_id] = spec
            else:
                self.add_price(price_id, *spec)
        for sub in subscriptions or []:
            self.add_subscription(sub)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-paddle", daemon=True
        )  # a short poll interval makes stop() quick
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    # lifecycle

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakePaddle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # seeding and test controls

    def add_price(
        self,
        price_id: str,
        amount_minor: int,
        currency: str = "USD",
        name: str = "Credits",
        billing_interval: str | None = None,
    ) -> FakePrice:
        price = FakePrice(price_id, int(amount_minor), currency, name, billing_interval=billing_interval)
        with self._lock:
            self.prices[price_id] = price
        return price

    def add_transaction(self, data: dict[str, Any]) -> dict[str, Any]:
        """Seed a transaction entity, e.g. `transaction(...)` or a webhook's `["data"]`."""
        with self._lock:
            self.transactions[data["id"]] = data
        return data

    def add_subscription(self, data: dict[str, Any] | None = None, **subscription_fields: Any) -> dict[str, Any]:
        """Seed a subscription: an entity, or keywords for `subscription()` (price details come
        from the catalogue when `price_id` is a known price)."""
        if data is None:
            price = self.prices.get(subscription_fields.get("price_id", ""))
            if price is not None:
                subscription_fields.setdefault("unit_amount_minor", price.amount_minor)
                subscription_fields.setdefault("currency", price.currency)
                subscription_fields.setdefault("price_name", price.name)
                subscription_fields.setdefault("billing_interval", price.billing_interval or "month")
            data = subscription(**subscription_fields)
        data = {**data, "management_urls": self._management_urls(data["id"])}
        with self._lock:
            self.subscriptions[data["id"]] = data
        return data

    def complete_transaction(
        self,
        txn_id: str,
        *,
        country_code: str | None = None,
        postal_code: str | None = None,
        customer_id: str | None = None,
        invoice_number: str | None = None,
    ) -> dict[str, Any]:
        """What Paddle does when the checkout is paid: tax for the customer's place, a customer,
        a captured payment, an invoice number, status `completed`. Returns the entity (use it as
        the data of a `transaction.completed` webhook: `event("transaction.completed", data)`)."""
        with self._lock:
            txn = self.transactions[txn_id]
            rate = self.tax_rate(country_code, postal_code)
            lines = []
            for item in txn["items"]:
                price = self.prices.get(item["price"]["id"]) or FakePrice(
                    item["price"]["id"],
                    int(item["price"]["unit_price"]["amount"]),
                    item["price"]["unit_price"]["currency_code"],
                    item["price"]["name"] or "Credits",
                )
                lines.append(_line_for(price, item["quantity"], rate))
            self._invoice_counter += 1
            completed = _transaction_entity(
                txn_id=txn_id,
                status="completed",
                lines=lines,
                currency=txn["currency_code"],
                custom_data=txn["custom_data"],
                customer_id=customer_id or txn["customer_id"] or paddle_id("ctm"),
                address_id=txn["address_id"] or paddle_id("add"),
                subscription_id=txn["subscription_id"],
                invoice_number=invoice_number or f"325-{self._invoice_counter}",
                checkout_url=txn["checkout"]["url"],
                origin=txn["origin"],
                collection_mode=txn["collection_mode"],
                created_at=datetime.fromisoformat(txn["created_at"]),
                billed_at=_now(),
                line_item_ids=[line["id"] for line in txn["details"]["line_items"]],
            )
            self.transactions[txn_id] = completed
            return completed

    def set_adjustment_status(self, adj_id: str, status: str = "approved") -> dict[str, Any]:
        """Paddle approving (or rejecting) a refund; returns the entity for an `adjustment.updated` webhook."""
        with self._lock:
            adj = self.adjustments[adj_id]
            adj.update(status=status, updated_at=iso(_now()))
            return adj

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 500,
        code: str = "internal_error",
        detail: str = "Internal error.",
    ) -> None:
        """Answer the next `method` request whose path starts with `path` with this Paddle error."""
        with self._lock:
            self._failures.append((method.upper(), path, status, code, detail))

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path.startswith(path_prefix)]

    def tax_rate(self, country_code: str | None, postal_code: str | None = None) -> Decimal:
        if not country_code:
            return Decimal("0")
        country_code = str(country_code).upper()
        if country_code == "US" and postal_code:
            return Decimal(self.us_postal_tax_rate)
        return Decimal(self.tax_rates.get(country_code, "0"))

    def _management_urls(self, sub_id: str) -> dict[str, str]:
        portal = f"https://sandbox-customer-portal.paddle.com/cpl_01fakeportal/subscriptions/{sub_id}"
        return {"update_payment_method": f"{portal}/update-payment-method", "cancel": f"{portal}/cancel"}

    # request handling

    # (method, path pattern, handler, HTTP status on success: Paddle answers 201 to creations)
    _ROUTES: list[tuple[str, re.Pattern[str], str, int]] = [
        ("POST", re.compile(r"^/pricing-preview$"), "_pricing_preview", 200),
        ("POST", re.compile(r"^/transactions$"), "_create_transaction", 201),
        ("GET", re.compile(r"^/transactions/(?P<entity_id>[^/]+)$"), "_get_transaction", 200),
        ("GET", re.compile(r"^/transactions/(?P<entity_id>[^/]+)/invoice$"), "_get_invoice", 200),
        ("POST", re.compile(r"^/adjustments$"), "_create_adjustment", 201),
        ("GET", re.compile(r"^/subscriptions/(?P<entity_id>[^/]+)$"), "_get_subscription", 200),
        ("PATCH", re.compile(r"^/subscriptions/(?P<entity_id>[^/]+)$"), "_update_subscription", 200),
        ("POST", re.compile(r"^/subscriptions/(?P<entity_id>[^/]+)/cancel$"), "_cancel_subscription", 200),
    ]

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> tuple[int, dict]:
        """One API call -> (HTTP status, JSON body). Public so it can be driven without HTTP."""
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = None
            parse_error = True
        else:
            parse_error = False
        with self._lock:
            self.requests.append(RecordedRequest(method, raw_path, body, headers))
        path = raw_path.split("?", 1)[0]
        try:
            self._authenticate(headers)
            failure = self._take_failure(method, path)
            if failure is not None:
                raise failure
            if parse_error:
                raise PaddleApiError(400, "bad_request", "Invalid request: the body is not valid JSON.")
            for route_method, pattern, handler_name, success in self._ROUTES:
                match = pattern.match(path)
                if match and route_method == method:
                    with self._lock:
                        data = getattr(self, handler_name)(body if isinstance(body, dict) else {}, **match.groupdict())
                        # a snapshot, so later changes to the stored entity do not leak into this answer
                        data = json.loads(json.dumps(data))
                    return success, {"data": data, "meta": {"request_id": str(uuid.uuid4())}}
            raise PaddleApiError(404, "not_found", f"The fake Paddle API has no {method} {path}.")
        except PaddleApiError as error:
            return error.status, error_envelope(error.code, error.detail, error.errors)

    def _authenticate(self, headers: dict[str, str]) -> None:
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if not authorization:
            raise PaddleApiError(403, "authentication_missing", "Authentication header missing.")
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token:
            raise PaddleApiError(
                403, "authentication_malformed", "Authentication header included, but incorrectly formatted."
            )
        if not secrets.compare_digest(token.encode(), self.api_key.encode()):
            raise PaddleApiError(403, "invalid_token", "Invalid or revoked API key.")

    def _take_failure(self, method: str, path: str) -> PaddleApiError | None:
        with self._lock:
            for index, (fail_method, prefix, status, code, detail) in enumerate(self._failures):
                if fail_method == method and path.startswith(prefix):
                    del self._failures[index]
                    return PaddleApiError(status, code, detail)
        return None

    def _catalogue_items(self, items: Any, code: str) -> list[tuple[FakePrice, int]]:
        if not isinstance(items, list) or not items:
            raise _bad_request("items", "items is required and must contain at least one item")
        resolved, unknown = [], []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("price_id"), str):
                raise _bad_request(f"items[{index}]", "the fake supports catalogue items ({price_id, quantity}) only")
            quantity = item.get("quantity", 1)
            if not isinstance(quantity, int) or quantity < 1:
                raise _bad_request(f"items[{index}].quantity", "quantity must be 1 or more")
            price = self.prices.get(item["price_id"])
            if price is None:
                unknown.append(item["price_id"])
            else:
                resolved.append((price, quantity))
        if unknown:
            raise PaddleApiError(
                400, code, f"One or more provided price_ids could not be found, provided: {', '.join(unknown)}"
            )
        currencies = {price.currency for price, _ in resolved}
        if len(currencies) > 1:
            raise _bad_request("items", f"the fake cannot mix currencies: {sorted(currencies)}")
        return resolved

    def _pricing_preview(self, body: dict[str, Any]) -> dict[str, Any]:
        items = self._catalogue_items(body.get("items"), "transaction_price_not_found")
        address = body.get("address") or None
        ip = body.get("customer_ip_address")
        if address:
            rate = self.tax_rate(address.get("country_code"), address.get("postal_code"))
        else:
            rate = self.tax_rate(self.ip_countries.get(ip or ""))
        currency = items[0][0].currency
        line_items = []
        for price, quantity in items:
            unit_tax = tax_on(price.amount_minor, rate)
            line = _line_for(price, quantity, rate)
            unit_totals = _totals(price.amount_minor, unit_tax)
            totals = _totals(line.subtotal, line.tax)
            line_items.append(
                {
                    "price": line.price,
                    "quantity": quantity,
                    "tax_rate": _rate_str(rate),
                    "unit_totals": unit_totals,
                    "formatted_unit_totals": {k: format_money(v, currency) for k, v in unit_totals.items()},
                    "totals": totals,
                    "formatted_totals": {k: format_money(v, currency) for k, v in totals.items()},
                    "product": line.product,
                    "discounts": [],
                }
            )
        return {
            "customer_id": body.get("customer_id"),
            "address_id": body.get("address_id"),
            "business_id": body.get("business_id"),
            "currency_code": currency,
            "discount_id": body.get("discount_id"),
            "address": (
                {"postal_code": address.get("postal_code"), "country_code": address.get("country_code")}
                if address
                else None
            ),
            "customer_ip_address": ip,
            "details": {"line_items": line_items},
            "available_payment_methods": ["apple_pay", "card", "google_pay", "paypal"],
        }

    def _create_transaction(self, body: dict[str, Any]) -> dict[str, Any]:
        items = self._catalogue_items(body.get("items"), "transaction_price_not_found")
        custom_data = body.get("custom_data")
        if custom_data is not None and not isinstance(custom_data, dict):
            raise _bad_request("custom_data", "custom_data must be an object")
        txn_id = paddle_id("txn")
        checkout_base = ((body.get("checkout") or {}).get("url")) or self.checkout_url
        customer_id, address_id = body.get("customer_id"), body.get("address_id")
        # Paddle: `ready` once it has items, a customer and an address; `draft` otherwise.
        status = "ready" if customer_id and address_id else "draft"
        txn = _transaction_entity(
            txn_id=txn_id,
            status=status,
            lines=[_line_for(price, quantity, Decimal("0")) for price, quantity in items],
            currency=body.get("currency_code") or items[0][0].currency,
            custom_data=custom_data,
            customer_id=customer_id,
            address_id=address_id,
            checkout_url=f"{checkout_base}?_ptxn={txn_id}",
            collection_mode=body.get("collection_mode") or "automatic",
        )
        self.transactions[txn_id] = txn
        return txn

    def _get_transaction(self, body: dict[str, Any], entity_id: str) -> dict[str, Any]:
        if entity_id not in self.transactions:
            raise _not_found(entity_id)
        return self.transactions[entity_id]

    def _get_invoice(self, body: dict[str, Any], entity_id: str) -> dict[str, Any]:
        """A short-lived link to the invoice PDF; only billed (completed) transactions have one."""
        txn = self.transactions.get(entity_id)
        if txn is None:
            raise _not_found(entity_id)
        if txn.get("status") not in ("billed", "paid", "completed"):
            raise _bad_request("transaction_id", "transaction has no invoice yet")
        return {"url": f"https://paddle-invoices.example/{entity_id}.pdf?token=fake"}

    def _create_adjustment(self, body: dict[str, Any]) -> dict[str, Any]:
        action, reason, txn_id = body.get("action"), body.get("reason"), body.get("transaction_id")
        adjustment_type = body.get("type") or "partial"
        if action not in ("refund", "credit"):
            raise _bad_request("action", "action must be one of: refund, credit")
        if not reason:
            raise _bad_request("reason", "reason is required")
        if adjustment_type not in ("full", "partial"):
            raise _bad_request("type", "type must be one of: full, partial")
        txn = self.transactions.get(txn_id or "")
        if txn is None:
            raise _not_found(txn_id or "")
        if action == "refund" and txn["status"] != "completed":
            raise PaddleApiError(
                400,
                "adjustment_transaction_invalid_status_for_refund",
                f"The transaction being adjusted (refund) has a non supported status. ID: {txn_id}",
            )
        if action == "credit" and (
            txn["collection_mode"] == "automatic" or txn["status"] not in ("billed", "past_due")
        ):
            raise PaddleApiError(
                400,
                "adjustment_invalid_credit_action",
                "You cannot create a credit adjustment for an automatically-collected transaction.",
            )
        earlier = [a for a in self.adjustments.values() if a["transaction_id"] == txn_id and a["status"] != "rejected"]
        if any(a["action"] == "refund" and a["status"] == "pending_approval" for a in earlier):
            raise PaddleApiError(
                400,
                "adjustment_pending_refund_request",
                "You are unable to create further adjustments against this transaction as there is a pending refund"
                " request",
            )
        lines = {line["id"]: line for line in txn["details"]["line_items"]}
        remaining = {item_id: int(line["totals"]["total"]) for item_id, line in lines.items()}
        for earlier_adjustment in earlier:
            for item in earlier_adjustment["items"]:
                if item["item_id"] in remaining:
                    remaining[item["item_id"]] -= int(item["totals"]["total"])

        wanted: list[tuple[str, str, int]] = []  # (item_id, item type, amount incl. tax)
        if adjustment_type == "full":
            wanted = [(item_id, "full", left) for item_id, left in remaining.items() if left > 0]
            if not wanted:
                raise PaddleApiError(
                    400,
                    "adjustment_transaction_item_has_already_been_fully_adjusted",
                    f"The transaction has already been fully adjusted. ID: {txn_id}",
                )
        else:
            requested = body.get("items")
            if not isinstance(requested, list) or not requested:
                raise _bad_request("items", "items is required for a partial adjustment")
            errors = []
            for index, item in enumerate(requested):
                item_id, item_type = item.get("item_id"), item.get("type") or "partial"
                field = f"adjustment.transaction.items[{index}]"
                if item_id not in lines:
                    errors.append({"field": field, "message": f"Transaction item {item_id} not found"})
                    continue
                amount = remaining[item_id] if item_type == "full" else int(item.get("amount") or 0)
                if amount <= 0:
                    errors.append(
                        {
                            "field": field,
                            "message": "You are attempting to make an adjustment with zero amount on a transaction"
                            f" item. ID {item_id}",
                        }
                    )
                elif amount > remaining[item_id]:
                    raise PaddleApiError(
                        400,
                        "adjustment_amount_above_remaining_allowed",
                        "There has been one or more adjustments made to the transaction item provided that exceed the"
                        f" total amount of the item. ID: {item_id}, Amount Left: {remaining[item_id]}",
                    )
                else:
                    wanted.append((item_id, item_type, amount))
            if errors:
                raise PaddleApiError(
                    400,
                    "adjustment_transaction_item_invalid",
                    "One or more adjustment items cannot be processed",
                    errors,
                )

        currency = txn["currency_code"]
        items, rates = [], {}
        for item_id, item_type, amount in wanted:
            rate = Decimal(lines[item_id]["tax_rate"])
            tax = tax_within(amount, rate)
            totals = {"subtotal": str(amount - tax), "tax": str(tax), "total": str(amount)}
            items.append(
                {
                    "id": paddle_id("adjitm"),
                    "item_id": item_id,
                    "type": item_type,
                    "amount": str(amount),
                    "proration": None,
                    "totals": totals,
                }
            )
            sums = rates.setdefault(lines[item_id]["tax_rate"], [0, 0, 0])
            for position, key in enumerate(("subtotal", "tax", "total")):
                sums[position] += int(totals[key])
        subtotal = sum(int(i["totals"]["subtotal"]) for i in items)
        tax = sum(int(i["totals"]["tax"]) for i in items)
        total = subtotal + tax
        fee = _round(Decimal(total) * PAYMENT_FEE_RATE)
        money = {
            "subtotal": str(subtotal),
            "tax": str(tax),
            "total": str(total),
            "fee": str(fee),
            "earnings": str(subtotal - fee),
            "currency_code": currency,
            "retained_fee": "0",
        }
        now = iso(_now())
        pending = action == "refund" and not self.auto_approve_refunds
        adj = {
            "id": paddle_id("adj"),
            "action": action,
            "type": adjustment_type,
            "transaction_id": txn_id,
            "subscription_id": txn["subscription_id"],
            "customer_id": txn["customer_id"],
            "reason": reason,
            "credit_applied_to_balance": None if action == "refund" else False,
            "currency_code": currency,
            "status": "pending_approval" if pending else "approved",
            "items": items,
            "totals": money,
            "payout_totals": {**money, "chargeback_fee": None},
            "tax_rates_used": [
                {"tax_rate": rate, "totals": {"subtotal": str(s), "tax": str(t), "total": str(tt)}}
                for rate, (s, t, tt) in rates.items()
            ],
            "created_at": now,
            "updated_at": now,
        }
        self.adjustments[adj["id"]] = adj
        return adj

    def _subscription(self, entity_id: str) -> dict[str, Any]:
        if entity_id not in self.subscriptions:
            raise _not_found(entity_id)
        return self.subscriptions[entity_id]

    def _get_subscription(self, body: dict[str, Any], entity_id: str) -> dict[str, Any]:
        return self._subscription(entity_id)

    def _set_next_billed_at(self, sub: dict[str, Any], value: str | None) -> None:
        sub["next_billed_at"] = value
        for item in sub["items"]:
            item["next_billed_at"] = value

    def _update_subscription(self, body: dict[str, Any], entity_id: str) -> dict[str, Any]:
        sub = self._subscription(entity_id)
        if sub["status"] == "canceled":
            raise PaddleApiError(
                400, "subscription_update_when_canceled", "cannot update subscription, as subscription is canceled"
            )
        # validate everything before changing anything
        if body.get("scheduled_change") is not None:
            raise _bad_request("scheduled_change", "scheduled_change can only be set to null")
        if "items" in body:
            items = self._catalogue_items(body["items"], "subscription_price_not_found")
            if not body.get("proration_billing_mode"):
                raise _bad_request("proration_billing_mode", "proration_billing_mode is required when items change")
        if "custom_data" in body:
            sub["custom_data"] = body["custom_data"]
        if "scheduled_change" in body:
            sub["scheduled_change"] = None
            if sub["current_billing_period"] and sub["status"] in ("active", "trialing", "past_due"):
                self._set_next_billed_at(sub, sub["current_billing_period"]["ends_at"])
        if "next_billed_at" in body:
            self._set_next_billed_at(sub, body["next_billed_at"])
        if "items" in body:
            now = iso(_now())
            sub["items"] = [
                {
                    "status": "active",
                    "quantity": quantity,
                    "recurring": True,
                    "created_at": now,
                    "updated_at": now,
                    "previously_billed_at": (sub["current_billing_period"] or {}).get("starts_at"),
                    "next_billed_at": sub["next_billed_at"],
                    "trial_dates": None,
                    "price": price.entity(),
                    "product": price.product(),
                }
                for price, quantity in items
            ]
        sub["updated_at"] = iso(_now())
        return sub

    def _cancel_subscription(self, body: dict[str, Any], entity_id: str) -> dict[str, Any]:
        sub = self._subscription(entity_id)
        if sub["status"] == "canceled":
            raise PaddleApiError(
                400, "subscription_is_canceled_action_invalid", "action can't be performed on canceled subscription"
            )
        effective_from = body.get("effective_from") or "next_billing_period"
        if effective_from not in ("next_billing_period", "immediately"):
            raise _bad_request("effective_from", "effective_from must be one of: next_billing_period, immediately")
        now = iso(_now())
        period = sub["current_billing_period"]
        if effective_from == "immediately" or not period or sub["status"] in ("paused", "past_due"):
            sub.update(status="canceled", canceled_at=now, scheduled_change=None, current_billing_period=None)
            self._set_next_billed_at(sub, None)
            for item in sub["items"]:
                item["status"] = "inactive"
        else:
            sub["scheduled_change"] = {"action": "cancel", "effective_at": period["ends_at"], "resume_at": None}
            self._set_next_billed_at(sub, None)
        sub["updated_at"] = now
        return sub


def _make_handler(fake: FakePaddle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10  # an idle keep-alive connection is dropped after this

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            status, payload = fake.handle(self.command, self.path, dict(self.headers.items()), raw_body)
            data = json.dumps(payload).encode()
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    return Handler


# --- SDK client and pytest fixtures --------------------------------------------------------------


@dataclass(frozen=True)
class FakeEnvironment:
    """Stands in for `paddle_billing.Environment`: the SDK only reads `options.environment.base_url`."""

    base_url: str


def paddle_client(fake: FakePaddle, *, api_key: str | None = None, timeout: float = 5.0) -> Client:
    """The real `paddle_billing.Client`, pointed at the fake (with its key unless `api_key` is given)."""
    return Client(
        fake.api_key if api_key is None else api_key,
        options=Options(environment=FakeEnvironment(fake.base_url)),
        timeout=timeout,
    )


@pytest.fixture
def fake_paddle() -> Iterator[FakePaddle]:
    """A running FakePaddle with DEFAULT_API_KEY and DEFAULT_PRICES, stopped after the test."""
    fake = FakePaddle()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def paddle_settings(settings, fake_paddle: FakePaddle) -> FakePaddle:
    """Django settings pointing the app's Paddle client and webhook at the fake; returns the fake."""
    settings.PADDLE_API_KEY = fake_paddle.api_key
    settings.PADDLE_API_BASE_URL = fake_paddle.base_url
    settings.PADDLE_WEBHOOK_SECRET = DEFAULT_WEBHOOK_SECRET
    return fake_paddle
