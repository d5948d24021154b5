from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from . import services
from .models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["email", "company_name", "status", "mobile_number", "date_joined", "is_staff"]
    list_filter = ["status", "is_staff", "date_joined"]
    search_fields = ["email", "company_name", "mobile_number", "first_name", "last_name"]
    readonly_fields = ["status", "status_reason", "status_changed_at", "last_login", "date_joined"]
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
                    "default_country",
                ]
            },
        ),
        ("Account status", {"fields": ["status", "status_reason", "status_changed_at"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    actions = ["suspend", "reactivate"]

    @admin.action(description="Suspend selected accounts (stops their calling)")
    def suspend(self, request, queryset):
        for user in queryset:
            services.account_set_status(
                user=user, status=User.Status.SUSPENDED, reason="Suspended by staff", by=request.user
            )
        messages.success(request, f"Suspended {queryset.count()} account(s).")

    @admin.action(description="Reactivate selected accounts")
    def reactivate(self, request, queryset):
        for user in queryset:
            services.account_set_status(
                user=user, status=User.Status.ACTIVE, reason="Reactivated by staff", by=request.user
            )
        messages.success(request, f"Reactivated {queryset.count()} account(s).")
