import csv

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from rq import Retry

from campaigns.models import Call
from clozit.csvsafe import safe_row
from clozit.queueing import enqueue

from . import ledger, prices
from .disputes import DisputeError, call_charge_state, call_dispute_create
from .models import CreditPackage, LedgerEntry, Plan, Purchase, Subscription
from .paddle.client import paddle_client, paddle_configured
from .paddle.events import account_token, buyer_token
from .paddle.pricing import estimate_for
from .paddle.test_checkout import deliver_test_payment, deliver_test_subscription
from .purchases import PurchaseError, purchase_start_test_checkout, test_checkout_enabled
from .refunds import RefundError, refund_refusal, refund_request_create
from .subscriptions import SubscriptionError, subscription_cancel


def _entries(request):
    entries = LedgerEntry.objects.filter(account__workspace=request.workspace).select_related("created_by")
    kind = request.GET.get("kind", "")
    if kind in LedgerEntry.Kind.values:
        entries = entries.filter(kind=kind)
    return entries, kind


@login_required
def credits(request):
    entries, kind = _entries(request)
    return render(
        request,
        "billing/credits.html",
        {
            "balance": ledger.balance_of(workspace=request.workspace),
            "entries": entries[:200],
            "kinds": LedgerEntry.Kind.choices,
            "kind": kind,
            "purchases": _purchases_with_refunds(request.workspace),
            "subscriptions": Subscription.objects.filter(workspace=request.workspace).select_related("plan")[:5],
        },
    )


def _purchases_with_refunds(workspace) -> list[Purchase]:
    """Recent purchases, each with its latest refund request and whether one can be asked for now."""
    purchases = list(
        Purchase.objects.filter(workspace=workspace)
        .select_related("workspace", "package", "plan")
        .prefetch_related("refund_requests")[:50]
    )
    for purchase in purchases:
        requests = list(purchase.refund_requests.all())
        purchase.latest_refund_request = requests[0] if requests else None
        purchase.refund_allowed = refund_refusal(workspace=workspace, purchase=purchase) is None
    return purchases


class RefundRequestForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
        help_text="What went wrong, or why the credits are not needed. Staff read every request.",
    )


@login_required
def refund_request(request, transaction_id):
    purchase = get_object_or_404(Purchase, workspace=request.workspace, paddle_transaction_id=transaction_id)
    refusal = refund_refusal(workspace=request.workspace, purchase=purchase)
    if refusal:
        messages.error(request, refusal)
        return redirect("credits")
    form = RefundRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            refund_request_create(
                workspace=request.workspace, purchase=purchase, reason=form.cleaned_data["reason"], by=request.user
            )
        except RefundError as exc:
            messages.error(request, str(exc))
            return redirect("credits")
        messages.success(
            request,
            "We received your refund request. Staff will review it; unused credits of this purchase are refunded"
            " to your payment method if it is approved (used credits are not refundable).",
        )
        return redirect("credits")
    return render(request, "billing/refund_request.html", {"purchase": purchase, "form": form})


@login_required
def credits_export(request):
    entries, _ = _entries(request)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="clozit-credits.csv"'
    writer = csv.writer(response)
    writer.writerow(["when", "kind", "amount", "balance_after", "reference", "memo"])
    for e in entries.iterator():
        writer.writerow(
            safe_row([e.created_at.isoformat(), e.get_kind_display(), e.amount, e.balance_after, e.reference, e.memo])
        )
    return response


@login_required
def balance_fragment(request):
    return render(request, "billing/fragment_balance.html", {"balance": ledger.balance_of(workspace=request.workspace)})


def _offers(request) -> list[dict]:
    """Each pack on sale at the price in force now (what checkout charges), its estimate, and the
    next scheduled change of its price."""
    country = request.workspace.default_country
    offers = []
    for package in CreditPackage.objects.filter(active=True):
        price = prices.package_price(package)
        estimate = estimate_for(
            package=package, price=price, country_code=country, ip_address=request.META.get("REMOTE_ADDR")
        )
        change = prices.next_change(prices.Item.PACKAGE_PRICE, package_id=package.pk)
        offers.append({"package": package, "price": price, "estimate": estimate, "change": change})
    return offers


def _plan_offers() -> list[dict]:
    return [
        {
            "plan": plan,
            "price": prices.plan_price(plan),
            "change": prices.next_change(prices.Item.PLAN_PRICE, plan_id=plan.pk),
        }
        for plan in Plan.objects.filter(active=True)
    ]


@login_required
def buy(request):
    return render(
        request,
        "billing/buy.html",
        {
            "offers": _offers(request),
            "country": request.workspace.default_country,
            "rates": {
                "call_second": prices.call_second_rate(),
                "call_second_change": prices.next_change(prices.Item.CALL_SECOND),
                "ai_query": prices.ai_query_cost(),
                "ai_query_change": prices.next_change(prices.Item.AI_QUERY),
            },
            "paddle": paddle_configured(),
            "test_checkout": test_checkout_enabled(),
            "plans": _plan_offers(),
            "has_subscription": Subscription.objects.filter(
                workspace=request.workspace, status__in=["active", "trialing", "past_due"], cancel_at__isnull=True
            ).exists(),
            "paddle_client_token": settings.PADDLE_CLIENT_TOKEN,
            "account_token": account_token(request.workspace.pk),
            "buyer_token": buyer_token(request.user.pk),
            "paddle_environment": settings.PADDLE_ENVIRONMENT,
        },
    )


@login_required
@require_POST
def buy_test_checkout(request, package_id):
    package = get_object_or_404(CreditPackage, pk=package_id, active=True)
    try:
        purchase = purchase_start_test_checkout(workspace=request.workspace, package=package)
    except PurchaseError as exc:
        messages.error(request, str(exc))
        return redirect("credits_buy")
    enqueue("default", deliver_test_payment, purchase_id=purchase.pk, retry=Retry(max=3, interval=[5, 15, 60]))
    return redirect("purchase_status", transaction_id=purchase.paddle_transaction_id)


@login_required
def purchase_status(request, transaction_id):
    purchase = Purchase.objects.filter(workspace=request.workspace, paddle_transaction_id=transaction_id).first()
    context = {
        "purchase": purchase,
        "transaction_id": transaction_id,
        "balance": ledger.balance_of(workspace=request.workspace),
    }
    if not request.htmx:
        return render(request, "billing/purchase_status.html", context)
    done = purchase is not None and purchase.status != Purchase.Status.PENDING
    # htmx stops polling on 286 once the credits have arrived.
    return render(request, "billing/fragment_purchase_status.html", context, status=286 if done else 200)


@login_required
@require_POST
def subscribe_test_checkout(request, plan_id):
    plan = get_object_or_404(Plan, pk=plan_id, active=True)
    if not test_checkout_enabled() or not request.workspace.can_dial:
        messages.error(request, "Subscribing here is not possible right now.")
        return redirect("credits_buy")
    enqueue(
        "default",
        deliver_test_subscription,
        workspace_id=request.workspace.pk,
        plan_id=plan.pk,
        retry=Retry(max=3, interval=[5, 15, 60]),
    )
    messages.success(request, f"Test subscription to {plan.name} started: its credits arrive in a moment.")
    return redirect("credits")


@login_required
@require_POST
def subscription_cancel_view(request, pk):
    subscription = get_object_or_404(Subscription, pk=pk, workspace=request.workspace)
    try:
        subscription = subscription_cancel(subscription=subscription)
    except SubscriptionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Cancelled. Your plan and its credits continue until {subscription.cancel_at:%d %B %Y}."
        )
    return redirect("credits")


@login_required
def purchase_invoice(request, transaction_id):
    """Paddle issues the invoice; we fetch its short-lived link and send the user there."""
    purchase = get_object_or_404(Purchase, workspace=request.workspace, paddle_transaction_id=transaction_id)
    if purchase.test_mode or not paddle_configured():
        messages.error(request, "Test purchases have no invoice.")
        return redirect("credits")
    try:
        url = paddle_client().transactions.get_invoice_pdf(transaction_id).url
    except Exception:  # the SDK raises many kinds; the page must still answer
        messages.error(request, "The invoice is not available from Paddle right now. Try again shortly.")
        return redirect("credits")
    return redirect(url)


class CallDisputeForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text="What went wrong on this call. Our staff read it with the transcript.",
    )


@login_required
def call_dispute(request, call_id):
    """Dispute one call's charge (billing.disputes): the form, then back to the call's page."""
    call = get_object_or_404(Call, pk=call_id, workspace=request.workspace)
    state = call_charge_state(workspace=request.workspace, call=call)
    if state["refusal"]:
        messages.error(request, state["refusal"])
        return redirect("call_detail", call.pk)
    form = CallDisputeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            call_dispute_create(
                workspace=request.workspace, call=call, reason=form.cleaned_data["reason"], by=request.user
            )
        except DisputeError as exc:
            messages.error(request, str(exc))
            return redirect("call_detail", call.pk)
        messages.success(
            request,
            "We received your dispute. Our staff will review the call and email you their decision; if it is"
            " approved, the call's charge is credited back.",
        )
        return redirect("call_detail", call.pk)
    return render(request, "billing/call_dispute.html", {"call": call, "form": form, **state})


class LowBalanceForm(forms.Form):
    credits = forms.DecimalField(
        label="Warn us below (credits)",
        required=False,
        min_value=0,
        decimal_places=0,
        help_text="Leave empty for the default; 0 turns the warning off.",
    )


@login_required
@require_POST
def low_balance_threshold(request):
    """Set the workspace's low-credit warning level (billing.low_balance), then back to Credits."""
    from .low_balance import LowBalanceError, low_balance_threshold_set

    form = LowBalanceForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("credits")
    try:
        level = low_balance_threshold_set(
            workspace=request.workspace, credits=form.cleaned_data["credits"], by=request.user
        )
    except LowBalanceError as exc:
        messages.error(request, str(exc))
        return redirect("credits")
    if level is None:
        messages.success(request, "The low-credit warning is back to the default.")
    elif level == 0:
        messages.success(request, "The low-credit warning is off.")
    else:
        messages.success(request, f"You will be warned when the balance falls below {level.normalize():f} credits.")
    return redirect("credits")
