from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.shortcuts import render

from . import services
from .models import AccountStatusChange, User


class StatusReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Shown to the account holder and kept in the account's history.",
    )


class TerminationForm(StatusReasonForm):
    forfeit_credits = forms.BooleanField(
        required=False,
        label="Forfeit the remaining credits",
        help_text="The credits available now are removed with a ledger entry giving your name and this reason. "
        "Credits held by calls in progress are charged or released when those calls end.",
    )


class StatusChangeInline(admin.TabularInline):
    model = AccountStatusChange
    fk_name = "user"
    extra = 0
    can_delete = False
    fields = readonly_fields = ["changed_at", "status", "reason", "changed_by"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["email", "company_name", "status", "mobile_number", "date_joined", "is_staff"]
    list_filter = ["status", "is_staff", "date_joined"]
    search_fields = ["email", "company_name", "mobile_number", "first_name", "last_name"]
    readonly_fields = [
        "status",
        "status_reason",
        "status_changed_at",
        "last_login",
        "date_joined",
        "terms_version",
        "terms_accepted_at",
        "adult_confirmed_at",
        "deletion_requested_at",
        "purged_at",
        "mobile_verified_at",
    ]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (
            "Profile",
            {
                "fields": [
                    "first_name",
                    "last_name",
                    "company_name",
                    "mobile_number",
                    "mobile_verified_at",
                    "time_zone",
                    "default_country",
                ]
            },
        ),
        (
            "Account status",
            {"fields": ["status", "status_reason", "status_changed_at", "deletion_requested_at", "purged_at"]},
        ),
        ("Consent", {"fields": ["terms_version", "terms_accepted_at", "adult_confirmed_at"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    inlines = [StatusChangeInline]
    actions = ["suspend", "terminate", "reactivate"]

    def _set_status(self, request, queryset, status: str, verb: str, form_class=StatusReasonForm):
        """An action that first asks for the reason, then calls the account service."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            forfeited = []
            for user in queryset:
                changed = services.account_set_status(
                    user=user,
                    status=status,
                    reason=form.cleaned_data["reason"],
                    by=request.user,
                    forfeit_credits=form.cleaned_data.get("forfeit_credits", False),
                )
                if changed.forfeited_credits is not None:
                    forfeited.append(f"{changed.email} {changed.forfeited_credits.normalize():f}")
            messages.success(request, f"{verb} {queryset.count()} account(s).")
            if forfeited:
                messages.info(request, f"Credits forfeited: {', '.join(forfeited)}.")
            return None
        return render(
            request,
            "admin/accounts/status_reason.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{verb}: give a reason",
                "form": form,
                "accounts": queryset,
                "action": request.POST.get("action"),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Suspend selected accounts (stops calling, pauses campaigns)…")
    def suspend(self, request, queryset):
        return self._set_status(request, queryset, User.Status.SUSPENDED, "Suspended")

    @admin.action(description="Terminate selected accounts (no more log-ins; optionally forfeit credits)…")
    def terminate(self, request, queryset):
        return self._set_status(request, queryset, User.Status.TERMINATED, "Terminated", TerminationForm)

    @admin.action(description="Reactivate selected accounts…")
    def reactivate(self, request, queryset):
        return self._set_status(request, queryset, User.Status.ACTIVE, "Reactivated")
