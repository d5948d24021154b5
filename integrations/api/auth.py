"""Who is calling the API: a live key of a workspace in good standing, with the scope the
method needs (GET/HEAD read; every other method writes)."""

from ninja.security import HttpBearer

from .errors import ApiProblem
from .keys import api_key_find
from .models import ApiKey

READ_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request, token: str) -> ApiKey | None:
        key = api_key_find(token)
        if key is None:
            return None  # ninja answers 401 (errors.install makes it a problem document)
        workspace = key.workspace
        if workspace.status != workspace.Status.ACTIVE or workspace.closing_requested_at is not None:
            raise ApiProblem(403, "Workspace not active", "This workspace is suspended or closed.")
        if request.method not in READ_METHODS and not key.can_write:
            raise ApiProblem(403, "Read-only key", "This key may only read; make a key with write scope.")
        request.workspace = workspace
        return key
