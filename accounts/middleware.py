"""Where a signed-in account may go, by its state, and in which time zone it sees times.

- Suspended: only the page saying why, support, the policies and signing out.
- No verified mobile yet (a social sign-up, an abandoned sign-up): only allauth's
  "add and verify your mobile" step, settings and signing out.
"""

import zoneinfo

from allauth.core.exceptions import RateLimited
from allauth.core.ratelimit import respond_429
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

ALWAYS_OPEN = ("/static/", "/healthz", "/terms/", "/privacy/", "/refunds/", "/telephony/", "/favicon")


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
        if user.status == user.Status.SUSPENDED:
            # Still their data: they may download it or close the account.
            allowed = (reverse("account_suspended"), reverse("account_data_export"), reverse("account_delete"))
            if path not in allowed:
                return redirect("account_suspended")
        elif not user.has_verified_mobile and not user.is_staff and not path.startswith(("/accounts/", "/settings/")):
            return redirect("account_change_phone")
        return self.get_response(request)

    def process_exception(self, request, exception):
        # allauth raises RateLimited, uncaught, when a code to a number is asked for too soon
        # from a page without its own handling (the change-mobile form): a 429, not a 500.
        if isinstance(exception, RateLimited):
            return respond_429(request)
        return None
