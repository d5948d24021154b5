from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .middleware import choose_workspace_at_login

        # Session plumbing, not a rule: which workspace a new session starts in.
        user_logged_in.connect(choose_workspace_at_login, dispatch_uid="accounts.choose_workspace_at_login")
