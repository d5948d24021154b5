from django import forms
from django.conf import settings
from django.contrib import admin, messages

from clozit.admin import count_of
from clozit.phones import normalise_number

from . import numbers
from .models import PhoneNumber, ProviderEvent
from .registry import PROVIDERS


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


class SharedFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "shared"

    def lookups(self, request, model_admin):
        return [("yes", "Shared (platform)"), ("no", "Bought by an account")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(workspace__isnull=self.value() == "yes")
        return queryset


class SharedNumberForm(forms.ModelForm):
    class Meta:
        model = PhoneNumber
        fields = ["number", "label", "provider", "provider_number_id"]
        help_texts = {
            "provider": "The carrier the number belongs to (simulated, twilio or telnyx).",
            "provider_number_id": "The carrier's id for it (Twilio PN…), so releasing it here also gives it back "
            "there. Leave empty for a number managed at the carrier by hand.",
        }

    def clean_number(self):
        try:
            return normalise_number(self.cleaned_data["number"], default_country="US")
        except ValueError as exc:
            raise forms.ValidationError(f"Not a usable number: {exc}.") from None

    def clean_provider(self):
        provider = self.cleaned_data["provider"]
        if provider not in PROVIDERS:
            raise forms.ValidationError(f"Choose one of {', '.join(PROVIDERS)}.")
        return provider


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    """Staff add the platform's shared numbers here; numbers accounts bought are shown, and can
    only be released (through the same service as the account's own page)."""

    list_display = ["number", "workspace", "shared", "status", "label", "inbound_agent", "monthly_fee", "paid_until"]
    list_filter = ["status", SharedFilter, "provider"]
    search_fields = ["number", "workspace__name", "workspace__memberships__user__email", "label"]
    list_select_related = ["workspace", "inbound_agent"]
    actions = ["release"]
    all_fields = [
        "number",
        "workspace",
        "label",
        "status",
        "provider",
        "provider_number_id",
        "inbound_agent",
        "monthly_fee",
        "paid_until",
        "created_at",
        "released_at",
    ]

    @admin.display(boolean=True)
    def shared(self, obj):
        return obj.is_shared

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:  # new rows are shared numbers: accounts get theirs by buying (and paying)
            kwargs["form"] = SharedNumberForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return SharedNumberForm.Meta.fields if obj is None else self.all_fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        editable = {"label"} | ({"provider_number_id"} if obj.is_shared else set())
        return [name for name in self.all_fields if name not in editable]

    def get_changeform_initial_data(self, request):
        return {"provider": settings.TELEPHONY_PROVIDER, **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request, obj=None):
        # A released number is history: viewable, not editable.
        if obj is not None and obj.status == PhoneNumber.Status.RELEASED:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Only a shared number staff added by mistake; a bought number is released, never deleted.
        return obj is not None and obj.is_shared and super().has_delete_permission(request, obj)

    @admin.action(description="Release selected numbers (at the carrier too; no refund)")
    def release(self, request, queryset):
        released, problems = 0, []
        for phone_number in queryset.filter(status=PhoneNumber.Status.ACTIVE):
            try:
                numbers.number_release(phone_number=phone_number)
            except numbers.NumberError as exc:
                problems.append(str(exc))
            else:
                released += 1
        if released:
            self.message_user(request, f"Released {count_of(released, 'number')}.", messages.SUCCESS)
        for problem in problems:
            self.message_user(request, problem, messages.ERROR)
