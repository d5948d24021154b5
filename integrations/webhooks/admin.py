"""Staff read the delivery log; they change nothing here (endpoints are the workspace's own)."""

from django.contrib import admin

from .models import Delivery, Endpoint


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Endpoint)
class EndpointAdmin(ReadOnly):
    list_display = ["url", "workspace", "enabled", "failing_since", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "workspace__name"]
    exclude = ["secret", "previous_secret"]  # the workspace's to see, not staff's


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = ["message", "endpoint", "status", "attempts", "last_status_code", "next_attempt_at", "created_at"]
    list_filter = ["status"]
    list_select_related = ["message", "endpoint"]
    search_fields = ["message__msg_id", "endpoint__url"]
    raw_id_fields = ["message", "endpoint"]
