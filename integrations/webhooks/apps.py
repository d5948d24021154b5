from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "integrations.webhooks"
    label = "webhooks"
    verbose_name = "Outgoing webhooks"

    def ready(self):
        from clozit import events

        from .receivers import on_event

        events.happened.connect(on_event, dispatch_uid="integrations.webhooks")
