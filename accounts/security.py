"""The security activity log: what touched an account's security, from where, and the person's
answers to it (sign out the other sessions; "this wasn't me").

Events are written in the request that caused them (a sign-in, a changed password, a new API
key); the person reads them under Settings, staff in the admin. They are kept
SECURITY_LOG_RETENTION_DAYS (security_events_purge_due, daily), exported with the account
(security_log.csv) and erased with it (accounts.services.account_purge).
"""

import logging
import re
from datetime import timedelta

from allauth.account.forms import ResetPasswordForm
from allauth.account.internal.flows.logout import logout as allauth_logout
from allauth.usersessions.models import UserSession
from django import forms
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from clozit.remote import client_ip, client_user_agent

from .mobile import normalise_mobile
from .models import SecurityEvent, User
from .sms.delivery import after_response

logger = logging.getLogger(__name__)

Kind = SecurityEvent.Kind
DETAIL_MAX = SecurityEvent._meta.get_field("detail").max_length


def security_event_record(
    *, user: User, kind: str, request: HttpRequest | None = None, detail: str = ""
) -> SecurityEvent:
    """Write one event about `user`, with the IP address and browser of `request` when there is one."""
    return SecurityEvent.objects.create(
        user=user,
        kind=kind,
        ip_address=client_ip(request),
        user_agent=client_user_agent(request),
        detail=detail[:DETAIL_MAX],
    )


def security_events_recent(*, user: User, limit: int | None = 20) -> QuerySet[SecurityEvent]:
    """The person's events, newest first (`limit` of them; None for all, to paginate)."""
    events = SecurityEvent.objects.filter(user=user).order_by("-created_at", "-pk")
    return events if limit is None else events[:limit]


# --- A short label of a browser --------------------------------------------------------------
# Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", Android says "Linux".
_BROWSERS = [
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Version/[\d.]+.*Safari/")),
]
_SYSTEMS = [
    ("iPhone", re.compile(r"iPhone")),
    ("iPad", re.compile(r"iPad")),
    ("Android", re.compile(r"Android")),
    ("Windows", re.compile(r"Windows")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("macOS", re.compile(r"Macintosh|Mac OS X")),
    ("Linux", re.compile(r"Linux")),
]
_TOOLS = re.compile(r"^(curl|Wget|python-requests|python-httpx|Go-http-client|okhttp|PostmanRuntime)/?", re.I)


def user_agent_label(user_agent: str) -> str:
    """ "Chrome on Android", "Firefox on Windows", "curl"; "Unknown browser" when it cannot tell."""
    user_agent = user_agent or ""
    tool = _TOOLS.match(user_agent)
    if tool:
        return tool.group(1)
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or f"A browser on {system}"
    return "Unknown browser"


# --- Retention -------------------------------------------------------------------------------
def security_events_purge_due(*, now=None) -> int:
    """Delete events older than SECURITY_LOG_RETENTION_DAYS; how many went. Daily (clozit/cron.py)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SECURITY_LOG_RETENTION_DAYS)
    deleted, _ = SecurityEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- The person's answers ---------------------------------------------------------------------
def sessions_of(*, user: User) -> list[UserSession]:
    """The account's live sessions (ended ones are dropped on the way), most recently seen first."""
    return sorted(UserSession.objects.purge_and_list(user), key=lambda s: s.last_seen_at, reverse=True)


def _sessions_end(*, user: User, keep: str = "") -> int:
    """End every session of `user` but the one keyed `keep`; how many ended."""
    ended = 0
    for session in UserSession.objects.filter(user=user).exclude(session_key=keep):
        session.end()
        ended += 1
    # Sessions from before usersessions tracked them (or whose row is gone) name the account only
    # in their data: each live one is read (a rare action, linear in the site's live sessions).
    for session in Session.objects.filter(expire_date__gt=timezone.now()).exclude(session_key=keep).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()
            ended += 1
    return ended


def sessions_end_others(*, request: HttpRequest) -> int:
    """Sign out every session of the signed-in account but this one; how many ended."""
    user = request.user
    ended = _sessions_end(user=user, keep=request.session.session_key or "")
    security_event_record(user=user, kind=Kind.SESSIONS_ENDED, request=request, detail=f"{ended} ended")
    return ended


def security_not_me(*, request: HttpRequest) -> User:
    """ "This wasn't me": sign the account out everywhere (this browser too), record it, and email
    a password reset link to its primary address so the person can take the account back.

    The password stops working at once: whoever else knows it cannot sign back in before the
    reset, and browsers marked "trusted" lose their trust, since allauth ties that trust to the
    password hash (a trusted browser would otherwise skip the texted code)."""
    user = request.user
    security_event_record(user=user, kind=Kind.NOT_ME, request=request)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    form = ResetPasswordForm(data={"email": user.email})
    if form.is_valid():
        form.save(request)
    else:  # an address allauth would not take: "Forgot your password?" is still there
        logger.warning("no password reset after 'this wasn't me': %s", form.errors.as_text())
    _sessions_end(user=user)
    allauth_logout(request)
    return user


# --- What allauth and Django tell us (connected in accounts/apps.py) --------------------------
def _masked(phone: str) -> str:
    return f"ending {phone[-2:]}" if phone else ""


def _user_by_login(credentials: dict) -> User | None:
    """The account a failed sign-in tried, by the email (or mobile) typed; None for none."""
    email = credentials.get("email") or credentials.get("username")
    if email:
        return User.objects.filter(email__iexact=email).first()
    phone = credentials.get("phone")
    if phone:
        try:
            phone = normalise_mobile(phone)
        except forms.ValidationError:
            return None  # not a number, so no account
        return User.objects.filter(mobile_number=phone, mobile_verified_at__isnull=False).first()
    return None


def on_logged_in(sender, request, user, **kwargs) -> None:
    security_event_record(user=user, kind=Kind.LOGIN, request=request)
    # allauth's "Trust this browser" answer completes the sign-in in the same request
    # (allauth.mfa TrustView sets the cookie and sends no signal of its own).
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name == "mfa_trust" and request.POST.get("action") == "trust":
        security_event_record(user=user, kind=Kind.TRUSTED_BROWSER, request=request)


def on_logged_out(sender, request, user, **kwargs) -> None:
    if user is not None and user.is_authenticated:
        security_event_record(user=user, kind=Kind.LOGOUT, request=request)


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Written once the response is out (as codes are texted): whether an address has an account
    # must not show in how long a failed sign-in takes. The password is never read here.
    def record() -> None:
        user = _user_by_login(credentials)
        if user is not None:
            security_event_record(user=user, kind=Kind.LOGIN_FAILED, request=request)

    after_response(request, record)


def on_login_code_rejected(sender, request, user, last_attempt=False, **kwargs) -> None:
    detail = "last attempt: the code no longer works" if last_attempt else ""
    security_event_record(user=user, kind=Kind.CODE_FAILED, request=request, detail=detail)


def on_password_changed(sender, request, user, **kwargs) -> None:
    security_event_record(user=user, kind=Kind.PASSWORD_CHANGED, request=request)


def on_password_reset(sender, request, user, **kwargs) -> None:
    security_event_record(user=user, kind=Kind.PASSWORD_RESET, request=request)


def on_email_changed(sender, request, user, from_email_address=None, to_email_address=None, **kwargs) -> None:
    before = from_email_address.email if from_email_address else "none"
    after = to_email_address.email if to_email_address else "none"
    security_event_record(user=user, kind=Kind.EMAIL_CHANGED, request=request, detail=f"primary {before} → {after}")


def on_email_added(sender, request, user, email_address, **kwargs) -> None:
    security_event_record(user=user, kind=Kind.EMAIL_CHANGED, request=request, detail=f"added {email_address.email}")


def on_email_removed(sender, request, user, email_address, **kwargs) -> None:
    detail = f"removed {email_address.email}"
    security_event_record(user=user, kind=Kind.EMAIL_CHANGED, request=request, detail=detail)


def on_authenticator_added(sender, request, user, authenticator, **kwargs) -> None:
    detail = f"added {authenticator.get_type_display()}"
    security_event_record(user=user, kind=Kind.MFA_CHANGED, request=request, detail=detail)


def on_authenticator_removed(sender, request, user, authenticator, **kwargs) -> None:
    detail = f"removed {authenticator.get_type_display()}"
    security_event_record(user=user, kind=Kind.MFA_CHANGED, request=request, detail=detail)


def on_authenticator_reset(sender, request, user, authenticator, **kwargs) -> None:
    detail = f"new {authenticator.get_type_display()}"
    security_event_record(user=user, kind=Kind.MFA_CHANGED, request=request, detail=detail)


def on_social_account_added(sender, request, sociallogin, **kwargs) -> None:
    account = sociallogin.account
    security_event_record(user=account.user, kind=Kind.SOCIAL_CONNECTED, request=request, detail=account.provider)


def on_social_account_removed(sender, request, socialaccount, **kwargs) -> None:
    account = socialaccount
    security_event_record(user=account.user, kind=Kind.SOCIAL_DISCONNECTED, request=request, detail=account.provider)


def mobile_changed_record(*, user: User, phone: str, request: HttpRequest | None) -> None:
    """A signed-in person confirmed a new mobile (not the sign-up's first one)."""
    security_event_record(user=user, kind=Kind.MOBILE_CHANGED, request=request, detail=f"now {_masked(phone)}")


def code_sent_record(*, user: User, phone: str = "", email: str = "", request: HttpRequest | None) -> None:
    """A one-time code was sent; recorded once the response is out (see on_login_failed)."""
    detail = f"to the mobile {_masked(phone)}" if phone else f"to {email}"

    def record() -> None:
        security_event_record(user=user, kind=Kind.CODE_SENT, request=request, detail=detail)

    after_response(request, record)
