"""Refund requests and replacement credits.

A customer asks, within 7 days of a payment and with a reason, for the unused credits of that
purchase to be refunded; staff approve or reject. Approving takes back what is still unused of
the purchase (never credits already spent: used credits are never refunded) and, for a real
payment, asks Paddle for a refund of the same share of the money, all in one transaction: if
Paddle refuses, nothing changes. Accounts terminated for violations get no refunds, and paid plan
periods are not refundable (the refund policy). Staff can also grant replacement credits for a
verified technical error. Balances change only through billing.ledger.
"""

import logging
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import requests
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import dateformat, timezone
from paddle_billing.Entities.Shared import Action, AdjustmentType
from paddle_billing.Exceptions.ApiError import ApiError
from paddle_billing.Resources.Adjustments.Operations import CreateAdjustment, CreateAdjustmentItem

from accounts import audit
from accounts.models import Membership, Workspace
from notices import kinds as notice_kinds
from notices.services import notice_send, notice_send_to_workspace

from . import ledger
from .models import CreditAccount, LedgerEntry, Purchase, RefundRequest
from .paddle.client import paddle_client, paddle_configured

logger = logging.getLogger(__name__)

REFUND_WINDOW = timedelta(days=7)
REPLACEMENT_MEMO_PREFIX = "Replacement for technical error:"


class RefundError(Exception):
    """A refund action the rules refuse; the message is written for whoever asked."""


def _terminated(workspace) -> bool:
    """Terminated by staff for a violation (closing one's own account is not a termination): the
    refund policy gives such accounts no refunds."""
    return workspace.status == Workspace.Status.TERMINATED


def refundable_credits(purchase: Purchase) -> Decimal:
    """What approving now would take back: the purchase's credits not yet taken back, never more
    than the account has available (spent or held credits are not refundable)."""
    remaining = purchase.credits - purchase.credits_clawed_back
    account = CreditAccount.objects.filter(workspace_id=purchase.workspace_id).first()
    available = account.available if account is not None else Decimal("0")
    return max(min(remaining, available), Decimal("0"))


def refund_refusal(*, workspace, purchase: Purchase, now=None) -> str | None:
    """Why `user` may not ask for a refund of `purchase` now, or None when they may."""
    now = now or timezone.now()
    if purchase.workspace_id != workspace.pk:
        return "That purchase is not on your account."
    if _terminated(purchase.workspace):  # the owner as stored now, not as a caller last saw them
        return (
            "This account was terminated for breaking our terms, so its purchases cannot be refunded"
            " (see the refund policy)."
        )
    if purchase.is_plan_payment:
        return (
            "Plan payments are not refunded: cancelling the plan stops future payments, and its credits stay"
            " yours until the paid period ends."
        )
    if purchase.status == Purchase.Status.REFUNDED:
        return "This purchase has already been refunded."
    if purchase.status != Purchase.Status.COMPLETED or purchase.completed_at is None:
        return "Only a paid purchase can be refunded."
    if now - purchase.completed_at > REFUND_WINDOW:
        paid = dateformat.format(timezone.localtime(purchase.completed_at), "M j, Y")
        return f"Refunds can be requested within 7 days of payment; this purchase was paid on {paid}."
    if any(r.status == RefundRequest.Status.REQUESTED for r in purchase.refund_requests.all()):  # prefetch-friendly
        return "A refund request for this purchase is already being reviewed."
    return None


@transaction.atomic
def refund_request_create(*, workspace, purchase: Purchase, reason: str, by=None) -> RefundRequest:
    reason = (reason or "").strip()
    purchase = Purchase.objects.select_for_update(of=("self",)).select_related("workspace").get(pk=purchase.pk)
    refusal = refund_refusal(workspace=workspace, purchase=purchase)
    if refusal:
        raise RefundError(refusal)
    if not reason:
        raise RefundError("Tell us why you would like a refund.")
    try:
        with transaction.atomic():
            request = RefundRequest.objects.create(workspace=workspace, purchase=purchase, reason=reason)
        audit.record(
            workspace=workspace,
            actor=by,
            action="credits.refund_request",
            summary=f"Asked for a refund of payment {purchase.paddle_transaction_id}.",
        )
        _tell(request=request, purchase=purchase, kind=notice_kinds.REFUND_RECEIVED, event="received", also=by)
        return request
    except IntegrityError as exc:  # pragma: no cover - the purchase lock makes this a last resort
        raise RefundError("A refund request for this purchase is already being reviewed.") from exc


def _tell(*, request: RefundRequest, purchase: Purchase, kind, event: str, also=None) -> None:
    """Tell the workspace's owners and billing members (who may ask for refunds, so whoever
    asked), and `also` (the person who asked), once per request and `event`."""
    context = {"refund": request, "purchase": purchase, "window_days": REFUND_WINDOW.days}
    key = f"refund:{request.pk}:{event}"
    told = notice_send_to_workspace(
        workspace=purchase.workspace,
        kind=kind,
        key=key,
        context=context,
        link=reverse("credits"),
        roles=(Membership.Role.OWNER, Membership.Role.BILLING),
    )
    if also is not None and getattr(also, "pk", None) and all(n.user_id != also.pk for n in told):
        notice_send(
            user=also, kind=kind, key=key, context=context, workspace=purchase.workspace, link=reverse("credits")
        )


def _open_request_for_update(request: RefundRequest) -> RefundRequest:
    request = RefundRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != RefundRequest.Status.REQUESTED:
        raise RefundError(f"Refund request #{request.pk} was already {request.get_status_display().lower()}.")
    return request


def _paddle_refund(*, purchase: Purchase, credits: Decimal, reason: str) -> tuple[str, Decimal]:
    """Ask Paddle to refund the share `credits / purchase.credits` of what was paid.

    Returns (adjustment id, amount refunded). Raises RefundError when Paddle cannot be reached
    or refuses.
    """
    full = credits == purchase.credits
    try:
        client = paddle_client()
        txn = client.transactions.get(purchase.paddle_transaction_id)
        items = []
        for line in txn.details.lineItems if txn.details else []:  # (the SDK names it lineItems)
            if full:
                items.append(CreateAdjustmentItem(item_id=line.id, type=AdjustmentType.Full, amount=None))
                continue
            amount = (Decimal(line.totals.total) * credits / purchase.credits).quantize(Decimal("1"), ROUND_DOWN)
            if amount > 0:
                items.append(CreateAdjustmentItem(item_id=line.id, type=AdjustmentType.Partial, amount=str(amount)))
        if not items:
            raise RefundError(
                "The unused credits are worth less than the smallest amount Paddle can refund; nothing was changed."
            )
        adjustment = client.adjustments.create(
            CreateAdjustment(
                action=Action.Refund,
                items=items,
                reason=f"Unused credits, requested by the customer: {reason}"[:250],
                transaction_id=purchase.paddle_transaction_id,
            )
        )
    except ApiError as exc:
        logger.warning("paddle refused a refund of %s: %r", purchase.paddle_transaction_id, exc)
        raise RefundError(
            f"Paddle refused the refund ({exc.error_code}: {exc.detail}). Nothing was changed; no credits were taken."
        ) from exc
    except requests.RequestException as exc:
        logger.warning("paddle unreachable refunding %s: %s", purchase.paddle_transaction_id, exc)
        raise RefundError(
            "Paddle could not be reached, so no refund was made. Nothing was changed; try again later."
        ) from exc
    refunded = (Decimal(adjustment.totals.total) / 100).quantize(Decimal("0.01"))
    return adjustment.id, refunded


@transaction.atomic
def refund_request_approve(*, request: RefundRequest, by, note: str = "") -> RefundRequest:
    """Take back the unused credits of the purchase and refund their share of the payment.

    Used credits are never refunded: when everything was used, the request is approved with
    0 credits and no money moves.
    """
    request = _open_request_for_update(request)
    # Only the purchase row is locked; its owner is read for the policy check.
    purchase = Purchase.objects.select_for_update(of=("self",)).select_related("workspace").get(pk=request.purchase_id)
    if _terminated(purchase.workspace):
        raise RefundError(
            f"The workspace {purchase.workspace} was terminated for a violation, and the refund policy gives"
            " such accounts no refund. Nothing was changed; reject the request instead."
        )
    if purchase.status != Purchase.Status.COMPLETED:
        raise RefundError(
            f"Purchase {purchase.paddle_transaction_id} is {purchase.get_status_display().lower()}, so it cannot be"
            " refunded again; reject the request instead."
        )
    use_paddle = not purchase.test_mode
    if use_paddle and not paddle_configured():
        raise RefundError("Paddle is not configured here, so this payment cannot be refunded. Nothing was changed.")
    # Taken first, under the account lock, so the credits cannot be spent while Paddle refunds them;
    # if Paddle then refuses, the whole transaction (this claw-back included) is rolled back.
    taken = ledger.credit_clawback(
        workspace=purchase.workspace,
        wanted=purchase.credits - purchase.credits_clawed_back,
        kind=LedgerEntry.Kind.REFUND_CLAWBACK,
        reference=f"refund-request:{request.pk}",
        memo=f"Refund of unused credits from payment {purchase.paddle_transaction_id}",
    )
    amount = Decimal("0")
    if taken > 0:
        if use_paddle:
            adjustment_id, amount = _paddle_refund(purchase=purchase, credits=taken, reason=request.reason)
            request.paddle_adjustment_id = adjustment_id
            # Its adjustment.* webhooks must not take the credits back a second time.
            purchase.adjustments_applied = [*purchase.adjustments_applied, adjustment_id]
        elif purchase.total:
            amount = (purchase.total * taken / purchase.credits).quantize(Decimal("0.01"), ROUND_DOWN)
        purchase.credits_clawed_back += taken
        purchase.status = Purchase.Status.REFUNDED
        purchase.save(update_fields=["credits_clawed_back", "adjustments_applied", "status"])
    request.status = RefundRequest.Status.APPROVED
    request.credits_refunded = taken
    request.amount_refunded = amount
    request.staff_note = note.strip()
    request.decided_by = by
    request.decided_at = timezone.now()
    request.save()
    _tell(request=request, purchase=request.purchase, kind=notice_kinds.REFUND_DECIDED, event="decided")
    return request


@transaction.atomic
def refund_request_reject(*, request: RefundRequest, by, note: str) -> RefundRequest:
    if not (note or "").strip():
        raise RefundError("Say why the refund is rejected.")
    request = _open_request_for_update(request)
    request.status = RefundRequest.Status.REJECTED
    request.staff_note = note.strip()
    request.decided_by = by
    request.decided_at = timezone.now()
    request.save()
    _tell(request=request, purchase=request.purchase, kind=notice_kinds.REFUND_DECIDED, event="decided")
    return request


def paddle_refund_declined(*, adjustment_id: str) -> None:
    """Paddle rejected a refund we asked for: the customer keeps the credits taken for it.

    Called from the adjustment webhook (inside its transaction).
    """
    request = (
        RefundRequest.objects.select_for_update()
        .filter(paddle_adjustment_id=adjustment_id, status=RefundRequest.Status.APPROVED)
        .first()
    )
    if request is None:
        return
    purchase = Purchase.objects.select_for_update().get(pk=request.purchase_id)
    if request.credits_refunded > 0:
        ledger.credit_post(
            workspace=purchase.workspace,
            amount=request.credits_refunded,
            kind=LedgerEntry.Kind.REFUND_CLAWBACK,
            reference=f"refund-request:{request.pk}:declined",
            memo=f"Paddle declined the refund of payment {purchase.paddle_transaction_id}; credits returned",
        )
        purchase.credits_clawed_back -= request.credits_refunded
        if purchase.status == Purchase.Status.REFUNDED and purchase.credits_clawed_back == 0:
            purchase.status = Purchase.Status.COMPLETED
        purchase.save(update_fields=["credits_clawed_back", "status"])
    request.status = RefundRequest.Status.REJECTED
    request.staff_note = f"{request.staff_note}\nPaddle declined the refund; the credits were returned.".strip()
    request.save(update_fields=["status", "staff_note"])
    _tell(request=request, purchase=purchase, kind=notice_kinds.REFUND_DECIDED, event="paddle-declined")


def replacement_credits_grant(*, workspace, amount: Decimal, reason: str, by) -> LedgerEntry:
    """Staff grant for a verified technical error (e.g. a call charged but never connected)."""
    amount = Decimal(amount)
    if amount <= 0:
        raise RefundError("Replacement credits must be a positive amount.")
    if not (reason or "").strip():
        raise RefundError("Describe the verified technical error.")
    return ledger.credit_adjust(
        workspace=workspace, amount=amount, memo=f"{REPLACEMENT_MEMO_PREFIX} {reason.strip()}", by=by
    )
