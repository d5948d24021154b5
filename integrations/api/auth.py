"""Who is calling the API: a live key of a workspace in good standing, with the scope the
method needs (GET/HEAD read; every other method writes), within its rate limit.

A key belongs to the workspace, not to the member who made it: it keeps working after that
member leaves or is removed, until someone revokes it."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from ninja.security import HttpBearer

from clozit.remote import client_ip

from . import ratelimit
from .errors import ApiProblem
from .keys import api_key_find
from .models import ApiKey

READ_METHODS = ("GET", "HEAD", "OPTIONS")
# A busy key would otherwise write its row on every request; the page shows minutes, not seconds.
LAST_USED_EVERY = timedelta(minutes=1)


def _last_used_record(key: ApiKey, ip: str | None) -> None:
    now = timezone.now()
    if key.last_used_at is not None and key.last_used_at > now - LAST_USED_EVERY:
        return
    # Conditional, so of many processes seeing a stale time at once only one writes.
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_EVERY)
    ).update(last_used_at=now, last_used_ip=ip)


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request, token: str) -> ApiKey | None:
        ip = client_ip(request)
        ratelimit.auth_failures_check(ip=ip or "unknown")
        key = api_key_find(token)
        if key is None:
            ratelimit.auth_failure_record(ip=ip or "unknown")
            return None  # ninja answers 401 (errors.install makes it a problem document)
        workspace = key.workspace
        if workspace.status != workspace.Status.ACTIVE or workspace.closing_requested_at is not None:
            raise ApiProblem(403, "Workspace not active", "This workspace is suspended or closed.")
        request.rate_limit = ratelimit.key_rate_check(key_id=key.pk)
        if request.method not in READ_METHODS and not key.can_write:
            raise ApiProblem(403, "Read-only key", "This key may only read; make a key with write scope.")
        _last_used_record(key, ip)
        request.workspace = workspace
        return key
