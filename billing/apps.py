from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        from clozit import events

        from . import checks  # noqa: F401 - registers the deploy checks
        from .credit_backs import on_event
        from .disputes import disputes_purge

        events.happened.connect(on_event, dispatch_uid="billing.credit_backs")
        events.workspace_purging.connect(disputes_purge, dispatch_uid="billing.disputes_purge")
