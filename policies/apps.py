from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Terms and policies"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_delete, post_save

        from clozit import events

        from .exports import acceptances_export
        from .models import PolicyVersion
        from .selectors import published_versions, published_versions_forget
        from .services import acceptances_anonymise

        # The person's acceptances go in their export; at the purge they stay without IP and browser.
        events.account_exporting.connect(acceptances_export, dispatch_uid="policies.acceptances_export")
        events.account_purging.connect(acceptances_anonymise, dispatch_uid="policies.acceptances_anonymise")

        # This process reads the published versions again after any change it made to one.
        def forget(**kwargs):
            published_versions_forget()

        post_save.connect(forget, sender=PolicyVersion, dispatch_uid="policies.forget_saved", weak=False)
        post_delete.connect(forget, sender=PolicyVersion, dispatch_uid="policies.forget_deleted", weak=False)

        # Signing in reads the list if this process has none fresh, so the pages after it (gated
        # from then on) cost no query for it: a page's queries do not depend on the process's age.
        def warm(**kwargs):
            published_versions()

        user_logged_in.connect(warm, dispatch_uid="policies.warm_at_sign_in", weak=False)
