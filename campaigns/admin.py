from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template import engines
from django.urls import path, reverse, reverse_lazy
from django.utils.html import format_html
from django.utils.text import format_lazy

from clozit.admin import count_of
from clozit.phones import normalise_number

from .contacts import donotcall
from .conversation.knowledge import knowledge_reindex
from .dialing import abuse, killswitch
from .errors import CampaignError
from .lifecycle import review, services
from .models import (
    Agent,
    Call,
    CallTurn,
    Campaign,
    CampaignApproval,
    CampaignContact,
    Contact,
    ContactList,
    DialingStop,
    DoNotCall,
)


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "language", "max_call_seconds", "updated_at"]
    search_fields = ["name", "workspace__name", "workspace__memberships__user__email"]
    list_filter = ["language"]
    list_select_related = ["workspace"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "language" in form.changed_data:
            knowledge_reindex(obj)  # its passages' search vectors follow the language


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ["phone_number", "first_name", "last_name", "variables"]
    show_change_link = True


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "source_filename", "created_at"]
    search_fields = ["name", "workspace__name", "workspace__memberships__user__email"]
    list_select_related = ["workspace"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "first_name", "last_name", "contact_list"]
    search_fields = [
        "phone_number",
        "first_name",
        "last_name",
        "contact_list__workspace__name",
        "contact_list__workspace__memberships__user__email",
    ]
    list_select_related = ["contact_list"]


class DoNotCallForm(forms.ModelForm):
    """An account's entry (with an owner) or a platform-wide one (owner left empty: no account
    may call the number). Numbers are stored in E.164, read in the owner's country, or the staff
    member's for platform-wide entries."""

    # Set by DoNotCallAdmin.get_form: the country numbers without +code are read in when no owner.
    staff_country = "US"

    class Meta:
        model = DoNotCall
        fields = ["workspace", "phone_number", "reason"]
        help_texts = {
            "workspace": format_lazy(
                "Leave empty for the platform-wide list: no account may call the number. "
                'Many numbers at once: <a href="{}">import a CSV to the platform-wide list</a>.',
                reverse_lazy("admin:campaigns_donotcall_import"),
            )
        }

    def clean(self):
        cleaned = super().clean()
        workspace, number = cleaned.get("workspace"), cleaned.get("phone_number")
        if number:
            try:
                cleaned["phone_number"] = normalise_number(
                    number, default_country=workspace.default_country if workspace else self.staff_country
                )
            except ValueError as exc:
                self.add_error("phone_number", str(exc))
        return cleaned


class DoNotCallScopeFilter(admin.SimpleListFilter):
    title = "list"
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [("platform", "Platform-wide"), ("account", "An account's")]

    def queryset(self, request, queryset):
        if self.value() == "platform":
            return queryset.filter(workspace__isnull=True)
        if self.value() == "account":
            return queryset.filter(workspace__isnull=False)
        return queryset


class DoNotCallImportForm(forms.Form):
    file = forms.FileField(help_text="A CSV file with one phone number per line, in the first column.")
    reason = forms.CharField(max_length=200, required=False)


DNC_IMPORT_PAGE = """{% extends "admin/base_site.html" %}
{% block content %}
<p>Numbers in the file go on the platform-wide do-not-call list: no account may call them.
Numbers written without +code are read as numbers of {{ country }}.
Numbers already on the list are left as they are.</p>
<form method="post" enctype="multipart/form-data">{% csrf_token %}
  <table>{{ form.as_table }}</table>
  <div class="submit-row"><input type="submit" value="Import" class="default"></div>
</form>
{% endblock %}"""


@admin.register(DoNotCall)
class DoNotCallAdmin(admin.ModelAdmin):
    form = DoNotCallForm
    list_display = ["phone_number", "scope", "reason", "added_by", "created_at"]
    list_filter = [DoNotCallScopeFilter]
    search_fields = ["phone_number", "workspace__name", "workspace__memberships__user__email", "reason"]
    list_select_related = ["workspace", "added_by"]
    readonly_fields = ["added_by", "created_at"]

    @admin.display(description="List", ordering="workspace__name")
    def scope(self, obj):
        return obj.workspace.name if obj.workspace_id else "Platform-wide"

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:  # not "Delete selected do-not-call list"
            function, name, _ = actions["delete_selected"]
            actions["delete_selected"] = (function, name, "Delete selected do-not-call entries")
        return actions

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.staff_country = getattr(request.user, "default_country", "") or "US"
        return form

    def save_model(self, request, obj, form, change):
        if not change:
            obj.added_by = request.user
        super().save_model(request, obj, form, change)

    def get_search_results(self, request, queryset, search_term):
        """A number typed as people write it ("(202) 555-0101") finds its E.164 entry too."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            number = normalise_number(search_term, default_country=getattr(request.user, "default_country", "US"))
        except ValueError:
            return results, may_have_duplicates
        return results | queryset.filter(phone_number=number), may_have_duplicates

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_platform_numbers),
                name="campaigns_donotcall_import",
            ),
            *super().get_urls(),
        ]

    def import_platform_numbers(self, request):
        """Staff upload a CSV of numbers for the platform-wide list (a regulator's or a complaint list)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        country = getattr(request.user, "default_country", "") or "US"
        form = DoNotCallImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            added, rejected = donotcall.dnc_platform_import(
                data=form.cleaned_data["file"].read(),
                reason=form.cleaned_data["reason"],
                by=request.user,
                default_country=country,
            )
            messages.success(request, f"Added {count_of(added, 'number')} to the platform-wide do-not-call list.")
            if rejected:
                shown = "; ".join(f"line {line}: {why}" for line, why in rejected[:10])
                more = f" (and {len(rejected) - 10} more)" if len(rejected) > 10 else ""
                messages.warning(request, f"{count_of(len(rejected), 'line')} skipped: {shown}{more}")
            return redirect("admin:campaigns_donotcall_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Import numbers to the platform-wide do-not-call list",
            "form": form,
            "country": country,
            "opts": self.model._meta,
        }
        return HttpResponse(engines["django"].from_string(DNC_IMPORT_PAGE).render(context, request))


class CampaignReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=250,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Shown to the campaign's owner on the campaign page.",
    )


CAMPAIGN_PAUSE_PAGE = """{% extends "admin/base_site.html" %}
{% block content %}
<p>Campaigns to pause (calls already in progress finish normally):</p>
<ul>{% for campaign in campaigns %}
  <li>{{ campaign.name }} ({{ campaign.workspace.name }}, now {{ campaign.get_status_display }})</li>
{% endfor %}</ul>
<form method="post">{% csrf_token %}
  {% for campaign in campaigns %}
    <input type="hidden" name="{{ action_checkbox_name }}" value="{{ campaign.pk }}">
  {% endfor %}
  <input type="hidden" name="action" value="{{ action }}">
  <table>{{ form.as_table }}</table>
  <div class="submit-row"><input type="submit" name="apply" value="Pause" class="default"></div>
</form>
{% endblock %}"""


class FlaggedFilter(admin.SimpleListFilter):
    title = "abuse flag"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Flagged for review"), ("reviewed", "Reviewed"), ("no", "Never flagged")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(flag_reason="")
        if self.value() == "reviewed":
            return queryset.filter(flagged_at__isnull=False, flag_reason="")
        if self.value() == "no":
            return queryset.filter(flagged_at__isnull=True)
        return queryset


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "status", "flagged", "flag_reason", "agent", "contact_list", "created_at"]
    list_filter = [FlaggedFilter, "status"]
    search_fields = ["name", "workspace__name", "workspace__memberships__user__email"]
    list_select_related = ["workspace", "agent", "contact_list"]
    readonly_fields = [
        "status",
        "status_reason",
        "pause_kind",
        "launch_at",
        "archived_at",
        "flagged_at",
        "flag_reason",
        "started_at",
        "finished_at",
        "paused_by_stop",
    ]
    actions = ["pause_campaigns", "clear_flag"]

    @admin.display(description="Flagged", boolean=True, ordering="flagged_at")
    def flagged(self, obj):
        return bool(obj.flag_reason)

    @admin.action(description="Pause selected campaigns (with a reason the owner sees)…")
    def pause_campaigns(self, request, queryset):
        form = CampaignReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason = f"Paused by support: {form.cleaned_data['reason']}"
            paused = 0
            for campaign in queryset:
                try:
                    services.campaign_pause(campaign=campaign, reason=reason)
                except CampaignError as exc:
                    messages.warning(request, f"{campaign}: {exc}")
                else:
                    paused += 1
                    self.log_change(request, campaign, reason)
            if paused:
                messages.success(request, f"Paused {count_of(paused, 'campaign')}.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Pause campaigns: give a reason",
            "form": form,
            "campaigns": queryset.select_related("workspace"),
            "action": request.POST.get("action"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return HttpResponse(engines["django"].from_string(CAMPAIGN_PAUSE_PAGE).render(context, request))

    @admin.action(description="Clear flag (reviewed)")
    def clear_flag(self, request, queryset):
        cleared = 0
        for campaign in queryset:
            if abuse.campaign_flag_clear(campaign=campaign):
                cleared += 1
                self.log_change(request, campaign, "Abuse flag cleared after review")
        messages.success(
            request,
            f"Cleared the flag of {count_of(cleared, 'campaign')}. "
            "Paused campaigns stay paused until their owner resumes them.",
        )


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
    search_fields = ["text", "call__to_number", "call__workspace__name", "call__workspace__memberships__user__email"]
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
        "workspace",
        "to_number",
        "status",
        "outcome",
        "duration_seconds",
        "credits_charged",
        "created_at",
    ]
    list_filter = ["status", "outcome", "provider", "created_at"]
    search_fields = ["to_number", "provider_call_id", "workspace__name", "workspace__memberships__user__email"]
    list_select_related = ["workspace"]
    inlines = [CallTurnInline]
    readonly_fields = [f.name for f in Call._meta.fields]


# --- Approvals before launch (campaigns.lifecycle.approval and .review) ---------------------------


class PendingFirst(admin.SimpleListFilter):
    """The queue opens on what waits for a decision."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(CampaignApproval.Status.PENDING, "Waiting"), ("decided", "Decided"), ("all", "All")]

    def queryset(self, request, queryset):
        value = self.value() or CampaignApproval.Status.PENDING
        if value == "all":
            return queryset
        if value == "decided":
            return queryset.exclude(status=CampaignApproval.Status.PENDING)
        return queryset.filter(status=CampaignApproval.Status.PENDING)

    def choices(self, changelist):
        current = self.value() or CampaignApproval.Status.PENDING
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


REJECT_PAGE = """{% extends "admin/base_site.html" %}
{% block content %}
<p>Campaigns not to approve (they stay drafts; the workspaces' owners read the reason on the campaign
page and by email):</p>
<ul>{% for approval in approvals %}
  <li>{{ approval.campaign.name }} ({{ approval.workspace.name }})</li>
{% endfor %}</ul>
<form method="post">{% csrf_token %}
  {% for approval in approvals %}
    <input type="hidden" name="{{ action_checkbox_name }}" value="{{ approval.pk }}">
  {% endfor %}
  <input type="hidden" name="action" value="{{ action }}">
  <table>{{ form.as_table }}</table>
  <div class="submit-row"><input type="submit" name="apply" value="Reject" class="default"></div>
</form>
{% endblock %}"""


@admin.register(CampaignApproval)
class CampaignApprovalAdmin(admin.ModelAdmin):
    list_display = ["requested_at", "campaign", "workspace", "why", "contacts", "purpose", "status"]
    list_filter = [PendingFirst]
    search_fields = ["campaign__name", "workspace__name"]
    list_select_related = ["campaign", "workspace"]
    fields = [
        "campaign_link",
        "workspace",
        "status",
        "why",
        "contacts",
        "purpose",
        "consent",
        "opening_line",
        "script",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_reason",
    ]
    readonly_fields = fields
    actions = ["approve", "reject"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("campaign__contact_list__consent_confirmed_by", "workspace", "requested_by", "decided_by")
        )

    @admin.display(description="Campaign")
    def campaign_link(self, approval):
        url = reverse("admin:campaigns_campaign_change", args=[approval.campaign_id])
        return format_html('<a href="{}">{}</a>', url, approval.campaign.name)

    @admin.display(description="Purpose")
    def purpose(self, approval):
        return approval.campaign.purpose or "not stated"

    @admin.display(description="Consent attestation")
    def consent(self, approval):
        contact_list = approval.campaign.contact_list
        if contact_list.consent_confirmed_at is None:
            return f"None for the list “{contact_list.name}”."
        who = contact_list.consent_confirmed_by
        return (
            f"Confirmed for the list “{contact_list.name}” by {who.email if who else 'a former member'} "
            f"on {contact_list.consent_confirmed_at:%Y-%m-%d %H:%M} UTC."
        )

    @admin.action(description="Approve and launch the selected campaigns")
    def approve(self, request, queryset):
        for approval in queryset.filter(status=CampaignApproval.Status.PENDING):
            try:
                campaign = review.campaign_approve(approval_id=approval.pk, by=request.user)
            except CampaignError as exc:
                messages.warning(request, f"{approval.campaign}: {exc}")
                continue
            self.log_change(request, approval, "Approved")
            if campaign.status == Campaign.Status.DRAFT:
                messages.warning(request, f"{campaign}: approved, but not launched: {campaign.status_reason}")
            else:
                messages.success(request, f"{campaign}: approved and launched.")

    @admin.action(description="Reject the selected campaigns (with a reason the owners read)…")
    def reject(self, request, queryset):
        form = CampaignReasonForm(request.POST if "apply" in request.POST else None)
        pending = queryset.filter(status=CampaignApproval.Status.PENDING)
        if form.is_valid():
            rejected = 0
            for approval in pending:
                try:
                    review.campaign_reject(approval_id=approval.pk, reason=form.cleaned_data["reason"], by=request.user)
                except CampaignError as exc:
                    messages.warning(request, f"{approval.campaign}: {exc}")
                    continue
                rejected += 1
                self.log_change(request, approval, f"Rejected: {form.cleaned_data['reason']}")
            messages.success(request, f"Rejected {count_of(rejected, 'campaign')}; the owners are emailed.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject campaigns: give a reason",
            "form": form,
            "approvals": pending.select_related("campaign", "workspace"),
            "action": request.POST.get("action"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return HttpResponse(engines["django"].from_string(REJECT_PAGE).render(context, request))


# --- The kill switch (campaigns.dialing.killswitch) ----------------------------------------------


class DialingStopForm(forms.ModelForm):
    class Meta:
        model = DialingStop
        fields = ["scope", "carrier", "workspace", "reason"]
        help_texts = {
            "carrier": "Scope “one carrier”: its provider name, as calls record it (twilio, telnyx, simulated).",
            "workspace": "Scope “one workspace”.",
            "reason": "Customers whose campaigns pause read it: “Dialling stopped by Clozit: <reason>”.",
        }

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        if scope == DialingStop.Scope.CARRIER and not (data.get("carrier") or "").strip():
            self.add_error("carrier", "Name the carrier to stop.")
        if scope == DialingStop.Scope.WORKSPACE and not data.get("workspace"):
            self.add_error("workspace", "Choose the workspace to stop.")
        if scope != DialingStop.Scope.CARRIER:
            data["carrier"] = ""
        if scope != DialingStop.Scope.WORKSPACE:
            data["workspace"] = None
        return data


class ActiveFirst(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("lifted", "Lifted")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(lifted_at__isnull=True)
        if self.value() == "lifted":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


@admin.register(DialingStop)
class DialingStopAdmin(admin.ModelAdmin):
    """Add a stop to stop dialling (platform, carrier or workspace); the action lifts it."""

    form = DialingStopForm
    list_display = ["created_at", "target", "reason", "created_by", "active", "lifted_at", "lifted_by", "paused"]
    list_filter = [ActiveFirst, "scope"]
    list_select_related = ["workspace", "created_by", "lifted_by"]
    autocomplete_fields = ["workspace"]
    actions = ["lift"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["scope", "carrier", "workspace", "reason", "created_by", "created_at", "lifted_at", "lifted_by"]

    def has_delete_permission(self, request, obj=None):
        return False  # the record stays; a stop is lifted, not deleted

    @admin.display(description="Active", boolean=True)
    def active(self, stop):
        return stop.lifted_at is None

    @admin.display(description="Campaigns it holds paused")
    def paused(self, stop):
        return stop.paused_campaigns.filter(status=Campaign.Status.PAUSED).count()

    def save_model(self, request, obj, form, change):
        if change:
            return  # a stop does not change: lift it and add another
        stop = killswitch.dialing_stop_add(
            scope=obj.scope, carrier=obj.carrier, workspace=obj.workspace, reason=obj.reason, by=request.user
        )
        obj.pk, obj.created_by, obj.created_at = stop.pk, stop.created_by, stop.created_at
        paused = count_of(stop.paused_campaigns.count(), "running campaign")
        messages.warning(request, f"Dialling stopped for {stop.target}; {paused} paused.")

    @admin.action(description="Lift the selected stops (resumes the campaigns they paused)")
    def lift(self, request, queryset):
        for stop in queryset.filter(lifted_at__isnull=True):
            resumed = killswitch.dialing_stop_lift(stop_id=stop.pk, by=request.user)
            self.log_change(request, stop, "Lifted")
            messages.success(request, f"Lifted the stop on {stop.target}: {count_of(resumed, 'campaign')} resumed.")
