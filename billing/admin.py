from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from clozit.admin import QueueStatusFilter, count_of

from . import disputes, ledger, prices, refunds
from .expiry import ExpiryError, plan_expiry_announce
from .forms import CreditAdjustmentForm
from .models import (
    CallCreditBack,
    CallDispute,
    CreditAccount,
    CreditHold,
    CreditPackage,
    LedgerEntry,
    PaddleEvent,
    Plan,
    PriceChange,
    Purchase,
    RefundRequest,
    Subscription,
)
from .price_changes import PriceChangeError, price_change_cancel, price_change_schedule


class ReplacementCreditsForm(forms.Form):
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"), label="Credits")
    reason = forms.CharField(
        max_length=400,
        help_text="The verified technical error (e.g. call id and what failed). Kept in the ledger with your name.",
    )


class RefundDecisionForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Shown to the customer in their billing history and kept with the request.",
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is changed only through billing.ledger, never by editing rows."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "balance", "held", "updated_at", "adjust_link"]
    search_fields = ["workspace__memberships__user__email", "workspace__name"]
    readonly_fields = ["workspace", "balance", "held", "updated_at", "adjust_link"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    @admin.display(description="Adjust")
    def adjust_link(self, obj):
        return format_html(
            '<a href="{}">Grant or remove credits…</a> · <a href="{}">Replacement credits…</a>',
            reverse("admin:billing_creditaccount_adjust", args=[obj.pk]),
            reverse("admin:billing_creditaccount_replacement", args=[obj.pk]),
        )

    def get_urls(self):
        return [
            path("<int:pk>/adjust/", self.admin_site.admin_view(self.adjust_view), name="billing_creditaccount_adjust"),
            path(
                "<int:pk>/replacement/",
                self.admin_site.admin_view(self.replacement_view),
                name="billing_creditaccount_replacement",
            ),
            *super().get_urls(),
        ]

    def _balance_form_view(self, request, pk, *, form_class, title, apply, done):
        """A staff form that changes one account's balance through a billing service."""
        account = get_object_or_404(CreditAccount, pk=pk)
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                apply(account.workspace, form.cleaned_data, request.user)
            except (refunds.RefundError, ledger.LedgerError) as exc:
                form.add_error("amount", str(exc))
            else:
                messages.success(request, done(account.workspace, form.cleaned_data))
                return redirect("admin:billing_creditaccount_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "account": account,
            "title": title.format(workspace=account.workspace),
            "opts": self.model._meta,
        }
        return render(request, "admin/billing/adjust_credits.html", context)

    def replacement_view(self, request, pk):
        """Replacement credits for a verified technical error, recorded as a staff adjustment."""
        return self._balance_form_view(
            request,
            pk,
            form_class=ReplacementCreditsForm,
            title="Replacement credits for a technical error: {workspace}",
            apply=lambda workspace, data, staff: refunds.replacement_credits_grant(
                workspace=workspace, amount=data["amount"], reason=data["reason"], by=staff
            ),
            done=lambda workspace, data: f"Granted {data['amount']} replacement credits to {workspace}.",
        )

    def adjust_view(self, request, pk):
        return self._balance_form_view(
            request,
            pk,
            form_class=CreditAdjustmentForm,
            title="Adjust credits for {workspace}",
            apply=lambda workspace, data, staff: ledger.credit_adjust(
                workspace=workspace, amount=data["amount"], memo=data["memo"], by=staff
            ),
            done=lambda workspace, data: f"Balance of {workspace} adjusted by {data['amount']}.",
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "kind", "amount", "balance_after", "reference", "created_by"]
    list_filter = ["kind", "created_at"]
    search_fields = ["account__workspace__memberships__user__email", "reference", "memo"]
    list_select_related = ["account__workspace", "created_by"]
    date_hierarchy = "created_at"


@admin.register(CreditHold)
class CreditHoldAdmin(ReadOnlyAdmin):
    list_display = ["reference", "account", "amount", "charged", "status", "created_at", "expires_at"]
    list_filter = ["status"]
    search_fields = ["reference", "account__workspace__memberships__user__email"]
    list_select_related = ["account__workspace"]


# What a pack or plan sells for is set when it is made; afterwards only a scheduled price change
# (Price changes, below) moves it, so customers get the notice our terms promise.


@admin.register(CreditPackage)
class CreditPackageAdmin(admin.ModelAdmin):
    list_display = ["name", "credits", "price", "price_now", "currency", "paddle_price_id", "active", "sort_order"]
    list_editable = ["active", "sort_order"]
    list_filter = ["active", "currency"]
    search_fields = ["name", "paddle_price_id"]

    def get_readonly_fields(self, request, obj=None):
        return ["credits", "price", "currency", "paddle_price_id"] if obj is not None else []

    @admin.display(description="Price in force")
    def price_now(self, package):
        price = prices.package_price(package)
        return f"{price.amount} ({price.paddle_price_id or 'no Paddle price'})"


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = [
        "paddle_transaction_id",
        "workspace",
        "package",
        "plan",
        "credits",
        "total",
        "currency",
        "status",
        "shortfall",
        "test_mode",
        "created_at",
    ]
    list_filter = ["status", "test_mode", "created_at"]
    search_fields = [
        "paddle_transaction_id",
        "paddle_subscription_id",
        "workspace__memberships__user__email",
        "invoice_number",
    ]
    list_select_related = ["workspace", "package", "plan"]


class PaddleEventStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("rejected", "Rejected (malformed)"),
            ("waiting", "Waiting for redelivery"),
            ("processed", "Processed"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "rejected":
            return queryset.exclude(rejected_reason="")
        if self.value() == "waiting":
            return queryset.filter(processed_at__isnull=True, rejected_reason="")
        if self.value() == "processed":
            return queryset.filter(processed_at__isnull=False)
        return queryset


@admin.register(PaddleEvent)
class PaddleEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event_type", "event_id", "occurred_at", "processed_at", "rejected_reason"]
    list_filter = [PaddleEventStateFilter, "event_type"]
    search_fields = ["event_id", "event_type"]


@admin.register(RefundRequest)
class RefundRequestAdmin(ReadOnlyAdmin):
    """Customers' refund requests; decided only through the Approve… and Reject… actions."""

    list_display = [
        "id",
        "created_at",
        "workspace",
        "purchase",
        "purchase_credits",
        "status",
        "credits_refunded",
        "amount_refunded",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["workspace__memberships__user__email", "purchase__paddle_transaction_id", "paddle_adjustment_id"]
    list_select_related = ["workspace", "purchase", "decided_by"]
    readonly_fields = [
        "workspace",
        "purchase",
        "reason",
        "status",
        "created_at",
        "decided_by",
        "decided_at",
        "staff_note",
        "credits_refunded",
        "amount_refunded",
        "paddle_adjustment_id",
    ]
    actions = ["approve", "reject"]

    @admin.display(description="Credits bought")
    def purchase_credits(self, obj):
        return obj.purchase.credits

    def _decide(self, request, queryset, *, approving: bool):
        """Ask for a note on an intermediate page, then call the refund service for each request."""
        form = RefundDecisionForm(request.POST if "apply" in request.POST else None)
        if approving:
            form.fields["note"].required = False
        if form.is_valid():
            for refund_request in queryset.select_related("purchase"):
                try:
                    if approving:
                        done = refunds.refund_request_approve(
                            request=refund_request, by=request.user, note=form.cleaned_data["note"]
                        )
                    else:
                        done = refunds.refund_request_reject(
                            request=refund_request, by=request.user, note=form.cleaned_data["note"]
                        )
                except refunds.RefundError as exc:
                    messages.error(request, f"Refund request #{refund_request.pk}: {exc}")
                    continue
                messages.success(request, self._outcome(done))
            return None
        refund_requests = list(queryset.select_related("workspace", "purchase"))
        for refund_request in refund_requests:
            refund_request.refundable = refunds.refundable_credits(refund_request.purchase)
        verb = "Approve" if approving else "Reject"
        return render(
            request,
            "billing/admin_refund_decision.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{verb} refund requests: add a note",
                "form": form,
                "approving": approving,
                "refund_requests": refund_requests,
                "action": request.POST.get("action"),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @staticmethod
    def _outcome(done: RefundRequest) -> str:
        if done.status == RefundRequest.Status.REJECTED:
            return f"Refund request #{done.pk} rejected."
        if done.credits_refunded == 0:
            return (
                f"Refund request #{done.pk} approved with nothing to refund: all credits of the purchase were used"
                " (used credits are never refunded)."
            )
        money = f"{done.amount_refunded} {done.purchase.currency}".strip()
        where = f" (Paddle adjustment {done.paddle_adjustment_id})" if done.paddle_adjustment_id else " (test purchase)"
        taken = f"{done.credits_refunded} credits taken back"
        return f"Refund request #{done.pk} approved: {taken}, {money} refunded{where}."

    @admin.action(description="Approve selected refund requests (refund the unused credits)…")
    def approve(self, request, queryset):
        return self._decide(request, queryset, approving=True)

    @admin.action(description="Reject selected refund requests…")
    def reject(self, request, queryset):
        return self._decide(request, queryset, approving=False)


class ExpiryForm(forms.Form):
    days = forms.IntegerField(min_value=1, help_text="Unused plan credits expire this many days after each grant.")
    starting = forms.DateField(help_text="At least 30 days from today (YYYY-MM-DD); subscribers are emailed now.")


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "included_credits",
        "monthly_price",
        "currency",
        "paddle_price_id",
        "active",
        "credit_expiry_days",
        "credit_expiry_from",
    ]
    list_filter = ["active"]
    search_fields = ["name", "paddle_price_id"]

    def get_readonly_fields(self, request, obj=None):
        # Expiry is turned on only through the action, which gives subscribers their notice; the
        # price only through a scheduled price change.
        fixed = ["credit_expiry_days", "credit_expiry_from", "credit_expiry_announced_at"]
        if obj is not None:
            fixed += ["monthly_price", "currency", "paddle_price_id", "included_credits"]
        return fixed

    actions = ["turn_on_expiry"]

    @admin.action(description="Turn on credit expiry (emails subscribers, 30 days' notice)…")
    def turn_on_expiry(self, request, queryset):
        form = ExpiryForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for plan in queryset:
                try:
                    told = plan_expiry_announce(
                        plan=plan, days=form.cleaned_data["days"], starting=form.cleaned_data["starting"]
                    )
                except ExpiryError as exc:
                    messages.error(request, f"{plan}: {exc}")
                else:
                    messages.success(request, f"{plan}: expiry on; {count_of(told, 'subscriber')} emailed.")
            return None
        return render(
            request,
            "admin/billing/plan_expiry.html",
            {
                **self.admin_site.each_context(request),
                "title": "Turn on credit expiry",
                "form": form,
                "plans": queryset,
                "action": request.POST.get("action"),
                "opts": self.model._meta,
            },
        )


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = [
        "paddle_subscription_id",
        "workspace",
        "plan",
        "status",
        "current_period_start",
        "current_period_end",
        "cancel_at",
        "canceled_at",
    ]
    list_filter = ["status", "plan"]
    search_fields = ["paddle_subscription_id", "workspace__memberships__user__email"]
    list_select_related = ["workspace", "plan"]


class DisputeOpenFirst(QueueStatusFilter):
    """Open disputes unless asked otherwise: the queue is what is still to decide."""

    statuses = CallDispute.Status.choices
    default = CallDispute.Status.OPEN


@admin.register(CallDispute)
class CallDisputeAdmin(ReadOnlyAdmin):
    """Customers' disputes of a call's charge; decided only through the Approve… and Decline…
    actions (billing.disputes), which email the requester and the workspace's owners."""

    list_display = ["id", "created_at", "workspace", "call_link", "charge", "words", "status", "decided_by"]
    list_filter = [DisputeOpenFirst, "created_at"]
    list_select_related = ["workspace", "call", "decided_by"]
    search_fields = ["workspace__name", "reason", "call__to_number"]
    readonly_fields = [
        "created_at",
        "status",
        "workspace",
        "requested_by",
        "call_link",
        "call_outcome",
        "charge",
        "reason",
        "transcript",
        "staff_note",
        "decided_by",
        "decided_at",
    ]
    fields = readonly_fields
    actions = ["approve", "decline"]

    @admin.display(description="Customer's reason")
    def words(self, obj):
        return obj.reason[:120] + ("…" if len(obj.reason) > 120 else "")

    @admin.display(description="Call")
    def call_link(self, obj):
        url = reverse("admin:campaigns_call_change", args=[obj.call_id])
        return format_html('<a href="{}">{}</a> {}', url, obj.call_id, obj.call.created_at.strftime("%Y-%m-%d %H:%M"))

    @admin.display(description="How the call ended")
    def call_outcome(self, obj):
        call = obj.call
        ended = f"{call.get_status_display()}, {call.get_outcome_display()}, {call.duration_seconds} s connected"
        return f"{ended}. {call.failure_reason}".strip() if call.failure_reason else ended

    @admin.display(description="Transcript (start)")
    def transcript(self, obj):
        turns = disputes.transcript_excerpt(call_id=obj.call_id)
        if not turns:
            return "Nothing was said on this call."
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd>{}</dd>", turns))

    def _decide(self, request, queryset, *, approving: bool):
        form = RefundDecisionForm(request.POST if "apply" in request.POST else None)
        form.fields["note"].help_text = "Emailed to the customer with the decision, and kept with the dispute."
        if approving:
            form.fields["note"].required = False
        if form.is_valid():
            for dispute in queryset:
                try:
                    if approving:
                        disputes.call_dispute_approve(dispute=dispute, by=request.user, note=form.cleaned_data["note"])
                    else:
                        disputes.call_dispute_decline(dispute=dispute, by=request.user, note=form.cleaned_data["note"])
                except disputes.DisputeError as exc:
                    messages.error(request, f"Dispute #{dispute.pk}: {exc}")
                    continue
                verb = "approved: the call's charge is credited back" if approving else "declined"
                messages.success(request, f"Dispute #{dispute.pk} {verb}. The customer is emailed.")
            return None
        verb = "Approve" if approving else "Decline"
        return render(
            request,
            "billing/admin_dispute_decision.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{verb} disputes: {'add a note' if approving else 'give a reason'}",
                "form": form,
                "approving": approving,
                "disputes": queryset.select_related("workspace", "call"),
                "action": request.POST.get("action"),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Approve selected disputes (credit the calls back)…")
    def approve(self, request, queryset):
        return self._decide(request, queryset, approving=True)

    @admin.action(description="Decline selected disputes…")
    def decline(self, request, queryset):
        return self._decide(request, queryset, approving=False)


@admin.register(CallCreditBack)
class CallCreditBackAdmin(ReadOnlyAdmin):
    """Calls given back their charge: automatically for our faults, or by an approved dispute."""

    list_display = ["created_at", "workspace", "call", "reason", "amount"]
    list_filter = ["reason", "created_at"]
    list_select_related = ["workspace", "call"]
    search_fields = ["workspace__name", "call__to_number"]


class PriceChangeForm(forms.ModelForm):
    """Staff schedule a change here; billing.price_changes checks it, records it and tells every
    active account. A refusal is shown on the form and nothing is recorded or sent."""

    staff = None  # the signed-in staff member, set by PriceChangeAdmin.get_form

    class Meta:
        model = PriceChange
        fields = ["item", "package", "plan", "new_value", "new_paddle_price_id", "effective_at", "summary"]
        help_texts = {
            "new_value": "Credits for a rate or the number fee; for a pack or plan, its price in its currency.",
            "new_paddle_price_id": "Pack and plan prices only: create the new price in Paddle first (pri_…).",
            "effective_at": "A higher price needs 30 days' notice at least; a lower one may start now.",
        }

    created: PriceChange | None = None

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        data = self.cleaned_data
        try:
            self.created = price_change_schedule(
                item=data["item"],
                new_value=data["new_value"],
                effective_at=data["effective_at"],
                by=self.staff,
                package=data.get("package"),
                plan=data.get("plan"),
                new_paddle_price_id=data.get("new_paddle_price_id") or "",
                summary=data.get("summary") or "",
            )
        except PriceChangeError as exc:
            self.add_error(None, str(exc))


@admin.register(PriceChange)
class PriceChangeAdmin(admin.ModelAdmin):
    """Scheduled price changes: added through the form (which announces them), never edited after;
    a pending one can be canceled with the action (announced too)."""

    form = PriceChangeForm
    list_display = ["__str__", "item", "target", "old_value", "new_value", "effective_at", "state", "announced_at"]
    list_filter = ["item", "effective_at", "canceled_at"]
    list_select_related = ["package", "plan", "created_by"]
    actions = ["cancel_changes"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type("PriceChangeFormFor", (form,), {"staff": request.user})

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [f.name for f in PriceChange._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_form(self, request, form, change):
        return form.created if not change else form.instance

    def save_model(self, request, obj, form, change):
        pass  # recorded by price_change_schedule in the form; nothing is edited after

    def save_related(self, request, form, formsets, change):
        pass

    @admin.display(description="Pack or plan")
    def target(self, change):
        return change.package or change.plan or "—"

    @admin.display(description="State")
    def state(self, change):
        if change.canceled_at is not None:
            return "canceled"
        return "in force" if change.effective_at <= timezone.now() else "pending (announced)"

    @admin.action(description="Cancel the selected pending changes (tells every account)")
    def cancel_changes(self, request, queryset):
        for change in queryset:
            try:
                price_change_cancel(change=change, by=request.user)
            except PriceChangeError as exc:
                messages.error(request, f"{change}: {exc}")
            else:
                messages.success(request, f"{change}: canceled; the price stays as it is.")
