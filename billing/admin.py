from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from . import ledger
from .forms import CreditAdjustmentForm
from .models import CreditAccount, CreditHold, CreditPackage, LedgerEntry, PaddleEvent, Purchase


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
    list_display = ["user", "balance", "held", "updated_at", "adjust_link"]
    search_fields = ["user__email", "user__company_name"]
    readonly_fields = ["user", "balance", "held", "updated_at", "adjust_link"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    @admin.display(description="Adjust")
    def adjust_link(self, obj):
        return format_html(
            '<a href="{}">Grant or remove credits…</a>', reverse("admin:billing_creditaccount_adjust", args=[obj.pk])
        )

    def get_urls(self):
        return [
            path("<int:pk>/adjust/", self.admin_site.admin_view(self.adjust_view), name="billing_creditaccount_adjust"),
            *super().get_urls(),
        ]

    def adjust_view(self, request, pk):
        account = get_object_or_404(CreditAccount, pk=pk)
        form = CreditAdjustmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                ledger.credit_adjust(
                    user=account.user,
                    amount=form.cleaned_data["amount"],
                    memo=form.cleaned_data["memo"],
                    by=request.user,
                )
            except ledger.LedgerError as exc:
                form.add_error("amount", str(exc))
            else:
                messages.success(request, f"Balance of {account.user} adjusted by {form.cleaned_data['amount']}.")
                return redirect("admin:billing_creditaccount_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "account": account,
            "title": f"Adjust credits for {account.user}",
            "opts": self.model._meta,
        }
        return render(request, "admin/billing/adjust_credits.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "kind", "amount", "balance_after", "reference", "created_by"]
    list_filter = ["kind", "created_at"]
    search_fields = ["account__user__email", "reference", "memo"]
    list_select_related = ["account__user", "created_by"]
    date_hierarchy = "created_at"


@admin.register(CreditHold)
class CreditHoldAdmin(ReadOnlyAdmin):
    list_display = ["reference", "account", "amount", "charged", "status", "created_at", "expires_at"]
    list_filter = ["status"]
    search_fields = ["reference", "account__user__email"]
    list_select_related = ["account__user"]


@admin.register(CreditPackage)
class CreditPackageAdmin(admin.ModelAdmin):
    list_display = ["name", "credits", "price", "currency", "paddle_price_id", "active", "sort_order"]
    list_editable = ["active", "sort_order"]
    list_filter = ["active", "currency"]
    search_fields = ["name", "paddle_price_id"]


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = [
        "paddle_transaction_id",
        "user",
        "package",
        "credits",
        "total",
        "currency",
        "status",
        "shortfall",
        "test_mode",
        "created_at",
    ]
    list_filter = ["status", "test_mode", "created_at"]
    search_fields = ["paddle_transaction_id", "user__email", "invoice_number"]
    list_select_related = ["user", "package"]


@admin.register(PaddleEvent)
class PaddleEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event_type", "event_id", "occurred_at", "processed_at"]
    list_filter = ["event_type"]
    search_fields = ["event_id", "event_type"]
