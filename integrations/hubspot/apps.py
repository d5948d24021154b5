from django.apps import AppConfig


class HubSpotConfig(AppConfig):
    name = "integrations.hubspot"
    label = "hubspot"
    verbose_name = "HubSpot"

    def ready(self):
        from clozit import events

        from .receivers import on_event
        from .services import hubspot_workspace_erase, hubspot_workspace_export

        events.happened.connect(on_event, dispatch_uid="hubspot.on_event")
        events.workspace_purging.connect(hubspot_workspace_erase, dispatch_uid="hubspot.workspace_erase")
        events.workspace_exporting.connect(hubspot_workspace_export, dispatch_uid="hubspot.workspace_export")
