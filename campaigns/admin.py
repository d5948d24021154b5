from django import forms
from django.contrib import admin, messages

from . import services
from .contacts import normalise_number
from .errors import CampaignError
from .models import Agent, Call, CallTurn, Campaign, CampaignContact, Contact, ContactList, DoNotCall


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "language", "max_call_seconds", "updated_at"]
    search_fields = ["name", "owner__email"]
    list_filter = ["language"]
    list_select_related = ["owner"]


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ["phone_number", "first_name", "last_name", "variables"]
    show_change_link = True


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "source_filename", "created_at"]
    search_fields = ["name", "owner__email"]
    list_select_related = ["owner"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "first_name", "last_name", "contact_list"]
    search_fields = ["phone_number", "first_name", "last_name", "contact_list__owner__email"]
    list_select_related = ["contact_list"]


class DoNotCallForm(forms.ModelForm):
    class Meta:
        model = DoNotCall
        fields = ["owner", "phone_number", "reason"]

    def clean(self):
        cleaned = super().clean()
        owner, number = cleaned.get("owner"), cleaned.get("phone_number")
        if owner and number:
            try:
                cleaned["phone_number"] = normalise_number(number, default_country=owner.default_country)
            except ValueError as exc:
                self.add_error("phone_number", str(exc))
        return cleaned


@admin.register(DoNotCall)
class DoNotCallAdmin(admin.ModelAdmin):
    form = DoNotCallForm
    list_display = ["phone_number", "owner", "reason", "created_at"]
    search_fields = ["phone_number", "owner__email"]
    list_select_related = ["owner"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "status", "agent", "contact_list", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "owner__email"]
    list_select_related = ["owner", "agent", "contact_list"]
    readonly_fields = ["status", "status_reason", "started_at", "finished_at"]
    actions = ["pause_campaigns"]

    @admin.action(description="Pause selected campaigns (abuse review)")
    def pause_campaigns(self, request, queryset):
        for campaign in queryset:
            try:
                services.campaign_pause(campaign=campaign, reason=f"Paused by support ({request.user.email}).")
            except CampaignError as exc:
                messages.warning(request, f"{campaign}: {exc}")


@admin.register(CampaignContact)
class CampaignContactAdmin(admin.ModelAdmin):
    list_display = ["campaign", "contact", "status", "attempts", "result", "updated_at"]
    list_filter = ["status"]
    search_fields = ["contact__phone_number", "campaign__name"]
    list_select_related = ["campaign", "contact"]


class CallTurnInline(admin.TabularInline):
    model = CallTurn
    extra = 0
    can_delete = False
    readonly_fields = ["sequence", "speaker", "text", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CallTurn)
class CallTurnAdmin(admin.ModelAdmin):
    """Search across transcripts (e.g. for spam or abuse reports)."""

    list_display = ["call", "sequence", "speaker", "text", "created_at"]
    list_filter = ["speaker"]
    search_fields = ["text", "call__to_number", "call__owner__email"]
    list_select_related = ["call"]
    readonly_fields = ["call", "sequence", "speaker", "text", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "owner",
        "to_number",
        "status",
        "outcome",
        "duration_seconds",
        "credits_charged",
        "created_at",
    ]
    list_filter = ["status", "outcome", "provider", "created_at"]
    search_fields = ["to_number", "provider_call_id", "owner__email"]
    list_select_related = ["owner"]
    inlines = [CallTurnInline]
    readonly_fields = [f.name for f in Call._meta.fields]
