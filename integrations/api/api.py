"""The public REST API, /api/v1/. Its schemas are its OpenAPI document (/api/v1/openapi.json)
and interactive reference (/api/v1/docs, ninja's bundled Swagger UI: no CDN, no inline script).

What every endpoint gets without its router doing anything:
- authentication by API key, its scope, and its rate limit (auth.py, ratelimit.py);
- `Idempotency-Key` on POSTs (idempotency.py);
- problem documents (RFC 9457) for every error, including paths that are no endpoint (404),
  methods an endpoint does not take (405) and our own failures (500, no trace) (errors.py);
- `RateLimit-*` headers on every authenticated answer.

Operations are synchronous functions (the services they call are), so the wrappers here are too.
"""

from functools import partial, wraps

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponseNotAllowed
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI

from . import errors, idempotency
from .auth import ApiKeyAuth
from .routers import agents, calls, campaigns, contacts, credits, donotcall

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA = {
    "type": "object",
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details (Content-Type: application/problem+json).",
    "properties": {
        "type": {"type": "string", "format": "uri", "example": "https://clozit.dev/problems/not-found"},
        "title": {"type": "string", "example": "Not found"},
        "status": {"type": "integer", "example": 404},
        "detail": {"type": "string", "example": "No such object in this workspace."},
        "instance": {"type": "string", "example": "/api/v1/do-not-call/42"},
        "errors": {
            "type": "array",
            "description": "For 422 Invalid request: each field that is missing or wrong.",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "required": ["type", "title", "status"],
}
PROBLEM_RESPONSES = {
    "400": "Bad request (an invalid cursor or Idempotency-Key).",
    "401": "No API key, or one that is wrong, revoked or expired.",
    "403": "A read-only key tried to write, or the workspace is suspended or closed.",
    "404": "No such object in this workspace.",
    "409": "Refused by a rule (the detail says which), or a request with this Idempotency-Key is still running.",
    "422": "Fields missing or wrong, or an Idempotency-Key reused for another request.",
    "429": "Over the rate limit: wait Retry-After seconds.",
    "500": "Our failure; nothing about it is shown. Try again later.",
}
IDEMPOTENCY_PARAMETER = {
    "name": idempotency.HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Any unique string (a UUID) to make this POST safe to retry: a repeat with the same key and "
        "the same request answers the first answer again (with `Idempotent-Replayed: true`) and does "
        "nothing twice. Keys are kept 24 hours."
    ),
    "schema": {"type": "string", "maxLength": 255},
}


def _rate_limit_headers(run):
    """View decorator: every answer to an authenticated request says where its key stands."""

    @wraps(run)
    def with_headers(request, *args, **kwargs):
        response = run(request, *args, **kwargs)
        window = getattr(request, "rate_limit", None)
        if window is not None:
            for name, value in window.headers().items():
                response.setdefault(name, value)
        return response

    return with_headers


class ClozitApi(NinjaAPI):
    def _get_urls(self):
        for bound in self._get_bound_routers():
            for path, path_view in bound.path_operations.items():
                if path_view.is_async:
                    raise ImproperlyConfigured(
                        f"API operation {bound.prefix}{path} is async: the API's wrappers (keys, limits, "
                        "idempotency) and the services they call are synchronous; write it as a plain def."
                    )
        patterns = super()._get_urls()
        for pattern in patterns:
            if pattern.name == "api-root":
                # ninja's root answers Django's HTML 404; the name stays, ninja reverses it.
                pattern.callback = csrf_exempt(partial(errors.not_found, self))
            else:
                pattern.callback = self._with_problem_for_method(pattern.callback)
        # Last: anything else under /api/v1/ is a 404 problem, not Django's HTML page.
        patterns.append(re_path(r"^.*$", csrf_exempt(partial(errors.not_found, self)), name="api-not-found"))
        return patterns

    def _with_problem_for_method(self, view):
        @wraps(view)
        def view_or_problem(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            if isinstance(response, HttpResponseNotAllowed):
                return errors.method_not_allowed(self, request, response["Allow"])
            return response

        return view_or_problem

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for status, description in PROBLEM_RESPONSES.items():
                    responses.setdefault(
                        status,
                        {"description": description, "content": {errors.PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_REF}}},
                    )
                if method == "post":
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
        return schema


api = ClozitApi(
    title="Clozit API",
    version="1",
    description=(
        "Agents, contacts, campaigns and calls of one workspace, by API key. Send the key as "
        "`Authorization: Bearer <key>` (make one on the Integrations page, API keys). Errors are "
        "`application/problem+json` documents; lists are cursor pages; POSTs take an `Idempotency-Key`."
    ),
    auth=ApiKeyAuth(),
    urls_namespace="api",
)
errors.install(api)


@api.exception_handler(idempotency.Replay)
def _replay(request, exc: idempotency.Replay):
    return idempotency.replay_response(exc.record)


# Around every operation: view decorators wrap its whole run (authentication included), the
# operation decorator runs after authentication and validation, just before the view.
api.add_decorator(_rate_limit_headers, mode="view")
api.add_decorator(idempotency.finish_after_response, mode="view")
api.add_decorator(idempotency.claim_before_view, mode="operation")

api.add_router("/agents", agents.router)
api.add_router("/lists", contacts.router)
api.add_router("/do-not-call", donotcall.router)
api.add_router("/campaigns", campaigns.router)
api.add_router("/calls", calls.router)
api.add_router("/credits", credits.router)
