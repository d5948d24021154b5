from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "safety"
    verbose_name = "Trust and safety"

    def ready(self):
        from clozit import events

        from .qa import qa_on_call_end
        from .services import reports_purge

        # A purged workspace's reports go with it: they quote the callee's words.
        events.workspace_purging.connect(reports_purge, dispatch_uid="safety.reports_purge")
        # Calls that end with an opt-out, a transfer, a failure, or in the sample, wait for QA review.
        events.happened.connect(qa_on_call_end, dispatch_uid="safety.qa_on_call_end")
