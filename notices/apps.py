from django.apps import AppConfig


class NoticesConfig(AppConfig):
    name = "notices"
    verbose_name = "Account notices"

    def ready(self):
        from clozit import events

        from .listeners import on_event
        from .selectors import notices_export
        from .services import notices_purge

        # Campaigns paused by the rules or completed, credits running low: told to the workspace.
        events.happened.connect(on_event, dispatch_uid="notices.on_event")
        # The person's notices are theirs: in their export, and erased with their account.
        events.account_exporting.connect(notices_export, dispatch_uid="notices.notices_export")
        events.account_purging.connect(notices_purge, dispatch_uid="notices.notices_purge")
