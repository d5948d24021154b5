"""Staff write policy versions here and publish them (policies.services does the checking and
the telling); published versions and acceptances are read-only."""

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html

from .errors import PolicyError
from .models import PolicyAcceptance, PolicyVersion
from .services import compare_url, policy_version_publish
from .text import blocks_as_text, builtin_blocks

FIELDS = ["policy", "version", "effective_at", "summary", "text"]


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "effective_at", "state", "published_at", "published_by", "acceptances_count"]
    list_filter = ["policy", ("published_at", admin.EmptyFieldListFilter)]
    search_fields = ["version", "summary"]
    list_select_related = ["published_by"]
    actions = ["publish_selected"]
    change_form_template = "policies/admin_change_form.html"

    def get_fields(self, request, obj=None):
        if obj is not None and obj.published_at is not None:
            return [*FIELDS, "published_at", "published_by", "compare"]
        return FIELDS

    def get_readonly_fields(self, request, obj=None):
        # Published: fixed for good (the database refuses a change too).
        if obj is not None and obj.published_at is not None:
            return [*FIELDS, "published_at", "published_by", "compare"]
        return []

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.published_at is None)

    def get_changeform_initial_data(self, request):
        """A new version starts from the text it replaces: the latest version of the policy asked
        for (?policy=privacy), or its built-in page."""
        initial = super().get_changeform_initial_data(request)
        policy = initial.get("policy")
        if policy in PolicyVersion.Policy.values and "text" not in initial:
            latest = PolicyVersion.objects.filter(policy=policy).order_by("-effective_at").first()
            initial["text"] = latest.text if latest else blocks_as_text(builtin_blocks(policy))
        return initial

    @admin.display(description="State")
    def state(self, obj):
        return "published" if obj.published_at else "draft"

    @admin.display(description="Accepted by")
    def acceptances_count(self, obj):
        return obj.acceptances.count() if obj.published_at else "—"

    @admin.display(description="What changed")
    def compare(self, obj):
        url = compare_url(obj)
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    def get_urls(self):
        publish = self.admin_site.admin_view(self.publish_view)
        return [path("<int:pk>/publish/", publish, name="policies_policyversion_publish"), *super().get_urls()]

    def publish_view(self, request, pk):
        version = get_object_or_404(PolicyVersion, pk=pk)
        back = reverse("admin:policies_policyversion_change", args=[pk])
        if request.method != "POST" or not self.has_change_permission(request, version):
            return redirect(back)
        self._publish(request, version)
        return redirect(back)

    def _publish(self, request, version: PolicyVersion) -> None:
        if version.published_at is not None:
            messages.info(request, f"{version} was published already: nothing was sent again.")
            return
        try:
            policy_version_publish(version=version, by=request.user)
        except PolicyError as exc:
            messages.error(request, f"{version} was not published: {exc}")
        else:
            messages.success(request, f"{version} is published; every active account is being told by email.")

    @admin.action(description="Publish selected versions (emails every active account)")
    def publish_selected(self, request, queryset):
        for version in queryset.order_by("effective_at"):
            self._publish(request, version)


@admin.register(PolicyAcceptance)
class PolicyAcceptanceAdmin(admin.ModelAdmin):
    list_display = ["user", "version", "accepted_at", "ip_address"]
    list_filter = ["version__policy", "version"]
    search_fields = ["user__email"]
    list_select_related = ["user", "version"]
    readonly_fields = ["user", "version", "accepted_at", "ip_address", "user_agent"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
