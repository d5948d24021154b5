"""What the resource routers share: one workspace's objects or a 404, form errors as a 422
problem naming each field, and the page envelope every list answers with.

Conventions of every resource: numbers E.164, times ISO-8601 (UTC), amounts of credits as
decimal strings ("12.00"), ids as integers."""

from decimal import Decimal
from typing import Annotated

from django.db.models import Model, QuerySet
from ninja import Schema
from pydantic import PlainSerializer

from .errors import ApiProblem
from .pagination import cursor_page

# Credits as exact decimal strings, never floats.
Credits = Annotated[Decimal, PlainSerializer(lambda value: f"{value:.2f}", return_type=str)]


class PageQuery(Schema):
    cursor: str | None = None
    limit: int | None = None


def own(queryset: QuerySet, pk: int, *, workspace) -> Model:
    """The object `pk` of this workspace. Anything else, another workspace's included, is a 404:
    whether an id exists elsewhere is never told."""
    found = queryset.filter(workspace=workspace, pk=pk).first()
    if found is None:
        raise ApiProblem(404, "Not found", "No such object in this workspace.")
    return found


def page(queryset: QuerySet, query: PageQuery) -> dict:
    """{"data": [...], "next_cursor": ...}: one page of `queryset`, newest first (the route's
    response schema turns the rows into JSON)."""
    rows, next_cursor = cursor_page(queryset, cursor=query.cursor, limit=query.limit)
    return {"data": rows, "next_cursor": next_cursor}


def form_problem(form, *, fields: dict[str, str] | None = None) -> ApiProblem:
    """A 422 problem with every error of a Django form, each naming the field as the API calls
    it (`fields` maps the form's names to the API's where they differ)."""
    fields = fields or {}
    errors = [
        {"field": fields.get(name, name) if name != "__all__" else "", "message": str(message)}
        for name, messages in form.errors.items()
        for message in messages
    ]
    return ApiProblem(422, "Invalid request", "Some fields are missing or wrong.", errors=errors)


def refused(message: str, *, status: int = 409, code: str = "refused", **extra) -> ApiProblem:
    """A refusal of the rules (as errors.install answers the project's errors), with more fields."""
    return ApiProblem(status, "Refused", message, code=code, **extra)
