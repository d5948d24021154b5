from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        from clozit import events

        from . import checks  # noqa: F401 - registers the deploy checks
        from .credit_backs import on_event

        events.happened.connect(on_event, dispatch_uid="billing.credit_backs")
