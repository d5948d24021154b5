"""Credit purchases through Paddle: what each webhook event does to purchases and balances.

Events are checked (billing.paddle.validation), stored under their id, and applied here, each in
one transaction that locks the purchase; applying an event twice changes nothing the second time,
and an event that arrives before the one it depends on is refused so that Paddle delivers it again
later. A purchase is a credit pack or one paid period of a plan (billing.subscriptions); refunds and
chargebacks treat both alike.
"""

import logging
import uuid
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import audit
from accounts.models import Membership, Workspace
from accounts.services import workspace_set_status
from notices import kinds as notice_kinds
from notices.services import notice_send_to_workspace

from . import ledger, prices
from .models import CreditPackage, LedgerEntry, PaddleEvent, Purchase
from .paddle.events import EventNotReady, account_from_custom_data, buyer_from_custom_data, minor_to_amount
from .paddle.validation import data_problem, envelope_problem
from .refunds import paddle_refund_declined
from .subscriptions import subscription_event, subscription_period_paid

logger = logging.getLogger(__name__)

TEST_PRICE_PREFIX = "pri_test_"


class EventRejected(Exception):
    """A signed event whose fields cannot be used; the message says which, for Paddle's log and staff."""


class PurchaseError(Exception):
    """A request the purchase rules refuse; the message is written for the user."""


def test_checkout_enabled() -> bool:
    """The development stand-in for Paddle's checkout: never alongside a real Paddle, and only
    where PADDLE_TEST_CHECKOUT allows it (by default, in development)."""
    return settings.PADDLE_TEST_CHECKOUT and not settings.PADDLE_API_KEY


def _package_for_price(price_id: str) -> CreditPackage | None:
    package = CreditPackage.objects.filter(paddle_price_id=price_id).exclude(paddle_price_id="").first()
    if package is None and (changed := prices.package_id_for_paddle_price(price_id)) is not None:
        package = CreditPackage.objects.filter(pk=changed).first()  # its new price (a price change)
    if package is None and test_checkout_enabled() and price_id.startswith(TEST_PRICE_PREFIX):
        package = CreditPackage.objects.filter(pk=price_id.removeprefix(TEST_PRICE_PREFIX)).first()
    return package


def purchase_start_test_checkout(*, workspace, package: CreditPackage) -> Purchase:
    """Development only: a pending purchase whose payment the test checkout will report."""
    if not test_checkout_enabled():
        raise PurchaseError("The test checkout is off because Paddle is configured.")
    if not workspace.can_dial:
        raise PurchaseError("Your account is suspended, so credits cannot be bought.")
    return Purchase.objects.create(
        workspace=workspace,
        package=package,
        paddle_transaction_id=f"txn_test_{uuid.uuid4().hex[:24]}",
        credits=package.credits,
        total=prices.package_price(package).amount,
        currency=package.currency,
        test_mode=True,
    )


def _transaction_completed(data: dict, **_) -> None:
    txn_id = data["id"]
    if subscription_period_paid(data):
        return
    workspace = account_from_custom_data(data.get("custom_data") or {})
    # The package comes from what was paid for (the price), never from custom data alone.
    # Quantities are whole numbers from 1 (billing.paddle.validation refused anything else).
    lines = [(_package_for_price(item["price"]["id"]), item["quantity"]) for item in data["items"]]
    lines = [(package, quantity) for package, quantity in lines if package is not None]
    if workspace is None or not lines:
        logger.error("paddle transaction %s names no known account or package; not granted", txn_id)
        return
    package, quantity = lines[0]
    credits = sum((p.credits * q for p, q in lines), Decimal("0"))
    totals = (data.get("details") or {}).get("totals") or {}
    purchase, _ = Purchase.objects.select_for_update().get_or_create(
        paddle_transaction_id=txn_id,
        defaults={"workspace": workspace, "package": package, "credits": credits},
    )
    if purchase.status != Purchase.Status.PENDING:
        return  # already granted, or refunded since: a late duplicate changes nothing
    ledger.credit_post(
        workspace=purchase.workspace,
        amount=credits,
        kind=LedgerEntry.Kind.PURCHASE,
        reference=f"paddle:{txn_id}",
        memo=f"{quantity} × {package.name}",
    )
    purchase.credits = credits
    purchase.status = Purchase.Status.COMPLETED
    purchase.completed_at = timezone.now()
    purchase.total = minor_to_amount(totals.get("grand_total") or totals.get("total")) or purchase.total
    purchase.currency = totals.get("currency_code") or data.get("currency_code") or purchase.currency
    purchase.invoice_number = data.get("invoice_number") or ""
    purchase.save()
    audit.record(
        workspace=purchase.workspace_id,
        actor=buyer_from_custom_data(data.get("custom_data") or {}),
        action="credits.purchase",
        summary=f"Bought {credits.normalize():f} credits ({quantity} × {package.name}, payment {txn_id}).",
    )


def _adjustment(data: dict, **_) -> None:
    action, status = data.get("action"), data.get("status")
    if action == "refund" and status == "rejected":
        paddle_refund_declined(adjustment_id=data.get("id"))
        return
    if action not in ("refund", "chargeback") or (action == "refund" and status != "approved"):
        return  # pending refunds, credits, warnings and reversals change no balance here
    purchase = Purchase.objects.select_for_update().filter(paddle_transaction_id=data.get("transaction_id")).first()
    if purchase is None or purchase.status == Purchase.Status.PENDING:
        raise EventNotReady(f"adjustment {data.get('id')} before its transaction was completed")
    if data["id"] in purchase.adjustments_applied:
        return  # adjustment.created and .updated, or a redelivery, of one already applied
    remaining = purchase.credits - purchase.credits_clawed_back
    if action == "refund":
        refunded = minor_to_amount((data.get("totals") or {}).get("total"))
        share = Decimal("1") if not refunded or not purchase.total else min(refunded / purchase.total, Decimal("1"))
        wanted = min((purchase.credits * share).quantize(Decimal("0.01"), rounding=ROUND_DOWN), remaining)
        kind, new_status = LedgerEntry.Kind.REFUND_CLAWBACK, Purchase.Status.REFUNDED
    else:
        wanted = remaining
        kind, new_status = LedgerEntry.Kind.CHARGEBACK, Purchase.Status.CHARGED_BACK
        # Suspend first: that pauses campaigns (campaign locks) before the claw-back takes the
        # account lock, the same order the dialer uses, so the two can never deadlock. A terminated
        # account stays terminated (suspending it would undo the termination).
        workspace = Workspace.objects.get(pk=purchase.workspace_id)
        if workspace.status != Workspace.Status.TERMINATED:
            workspace_set_status(
                workspace=workspace,
                status=Workspace.Status.SUSPENDED,
                reason=f"A chargeback was filed for payment {purchase.paddle_transaction_id}. Contact support.",
                by=None,
            )
    taken = ledger.credit_clawback(
        workspace=purchase.workspace,
        wanted=wanted,
        kind=kind,
        reference=f"paddle:{data['id']}",
        memo=f"{action.capitalize()} of {purchase.paddle_transaction_id}",
    )
    purchase.credits_clawed_back += taken
    purchase.adjustments_applied = [*purchase.adjustments_applied, data["id"]]
    purchase.status = new_status
    if action == "chargeback":
        purchase.shortfall += wanted - taken
    purchase.save()
    if action == "chargeback":
        # Once per adjustment: its .created and .updated events and redeliveries stop above.
        notice_send_to_workspace(
            workspace=purchase.workspace,
            kind=notice_kinds.CHARGEBACK,
            key=f"chargeback:{data['id']}",
            context={"purchase": purchase, "taken": taken, "shortfall": wanted - taken},
            link=reverse("credits"),
            roles=(Membership.Role.OWNER, Membership.Role.BILLING),
        )


def _subscription(data: dict, *, occurred_at=None) -> None:
    subscription_event(data, occurred_at=occurred_at)


HANDLERS = {
    "transaction.completed": _transaction_completed,
    "subscription.created": _subscription,
    "subscription.updated": _subscription,
    "subscription.activated": _subscription,
    "subscription.canceled": _subscription,
    "subscription.past_due": _subscription,
    "subscription.paused": _subscription,
    "subscription.resumed": _subscription,
    "adjustment.created": _adjustment,
    "adjustment.updated": _adjustment,
}


def paddle_event_record(*, payload: dict, rejected_reason: str = "") -> tuple[PaddleEvent, bool]:
    """Store an event (its envelope already checked) under its id; returns (event, created)."""
    return PaddleEvent.objects.get_or_create(
        event_id=payload["event_id"],
        defaults={
            "event_type": payload["event_type"],
            "occurred_at": parse_datetime(payload["occurred_at"]),
            "payload": payload,
            "rejected_reason": rejected_reason[:500],
        },
    )


def paddle_event_receive(*, payload) -> bool:
    """Check, store and apply one signed Paddle event. Returns False for a duplicate of an event
    already applied.

    Raises EventRejected when the event cannot be used: not stored when it cannot even be identified
    or ordered (its envelope), stored as rejected, for staff, when only its data is unusable; never
    applied either way. Raises EventNotReady when it must wait for another event (stored, unapplied).
    """
    problem = envelope_problem(payload)
    if problem:
        raise EventRejected(problem)
    problem = data_problem(payload["event_type"], payload["data"]) if payload["event_type"] in HANDLERS else None
    event, _ = paddle_event_record(payload=payload, rejected_reason=problem or "")
    if problem and not event.rejected_reason and event.processed_at is None:
        # Stored before these checks existed: mark it for staff now.
        PaddleEvent.objects.filter(pk=event.pk).update(rejected_reason=problem[:500])
    if problem or event.rejected_reason:
        raise EventRejected(problem or event.rejected_reason)
    return paddle_event_apply(event_id=event.event_id)


@transaction.atomic
def paddle_event_apply(*, event_id: str) -> bool:
    """Apply a stored event once. Unknown types are only marked processed. Returns False if it
    had been applied already (or was rejected). Raises EventNotReady, leaving the event unprocessed."""
    event = PaddleEvent.objects.select_for_update().get(event_id=event_id)
    if event.processed_at is not None or event.rejected_reason:
        return False
    handler = HANDLERS.get(event.event_type)
    if handler is not None:
        handler(event.payload.get("data") or {}, occurred_at=event.occurred_at)
    event.processed_at = timezone.now()
    event.save(update_fields=["processed_at"])
    return True
