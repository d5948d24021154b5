from django.apps import AppConfig


class HubSpotConfig(AppConfig):
    name = "integrations.hubspot"
    label = "hubspot"
    verbose_name = "HubSpot"

    def ready(self):
        from clozit import events

        from .receivers import on_event

        events.happened.connect(on_event, dispatch_uid="hubspot.on_event")
