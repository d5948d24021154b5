"""One error shape for the whole API: RFC 9457 problem details (`application/problem+json`).

Every refusal a service raises (the project's error types, written for people) becomes a 4xx
problem with that message as its `detail`; nothing reaches the client as an HTML page or a
stack trace."""

import logging

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from accounts.members import MemberError
from accounts.services import AccountError
from billing.ledger import LedgerError
from campaigns.errors import CampaignError

PROBLEM_TYPE_BASE = "https://clozit.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

logger = logging.getLogger(__name__)


class ApiProblem(Exception):
    """Raise anywhere under /api/v1/ to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str = "", *, code: str = "", headers=None, **extra):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code or title.lower().replace(" ", "-")
        self.headers = headers or {}
        self.extra = extra


def problem_response(api: NinjaAPI, request: HttpRequest, problem: ApiProblem) -> HttpResponse:
    body = {"type": PROBLEM_TYPE_BASE + problem.code, "title": problem.title, "status": problem.status}
    if problem.detail:
        body["detail"] = problem.detail
    body["instance"] = request.path
    body.update(problem.extra)
    response = api.create_response(request, body, status=problem.status)
    response["Content-Type"] = PROBLEM_CONTENT_TYPE
    for name, value in problem.headers.items():
        response[name] = value
    return response


def _field_name(loc) -> str:
    """A field as the client wrote it: ("body", "body", "agent", "name") → "agent.name",
    ("query", "limit") → "limit". The place (body, query, path) and, for a body, the operation's
    own parameter name mean nothing to the client."""
    parts = [str(part) for part in loc]
    if parts[:1] == ["body"] and len(parts) > 2:
        parts = parts[1:]
    return ".".join(parts[1:])


def install(api: NinjaAPI) -> None:
    """Every exception the API may meet, as a problem document."""

    @api.exception_handler(ApiProblem)
    def _problem(request, exc: ApiProblem):
        return problem_response(api, request, exc)

    @api.exception_handler(ValidationError)
    def _invalid(request, exc: ValidationError):
        errors = [{"field": _field_name(error.get("loc", ())), "message": error.get("msg", "")} for error in exc.errors]
        return problem_response(
            api, request, ApiProblem(422, "Invalid request", "Some fields are missing or wrong.", errors=errors)
        )

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request, exc):
        problem = ApiProblem(
            401,
            "Unauthorized",
            "Send a live API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": 'Bearer realm="clozit"'},
        )
        return problem_response(api, request, problem)

    @api.exception_handler(Http404)
    def _not_found(request, exc):
        return problem_response(api, request, ApiProblem(404, "Not found", "No such object in this workspace."))

    @api.exception_handler(HttpError)
    def _http_error(request, exc: HttpError):
        return problem_response(api, request, ApiProblem(exc.status_code, str(exc) or "Error"))

    for refusal in (CampaignError, LedgerError, AccountError, MemberError):

        @api.exception_handler(refusal)
        def _refused(request, exc):
            return problem_response(api, request, ApiProblem(409, "Refused", str(exc), code="refused"))

    @api.exception_handler(Exception)
    def _unexpected(request, exc):
        # Logged with its trace for us; the client learns only that it was our fault (and may retry).
        logger.exception("API request failed: %s %s", request.method, request.path, exc_info=exc)
        problem = ApiProblem(
            500, "Server error", "Something went wrong on our side; it has been logged. Try again later."
        )
        return problem_response(api, request, problem)


def not_found(api: NinjaAPI, request: HttpRequest) -> HttpResponse:
    """Any path under /api/v1/ that is no endpoint."""
    problem = ApiProblem(404, "Not found", "There is no such endpoint; see /api/v1/docs for the ones there are.")
    return problem_response(api, request, problem)


def method_not_allowed(api: NinjaAPI, request: HttpRequest, allowed: str) -> HttpResponse:
    problem = ApiProblem(
        405,
        "Method not allowed",
        f"{request.method} is not allowed here; this endpoint allows {allowed}.",
        headers={"Allow": allowed},
    )
    return problem_response(api, request, problem)
