from django.contrib import admin

from .models import ProviderEvent


@admin.register(ProviderEvent)
class ProviderEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "provider", "kind", "call_id", "dedupe_key"]
    list_filter = ["provider", "kind"]
    search_fields = ["dedupe_key", "call_id"]
    readonly_fields = ["provider", "dedupe_key", "call_id", "kind", "payload", "received_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
