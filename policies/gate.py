"""Whether a signed-in person must accept a policy version before going on (accounts.middleware
asks on every request), and which versions the banner announces to them.

Cheap on purpose: the published versions come from the process's copy (policies.selectors), and
the versions this person is known to have accepted are remembered in their session, so a person
who accepted everything costs no query. Only a version not remembered yet is looked up (one
query, for all of them at once: someone may have accepted on another device)."""

import time

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from .models import PolicyVersion
from .selectors import accepted_version_ids, coming_versions, current_versions

SESSION_KEY = "policies_accepted"
CHECKED_KEY = "policies_checked"
RECHECK_SECONDS = 300
_MEMO = "_policies_accepted"


def _relevant_ids() -> list[int]:
    return [v.pk for v in current_versions().values()] + [v.pk for v in coming_versions()]


def _accepted(request) -> set[int]:
    """Ids of the versions in effect or coming that the person accepted: the session's, looked
    up (one query, at most once a request) only when one of them is not known there."""
    known = getattr(request, _MEMO, None)
    if known is not None:
        return known
    relevant = set(_relevant_ids())
    known = set(request.session.get(SESSION_KEY, ()))
    missing = sorted(relevant - known)
    # A version not accepted yet is looked up again at most every RECHECK_SECONDS (someone may
    # accept on another device): otherwise every page of the notice period would cost a query.
    checked_at, checked = request.session.get(CHECKED_KEY, (0, []))
    if missing and not (checked == missing and time.time() - checked_at < RECHECK_SECONDS):
        found = accepted_version_ids(user=request.user, among=missing)
        if found:
            known |= found
            # Only versions in effect or coming: the list stays as short as the policies.
            request.session[SESSION_KEY] = sorted(known & relevant)
        still = sorted(relevant - known)
        request.session[CHECKED_KEY] = (int(time.time()), still) if still else (0, [])
    setattr(request, _MEMO, known)
    return known


def remember_accepted(request, version_ids) -> None:
    """After the person accepted (policies.services.policy_accept): no need to look again."""
    known = set(request.session.get(SESSION_KEY, ())) | set(version_ids)
    request.session[SESSION_KEY] = sorted(known)
    setattr(request, _MEMO, known)


def versions_to_accept(request) -> list[PolicyVersion]:
    """The versions in effect the signed-in person has not accepted (each policy's current one)."""
    current = list(current_versions().values())
    if not current:
        return []
    accepted = _accepted(request)
    return [v for v in current if v.pk not in accepted]


def versions_to_announce(request) -> list[PolicyVersion]:
    """Coming versions the person has not accepted early (the banner's)."""
    coming = coming_versions()
    if not coming:
        return []
    accepted = _accepted(request)
    return [v for v in coming if v.pk not in accepted]


# Where a person who has not accepted may still go: the acceptance page and the policies'
# texts, signing in and out (allauth), their data and closing their account, and the admin
# (staff's work is gated in the app, not in the admin).
OPEN_PREFIXES = ("/policies/", "/accounts/", "/admin/")
OPEN_VIEW_NAMES = ("account_data_export", "account_delete", "account_settings")


def acceptance_response(request) -> HttpResponse | None:
    """The way to the acceptance page (with `next`) for a signed-in person who has a version in
    effect to accept, or None to let the request through."""
    path = request.path
    if path.startswith(OPEN_PREFIXES) or path in {reverse(name) for name in OPEN_VIEW_NAMES}:
        return None
    if not versions_to_accept(request):
        return None
    back = request.get_full_path() if request.method == "GET" and not request.headers.get("HX-Request") else ""
    url = f"{reverse('policy_accept')}?{urlencode({'next': back or reverse('dashboard')})}"
    if request.headers.get("HX-Request"):
        # htmx would put the whole page into a fragment: it is asked to go there instead.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)
