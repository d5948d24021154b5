from django.apps import AppConfig


class HubSpotConfig(AppConfig):
    name = "integrations.hubspot"
    label = "hubspot"
