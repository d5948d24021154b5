from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from allauth.account import signals as account_signals
        from allauth.mfa import signals as mfa_signals
        from allauth.socialaccount import signals as social_signals
        from django.contrib.auth import signals as auth_signals

        from . import security
        from .middleware import choose_workspace_at_login, session_seen_at_login

        # Session plumbing, not a rule: which workspace a new session starts in.
        auth_signals.user_logged_in.connect(
            choose_workspace_at_login, dispatch_uid="accounts.choose_workspace_at_login"
        )
        auth_signals.user_logged_in.connect(session_seen_at_login, dispatch_uid="accounts.session_seen_at_login")

        # The security activity log (accounts/security.py).
        receivers = [
            (auth_signals.user_logged_in, security.on_logged_in),
            (auth_signals.user_logged_out, security.on_logged_out),
            (auth_signals.user_login_failed, security.on_login_failed),
            (account_signals.login_code_rejected, security.on_login_code_rejected),
            (account_signals.password_changed, security.on_password_changed),
            (account_signals.password_set, security.on_password_changed),
            (account_signals.password_reset, security.on_password_reset),
            (account_signals.email_changed, security.on_email_changed),
            (account_signals.email_added, security.on_email_added),
            (account_signals.email_removed, security.on_email_removed),
            (mfa_signals.authenticator_added, security.on_authenticator_added),
            (mfa_signals.authenticator_removed, security.on_authenticator_removed),
            (mfa_signals.authenticator_reset, security.on_authenticator_reset),
            (social_signals.social_account_added, security.on_social_account_added),
            (social_signals.social_account_removed, security.on_social_account_removed),
        ]
        for signal, receiver in receivers:
            signal.connect(receiver, dispatch_uid=f"accounts.security.{receiver.__name__}")
