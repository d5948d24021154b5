from allauth.usersessions.models import UserSession
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import path, reverse
from django.utils.html import format_html

from clozit.admin import count_of

from . import selectors, services
from .models import (
    AccountStatusChange,
    Invitation,
    Membership,
    SecurityEvent,
    User,
    Workspace,
    WorkspaceEvent,
    WorkspaceStatusChange,
)
from .security import user_agent_label


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


class RestoreForm(StatusReasonForm):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the account's history, e.g. how the holder asked.",
    )


# The user page's buttons: label, the form asking why, what it does (through accounts.services).
STATUS_ACTIONS = {
    "suspend": (
        "Suspend",
        StatusReasonForm,
        lambda user, data, by: services.account_set_status(
            user=user, status=User.Status.SUSPENDED, reason=data["reason"], by=by
        ),
    ),
    "reactivate": (
        "Reactivate",
        StatusReasonForm,
        lambda user, data, by: services.account_set_status(
            user=user, status=User.Status.ACTIVE, reason=data["reason"], by=by
        ),
    ),
    "terminate": (
        "Terminate",
        TerminationForm,
        lambda user, data, by: services.account_set_status(
            user=user,
            status=User.Status.TERMINATED,
            reason=data["reason"],
            by=by,
            forfeit_credits=data.get("forfeit_credits", False),
        ),
    ),
    "restore": (
        "Restore",
        RestoreForm,
        lambda user, data, by: services.account_restore(user=user, by=by, reason=data["reason"]),
    ),
}
DONE = {"suspend": "Suspended", "reactivate": "Reactivated", "terminate": "Terminated", "restore": "Restored"}


def status_actions_for(user: User) -> list[str]:
    """The buttons that make sense for the account as it is now."""
    actions = []
    if user.status == User.Status.ACTIVE:
        actions.append("suspend")
    else:
        actions.append("reactivate")
    if user.status != User.Status.TERMINATED:
        actions.append("terminate")
    if user.deletion_requested_at is not None and user.purged_at is None:
        actions.append("restore")
    return actions


class StatusChangeInline(admin.TabularInline):
    model = AccountStatusChange
    fk_name = "user"
    extra = 0
    can_delete = False
    fields = readonly_fields = ["changed_at", "status", "reason", "changed_by"]

    def has_add_permission(self, request, obj=None):
        return False


class StatusActionsMixin:
    """Suspend, terminate and reactivate as admin actions that first ask for the reason, then
    call the subclass's `apply_status` (a service) for each selected row."""

    status_noun = "account"

    def apply_status(self, obj, **change):
        raise NotImplementedError

    def _set_status(self, request, queryset, status: str, verb: str, form_class=StatusReasonForm):
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            forfeited = []
            for obj in queryset:
                changed = self.apply_status(
                    obj,
                    status=status,
                    reason=form.cleaned_data["reason"],
                    by=request.user,
                    forfeit_credits=form.cleaned_data.get("forfeit_credits", False),
                )
                if changed.forfeited_credits is not None:
                    forfeited.append(f"{changed} {changed.forfeited_credits.normalize():f}")
            messages.success(request, f"{verb} {count_of(queryset.count(), self.status_noun)}.")
            if forfeited:
                messages.info(request, f"Credits forfeited: {', '.join(forfeited)}.")
            return None
        return self._ask_reason(request, queryset, form, verb)

    def _ask_reason(self, request, queryset, form, verb: str):
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


@admin.register(User)
class UserAdmin(StatusActionsMixin, BaseUserAdmin):
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
        "security_activity",
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
        ("Security", {"fields": ["security_activity"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    inlines = [StatusChangeInline]
    actions = ["suspend", "terminate", "reactivate"]
    change_form_template = "admin/accounts/user/change_form.html"

    @admin.display(description="Security activity")
    def security_activity(self, obj):
        if obj.pk is None:
            return "—"
        url = reverse("admin:accounts_securityevent_changelist") + f"?user={obj.pk}"
        count = obj.security_events.count()
        return format_html(
            '<a href="{}">{} event{}</a> (sign-ins, codes, changes; IP and browser)', url, count, pluralize(count)
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/status/<str:action>/",
                self.admin_site.admin_view(self.status_view),
                name="accounts_user_status",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        user = self.get_object(request, object_id)
        if user is not None:
            extra_context = {
                **(extra_context or {}),
                "overview": selectors.account_overview(user=user),
                "status_actions": [
                    (STATUS_ACTIONS[action][0], reverse("admin:accounts_user_status", args=[user.pk, action]))
                    for action in status_actions_for(user)
                ],
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def status_view(self, request, object_id, action):
        """One account's suspend, reactivate, terminate or restore: asks why, then calls the
        account service (which refuses what it must, with a message shown here)."""
        if action not in STATUS_ACTIONS:
            raise Http404("No such action.")
        user = get_object_or_404(User, pk=object_id)
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        label, form_class, apply = STATUS_ACTIONS[action]
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                changed = apply(user, form.cleaned_data, request.user)
            except services.AccountError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"{DONE[action]} {changed.email}.")
                if getattr(changed, "forfeited_credits", None) is not None:
                    messages.info(request, f"Credits forfeited: {changed.forfeited_credits.normalize():f}.")
                return redirect("admin:accounts_user_change", user.pk)
        return render(
            request,
            "admin/accounts/user/status.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{label} {user.email}",
                "form": form,
                "account": user,
                "label": label,
                "opts": self.model._meta,
                "original": user,
            },
        )

    status_noun = "account"

    def apply_status(self, user, **change):
        return services.account_set_status(user=user, **change)

    @admin.action(description="Suspend selected accounts (stops calling, pauses campaigns)…")
    def suspend(self, request, queryset):
        return self._set_status(request, queryset, User.Status.SUSPENDED, "Suspended")

    @admin.action(description="Terminate selected accounts (no more log-ins; optionally forfeit credits)…")
    def terminate(self, request, queryset):
        return self._set_status(request, queryset, User.Status.TERMINATED, "Terminated", TerminationForm)

    @admin.action(description="Reactivate selected accounts…")
    def reactivate(self, request, queryset):
        return self._set_status(request, queryset, User.Status.ACTIVE, "Reactivated")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = readonly_fields = ["user", "role", "joined_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class WorkspaceStatusChangeInline(admin.TabularInline):
    model = WorkspaceStatusChange
    extra = 0
    can_delete = False
    fields = readonly_fields = ["changed_at", "status", "reason", "changed_by"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Workspace)
class WorkspaceAdmin(StatusActionsMixin, admin.ModelAdmin):
    """A business on Clozit. Staff suspend or terminate it here (its campaigns pause, it stops
    dialling and buying); a person's own standing is on their account's page."""

    list_display = ["name", "status", "created_at", "closing_requested_at"]
    list_filter = ["status"]
    search_fields = ["name", "company_name", "memberships__user__email"]
    readonly_fields = [
        "status",
        "status_reason",
        "status_changed_at",
        "personal_for",
        "created_at",
        "closing_requested_at",
        "purged_at",
    ]
    fields = ["name", "company_name", "default_country", "time_zone", "max_concurrent_calls", *readonly_fields]
    inlines = [MembershipInline, WorkspaceStatusChangeInline]
    actions = ["suspend", "terminate", "reactivate", "reopen"]

    def has_delete_permission(self, request, obj=None):
        return False

    status_noun = "workspace"

    def apply_status(self, workspace, **change):
        return services.workspace_set_status(workspace=workspace, **change)

    @admin.action(description="Suspend selected workspaces (stops calling and buying, pauses campaigns)…")
    def suspend(self, request, queryset):
        return self._set_status(request, queryset, Workspace.Status.SUSPENDED, "Suspended")

    @admin.action(description="Terminate selected workspaces (optionally forfeit credits)…")
    def terminate(self, request, queryset):
        return self._set_status(request, queryset, Workspace.Status.TERMINATED, "Terminated", TerminationForm)

    @admin.action(description="Reactivate selected workspaces…")
    def reactivate(self, request, queryset):
        return self._set_status(request, queryset, Workspace.Status.ACTIVE, "Reactivated")

    @admin.action(description="Reopen selected closed workspaces (before their data is erased)…")
    def reopen(self, request, queryset):
        form = StatusReasonForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._ask_reason(request, queryset, form, "Reopen")
        for workspace in queryset:
            try:
                services.workspace_reopen(workspace=workspace, by=request.user, reason=form.cleaned_data["reason"])
            except services.AccountError as error:
                messages.error(request, f"{workspace}: {error}")
            else:
                messages.success(request, f"Reopened {workspace}.")
        return None


@admin.register(WorkspaceEvent)
class WorkspaceEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "workspace", "actor_name", "summary"]
    search_fields = ["workspace__name", "actor_name", "summary"]
    list_select_related = ["workspace"]
    readonly_fields = ["workspace", "actor", "actor_name", "action", "summary", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "workspace", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
    search_fields = ["email", "workspace__name"]
    readonly_fields = [f.name for f in Invitation._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    """The security activity log, as the person sees it under Settings: read-only."""

    list_display = ["created_at", "user_email", "kind", "ip_address", "browser", "detail"]
    list_filter = ["kind", "created_at"]
    search_fields = ["user__email", "ip_address"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    readonly_fields = ["user", "kind", "ip_address", "user_agent", "browser", "detail", "created_at"]
    fields = readonly_fields

    @admin.display(description="User", ordering="user__email")
    def user_email(self, obj):
        return obj.user.email

    @admin.display(description="Browser or device")
    def browser(self, obj):
        return user_agent_label(obj.user_agent) if obj.user_agent else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# allauth's own admin for sessions searches `user__username`, which our User does not have (it
# signs in by email): replaced by the same list, searched by email and address.
if admin.site.is_registered(UserSession):
    admin.site.unregister(UserSession)


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    raw_id_fields = ("user",)
    list_display = ("user", "created_at", "last_seen_at", "ip", "user_agent")
    search_fields = ["user__email", "ip"]
