"""Where a signed-in account may go, by its state, in which workspace, and in which time zone
it sees times.

- The current workspace: the one chosen in this session (WORKSPACE_SESSION_KEY) if the user
  still belongs to it, else their personal one, else their first. `request.member` is the
  membership (its role says what may be done: accounts.roles), `request.workspace` its workspace.
- Suspended (the user, or the current workspace): only the page saying why, support, the
  policies, switching workspace and signing out.
- No verified mobile yet (a social sign-up, an abandoned sign-up): only allauth's
  "add and verify your mobile" step, settings and signing out.
- A published policy version in effect that the person has not accepted: only the page to
  accept it, the policies, their data, closing the account and signing out (policies.gate).
"""

import time
import zoneinfo

from allauth.core.exceptions import RateLimited
from allauth.core.ratelimit import respond_429
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from policies import gate as policy_gate

from . import roles
from .workspaces import memberships_of, personal_workspace_of

WORKSPACE_SESSION_KEY = "workspace_id"

# "/who-called/": the public page for people who were called; a member whose workspace is
# suspended may have been called too.
ALWAYS_OPEN = (
    "/static/",
    "/healthz",
    "/terms/",
    "/privacy/",
    "/refunds/",
    "/telephony/",
    "/favicon",
    "/api/",
    "/who-called/",
    "/policies/",
)


class AccountGateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timezone.deactivate()  # a thread's previous request must not lend this one its time zone
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        try:
            timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        path = request.path
        if path.startswith(ALWAYS_OPEN) or path.startswith(reverse("account_logout")):
            return self.get_response(request)
        request.member = current_membership(request)
        request.workspace = request.member.workspace
        suspended = (
            user.status == user.Status.SUSPENDED or request.workspace.status == request.workspace.Status.SUSPENDED
        )
        if suspended:
            # Still their data: they may download it, close the account, or work in another workspace.
            allowed = (
                reverse("account_suspended"),
                reverse("account_data_export"),
                reverse("account_delete"),
                reverse("workspace_switch"),
            )
            if path not in allowed:
                return redirect("account_suspended")
        elif not user.has_verified_mobile and not user.is_staff and not path.startswith(("/accounts/", "/settings/")):
            return redirect("account_change_phone")
        elif (refusal := policy_gate.acceptance_response(request)) is not None:
            # A policy version in effect that this person has not accepted: nothing else until
            # they do (their data, closing the account and signing out stay open: policies.gate).
            return refusal
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        """The role check for workspace pages (accounts.roles): before the view, so nothing a
        role may not do runs, whatever the request was crafted to say."""
        member = getattr(request, "member", None)
        match = request.resolver_match
        if member is None or match is None or match.namespace:  # admin, RQ: staff's own checks
            return None
        if request.path.startswith("/accounts/"):  # allauth's pages: the person's sign-in, not the workspace
            return None
        name = match.url_name
        if request.method in ("GET", "HEAD", "OPTIONS"):
            action = roles.READ_ACTION_OF_VIEW.get(name)
        elif name in roles.OPEN_VIEWS:
            action = None
        else:
            # A view that changes something but is in neither list is refused: deny by default.
            action = roles.ACTION_OF_VIEW.get(name, roles.Action.OWN if name else None)
        if action is not None:
            roles.require(member, action)
        return None

    def process_exception(self, request, exception):
        # allauth raises RateLimited, uncaught, when a code to a number is asked for too soon
        # from a page without its own handling (the change-mobile form): a 429, not a 500.
        if isinstance(exception, RateLimited):
            return respond_429(request)
        return None


def current_membership(request):
    """The membership the session works in (see the module's docstring), in one query with the
    others (the header's switcher lists them: `request.memberships`). The personal workspace is
    made if the account has no workspace at all (one made by `createsuperuser`)."""
    memberships = memberships_of(request.user)
    if not memberships:
        personal_workspace_of(request.user)
        memberships = memberships_of(request.user)
    wanted = request.session.get(WORKSPACE_SESSION_KEY)
    member = next((m for m in memberships if m.workspace_id == wanted), memberships[0])
    if member.workspace_id != wanted:
        request.session[WORKSPACE_SESSION_KEY] = member.workspace_id
    request.memberships = memberships
    return member


def choose_workspace_at_login(sender, request, user, **kwargs):
    """Signing in starts in the account's personal workspace (or its first), chosen here so the
    first page does not write the session again."""
    if request is not None and hasattr(request, "session"):
        memberships = memberships_of(user)
        if memberships:
            request.session[WORKSPACE_SESSION_KEY] = memberships[0].workspace_id


SESSION_SEEN_KEY = "session_seen_at"


class SessionActivityMiddleware:
    """Each session's IP address, browser and last-seen time, for "Where you're signed in"
    (allauth.usersessions' rows), written at most every SESSION_ACTIVITY_EVERY_SECONDS. allauth's
    own tracking (USERSESSIONS_TRACK_ACTIVITY) writes the row on every request: two queries on
    every page for a time nobody needs to the second."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if user is not None and user.is_authenticated and session is not None and session.session_key:
            now = int(time.time())
            if now - session.get(SESSION_SEEN_KEY, 0) >= settings.SESSION_ACTIVITY_EVERY_SECONDS:
                UserSession.objects.create_from_request(request)
                session[SESSION_SEEN_KEY] = now
        return self.get_response(request)


def session_seen_at_login(sender, request, user, **kwargs):
    """A sign-in through allauth has just written the session's row (allauth.usersessions):
    the next write is due SESSION_ACTIVITY_EVERY_SECONDS later."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_SEEN_KEY] = int(time.time())
