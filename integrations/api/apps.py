from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "integrations.api"
    label = "api"

    def ready(self):
        from clozit import events

        from .keys import api_keys_erase, api_keys_export

        events.workspace_purging.connect(api_keys_erase, dispatch_uid="api.keys_erase")
        events.workspace_exporting.connect(api_keys_export, dispatch_uid="api.keys_export")
