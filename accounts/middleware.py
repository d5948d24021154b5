"""Where a signed-in account may go, by its state, and in which time zone it sees times.

- Suspended: only the page saying why, support, the policies and signing out.
- No verified mobile yet (a social sign-up, an abandoned sign-up): only allauth's
  "add and verify your mobile" step, settings and signing out.
"""

import zoneinfo

from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

ALWAYS_OPEN = ("/static/", "/healthz", "/terms/", "/privacy/", "/refunds/", "/telephony/", "/favicon")


class AccountGateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
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
            suspended_url = reverse("account_suspended")
            if path != suspended_url:
                return redirect(suspended_url)
        elif not user.has_verified_mobile and not user.is_staff and not path.startswith(("/accounts/", "/settings/")):
            return redirect("account_change_phone")
        return self.get_response(request)
