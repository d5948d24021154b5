from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "integrations.webhooks"
    label = "webhooks"
    verbose_name = "Outgoing webhooks"

    def ready(self):
        from clozit import events

        from .receivers import on_event
        from .services import webhooks_workspace_erase, webhooks_workspace_export

        events.happened.connect(on_event, dispatch_uid="integrations.webhooks")
        events.workspace_purging.connect(webhooks_workspace_erase, dispatch_uid="webhooks.workspace_erase")
        events.workspace_exporting.connect(webhooks_workspace_export, dispatch_uid="webhooks.workspace_export")
