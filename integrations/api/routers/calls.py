"""/calls: the workspace's calls, read through the call pages' selectors, and one call placed
now (campaigns.dialing.single: the dialer's checks and the dialer's path).

The list pages by keyset over (created_at, id), newest first, through the indexes the call list
page uses for each filter: a page is one query however many calls the workspace has and however
deep the cursor (bench/api_calls_bench.py)."""

import base64
import binascii
from datetime import datetime

from django.conf import settings
from django.http import HttpResponse
from ninja import Field, Query, Router, Schema, Status

from campaigns.calls import selectors
from campaigns.dialing.single import CallNotNow, call_place_now
from campaigns.models import Agent, Call
from telephony.providers.base import ProviderError
from telephony.registry import get_provider

from ..errors import ApiProblem
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT
from ..schemas import Credits, own, refused

router = Router(tags=["Calls"])

# What a row of the list reads (the page's own columns and the API's), so nothing loads later.
LISTED_FIELDS = (
    *selectors.LISTED_FIELDS,
    "workspace_id",
    "campaign_id",
    "agent_id",
    "contact_id",
    "direction",
    "from_number",
    "answered_at",
    "ended_at",
)


class CallFilters(Schema):
    campaign_id: int | None = None
    status: Call.Status | None = None
    outcome: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    cursor: str | None = None
    limit: int | None = None


class CallOut(Schema):
    id: int
    direction: str
    campaign_id: int | None
    agent_id: int | None
    contact_id: int | None
    to: str = Field(alias="to_number")
    caller_number: str = Field(alias="from_number")
    status: str
    failure_reason: str
    outcome: str
    duration_seconds: int
    credits_charged: Credits
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None


class CallPage(Schema):
    data: list[CallOut]
    next_cursor: str | None


class TranscriptLine(Schema):
    speaker: str  # agent or callee
    text: str
    interrupted: bool
    at: datetime = Field(alias="created_at")


class Answer(Schema):
    field: str
    value: str


class CallDetail(CallOut):
    variables: dict[str, str]
    answers: list[Answer]
    transcript: list[TranscriptLine]
    recording_url: str | None
    recording_seconds: int

    @staticmethod
    def resolve_variables(call):
        contact = call.contact
        if contact is not None:
            return {**contact.variables, "first_name": contact.first_name, "last_name": contact.last_name}
        return dict(call.engine_state.get("variables") or {})

    @staticmethod
    def resolve_answers(call):
        return [{"field": str(name), "value": str(value)} for name, value in call.captured or []]

    @staticmethod
    def resolve_transcript(call):
        return list(call.turns.all())

    @staticmethod
    def resolve_recording_url(call):
        # Recordings play only through Clozit, for the workspace's own keys: never the carrier's link.
        if not call.recording_url:
            return None
        return f"{settings.PUBLIC_BASE_URL}/api/v1/calls/{call.pk}/recording"


class PlaceCall(Schema):
    agent_id: int
    to: str = Field(description="The number to call, E.164 (+14155550123).")
    consent: bool = Field(
        description="true: you have this person's consent to be called by an AI agent (in the US, prior "
        "express consent under the TCPA). Recorded with the call."
    )
    variables: dict[str, str] = Field(default_factory=dict, description="Fill the agent's {{variables}}.")
    caller_number: str | None = Field(default=None, description="One of your numbers or a shared one.")
    time_zone: str | None = Field(default=None, description="The callee's IANA zone; default: from the number.")


def _cursor_decode(text: str | None) -> selectors.Cursor | None:
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    cursor = selectors.Cursor.parse(raw)
    if cursor is None:
        raise ApiProblem(400, "Invalid cursor", "Pass back the 'next_cursor' of a previous page, unchanged.")
    return cursor


def _cursor_encode(cursor: selectors.Cursor | None) -> str | None:
    return None if cursor is None else base64.urlsafe_b64encode(str(cursor).encode()).decode().rstrip("=")


@router.get("", response=CallPage, summary="List calls")
def calls_list(request, filters: Query[CallFilters]):
    """Newest first. Filters: campaign, status, outcome, and a time range on when the call was made."""
    calls = selectors.calls_filtered(
        workspace=request.workspace,
        campaign=filters.campaign_id,
        status=filters.status or "",
        outcome=filters.outcome or "",
    ).only(*LISTED_FIELDS)
    if filters.created_after:
        calls = calls.filter(created_at__gt=filters.created_after)
    if filters.created_before:
        calls = calls.filter(created_at__lt=filters.created_before)
    size = max(1, min(filters.limit or DEFAULT_LIMIT, MAX_LIMIT))
    found = selectors.calls_page(calls, before=_cursor_decode(filters.cursor), size=size)
    return {"data": found.calls, "next_cursor": _cursor_encode(found.older)}


@router.post("", response={202: CallDetail}, summary="Place one call now")
def calls_place(request, body: PlaceCall):
    """Passes the same checks as a campaign's call (the workspace may dial and has credits for
    the shortest call, the number is on no do-not-call list, the callee's calling window is open,
    the workspace is under its limit of calls in progress), then queues the call for the dialer.
    Answered 202 with the queued call; follow it with GET /calls/{id}."""
    agent = own(Agent.objects, body.agent_id, workspace=request.workspace)
    if not body.consent:
        message = "Send true to confirm that you have this person's consent to be called by an AI agent."
        raise ApiProblem(
            422,
            "Invalid request",
            "Some fields are missing or wrong.",
            errors=[{"field": "consent", "message": message}],
        )
    try:
        call = call_place_now(
            workspace=request.workspace,
            agent=agent,
            to=body.to,
            by=request.auth.created_by,
            consent=body.consent,
            variables=body.variables,
            caller_number=body.caller_number or "",
            time_zone=body.time_zone or "",
            via=f"API key {request.auth.prefix}",
        )
    except CallNotNow as exc:
        raise refused(
            str(exc), opens_at=exc.opens_at.isoformat() if exc.opens_at else None, code="outside-calling-hours"
        ) from None
    return Status(202, _call(request, call.pk))


def _call(request, call_id: int) -> Call:
    return own(selectors.calls_for_workspace(workspace=request.workspace), call_id, workspace=request.workspace)


@router.get("/{int:call_id}", response=CallDetail, summary="Get a call with its transcript")
def calls_get(request, call_id: int):
    return _call(request, call_id)


@router.get("/{int:call_id}/recording", summary="The call's recording (audio)")
def calls_recording(request, call_id: int):
    """The audio, fetched from the carrier for this workspace only (as the call page plays it)."""
    call = own(Call.objects, call_id, workspace=request.workspace)
    if not call.recording_url:
        raise ApiProblem(404, "Not found", "This call has no recording.")
    try:
        audio, content_type = get_provider(call.provider).fetch_recording(
            call.recording_url, recording_id=call.recording_id
        )
    except ProviderError as exc:
        detail = f"The recording is not available right now: {exc.message}"
        raise ApiProblem(502, "Recording unavailable", detail) from None
    response = HttpResponse(audio, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    return response
