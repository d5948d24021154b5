"""The workspace's do-not-call list: the same services as its page (campaigns.contacts.donotcall),
so a number added here is skipped by every campaign at once. Numbers are E.164; the
platform-wide list kept by staff is not shown (it applies all the same)."""

from datetime import datetime

from ninja import Field, Query, Router, Schema, Status

from campaigns.contacts import donotcall
from campaigns.errors import CampaignError
from campaigns.models import DoNotCall
from clozit.phones import normalise_number

from ..errors import ApiProblem
from ..pagination import cursor_page

router = Router(tags=["Do not call"])


class DoNotCallOut(Schema):
    id: int
    phone_number: str = Field(description="E.164.", examples=["+14155550123"])
    reason: str
    created_at: datetime


class DoNotCallIn(Schema):
    phone_number: str = Field(
        description="E.164 (+14155550123); a national number is read in the workspace's default country.",
        examples=["+14155550123"],
    )
    reason: str = Field("", max_length=200, examples=["Asked not to be called"])


class DoNotCallPage(Schema):
    items: list[DoNotCallOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class DoNotCallFilters(Schema):
    q: str = Field("", description="Digits of a number, or words of a reason.")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


@router.get("", response=DoNotCallPage, summary="Numbers on the do-not-call list, newest first")
def dnc_list(request, filters: Query[DoNotCallFilters]):
    entries = donotcall.dnc_search(workspace=request.workspace, query=filters.q)
    rows, next_cursor = cursor_page(entries, cursor=filters.cursor, limit=filters.limit)
    return {"items": rows, "next_cursor": next_cursor}


@router.post("", response={200: DoNotCallOut, 201: DoNotCallOut}, summary="Add a number (never called again)")
def dnc_add(request, payload: DoNotCallIn):
    """201 when the number is new on the list, 200 when it was there already (left as it was)."""
    try:
        number = normalise_number(payload.phone_number, default_country=request.workspace.default_country)
    except ValueError as exc:
        raise ApiProblem(
            422,
            "Invalid request",
            "The phone number is not valid.",
            errors=[{"field": "phone_number", "message": str(exc)}],
        ) from exc
    existed = DoNotCall.objects.filter(workspace=request.workspace, phone_number=number).exists()
    entry = donotcall.dnc_add(workspace=request.workspace, phone_number=number, reason=payload.reason or "Added by API")
    return Status(200 if existed else 201, entry)


@router.delete("/{int:entry_id}", response={204: None}, summary="Take a number off the list")
def dnc_delete(request, entry_id: int):
    try:
        donotcall.dnc_remove(workspace=request.workspace, entry_id=entry_id)
    except CampaignError as exc:
        raise ApiProblem(404, "Not found", str(exc)) from exc
    return Status(204, None)
