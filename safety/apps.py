from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "safety"
    verbose_name = "Trust and safety"

    def ready(self):
        from clozit import events

        from .services import reports_purge

        # A purged workspace's reports go with it: they quote the callee's words.
        events.workspace_purging.connect(reports_purge, dispatch_uid="safety.reports_purge")
