"""The admin site support staff use: Clozit's name and icon, one "Accounts" section for everything
about who can log in, and counts in words ("2 accounts", not "2 account(s)").

Installed in place of django.contrib.admin (settings.INSTALLED_APPS: ClozitAdminConfig), so
`admin.site` is a ClozitAdminSite everywhere.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.sites import AdminSite

# allauth's sign-in models and Django's groups belong with the users, under one "Accounts".
SIGN_IN_APPS = ("account", "auth", "mfa", "socialaccount")


def count_of(number: int, singular: str, plural: str | None = None) -> str:
    """ "1 account", "2 accounts" (or `plural` where adding an s is wrong)."""
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"


class ClozitAdminSite(AdminSite):
    site_header = "Clozit administration"
    site_title = "Clozit admin"
    index_title = "Support"

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        accounts = next((app for app in apps if app["app_label"] == "accounts"), None)
        kept = []
        for app in apps:
            if app["app_label"] == "django_rq":  # django-rq's one link, to its queue dashboard
                app["name"] = "Background jobs"
                for model in app["models"]:
                    model["name"] = "Queues and workers"
            if accounts is not None and app["app_label"] in SIGN_IN_APPS:
                accounts["models"].extend(app["models"])
            else:
                kept.append(app)
        if accounts is not None:
            # Users first, the rest by name.
            accounts["models"].sort(key=lambda model: (model["object_name"] != "User", model["name"]))
        return kept


class ClozitAdminConfig(AdminConfig):
    default_site = "clozit.admin.ClozitAdminSite"


class QueueStatusFilter(admin.SimpleListFilter):
    """A staff queue's status filter that opens on what is still to decide (`default`) rather
    than on everything; "All" shows the rest. Subclasses set `statuses` (the model's choices)."""

    title = "status"
    parameter_name = "status"
    statuses: list[tuple[str, str]] = []
    default = "open"

    def lookups(self, request, model_admin):
        return [*self.statuses, ("all", "All")]

    def queryset(self, request, queryset):
        value = self.value() or self.default
        return queryset if value == "all" else queryset.filter(status=value)

    def choices(self, changelist):
        current = self.value() or self.default
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }
