"""Every call as CSV, streamed: one row per call with its outcome and one column per captured field.

Memory and time stay flat however many calls there are: the rows come from a server-side cursor
(`.iterator(chunk_size=2000)`) and go out as they are written (StreamingHttpResponse), never held
in a list. Three queries in all (four when the campaign is checked first, by the view):

1. The captured field names, to write the header. On PostgreSQL the database unnests the
   `captured` pairs (`jsonb_array_elements ... WITH ORDINALITY`) and returns only the distinct
   names, in the order they first appear; no call's JSON leaves the database. Elsewhere (SQLite in
   development) one streamed Python pass over `captured` does the same.
2. What the account's agents' outcomes count as (`outcome_kind`: Positive, Neutral, Negative;
   see campaigns/analytics.py).
3. The calls themselves, oldest first, as plain tuples (values_list: no model instances).

Every cell, the header included, passes through `clozit.csvsafe.spreadsheet_safe`: contact names,
campaign names and captured answers are typed by people we do not control. Only cells a spreadsheet
would run get the apostrophe: E.164 numbers are written exactly (see clozit/csvsafe.py).

A field captured more than once in the same call (the callee corrected themselves) keeps every
answer, in the order given, joined with "; ".
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connection
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify

from clozit.csvsafe import csv_download, safe_row

from ..conversation.engine.spec import KIND_LABELS
from ..models import Call, Campaign, outcome_label
from .selectors import OutcomeKinds

CHUNK_SIZE = 2000
FIXED_COLUMNS = [
    "call_id",
    "campaign",
    "contact_name",
    "phone",
    "status",
    "outcome",
    "outcome_kind",
    "answered_by",
    "created",
    "started",
    "answered",
    "ended",
    "duration_seconds",
    "credits",
    "failure_reason",
]
_FIELDS = (
    "id",
    "campaign__name",
    "contact__first_name",
    "contact__last_name",
    "to_number",
    "status",
    "agent_id",
    "outcome",
    "answered_by",
    "created_at",
    "dialing_started_at",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "credits_charged",
    "failure_reason",
    "captured",
)

# Names in order of first appearance; a `captured` that is not a list of pairs is skipped, not an error.
_CAPTURED_NAMES_SQL = """
    SELECT item.pair ->> 0 AS name
    FROM ({calls}) AS c
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(c.captured) = 'array' THEN c.captured ELSE '[]'::jsonb END
    ) WITH ORDINALITY AS item(pair, position)
    WHERE jsonb_typeof(item.pair) = 'array' AND jsonb_array_length(item.pair) = 2
      AND item.pair ->> 0 IS NOT NULL AND item.pair ->> 0 <> ''
    GROUP BY item.pair ->> 0
    ORDER BY MIN(ARRAY[c.id::bigint, item.position::bigint]), item.pair ->> 0
"""


def calls_for_export(*, owner, campaign: Campaign | None = None) -> QuerySet:
    calls = Call.objects.filter(owner=owner)
    if campaign is not None:
        calls = calls.filter(campaign=campaign)
    return calls


def captured_field_names(calls: QuerySet) -> list[str]:
    """The distinct captured field names across `calls`, in order of first appearance. One query."""
    if connection.vendor == "postgresql":
        inner, params = calls.order_by().values("id", "captured").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(_CAPTURED_NAMES_SQL.format(calls=inner), params)
            return [name for (name,) in cursor.fetchall()]
    names: dict[str, None] = {}
    for captured in calls.order_by("id").values_list("captured", flat=True).iterator(chunk_size=CHUNK_SIZE):
        for name, _ in _pairs(captured):
            names.setdefault(name, None)
    return list(names)


def _pairs(captured) -> Iterator[tuple[str, str]]:
    if not isinstance(captured, list):
        return
    for item in captured:
        if isinstance(item, list | tuple) and len(item) == 2 and item[0] not in (None, ""):
            yield str(item[0]), "" if item[1] is None else str(item[1])


def call_rows(*, owner, campaign: Campaign | None = None) -> Iterator[list]:
    """The header, then one row per call, oldest first; every cell spreadsheet-safe. Times are
    ISO 8601 in the active time zone (the account's) with their offset."""
    tz = timezone.get_current_timezone()  # read now: the rows are produced after the view returned
    calls = calls_for_export(owner=owner, campaign=campaign)
    names = captured_field_names(calls)
    header = FIXED_COLUMNS + [f"{name} (captured)" if name in FIXED_COLUMNS else name for name in names]
    yield safe_row(header)
    status_labels = dict(Call.Status.choices)
    kinds = OutcomeKinds.of_owner(owner)

    def when(moment):
        return timezone.localtime(moment, tz).isoformat() if moment else ""

    rows = calls.order_by("id").values_list(*_FIELDS).iterator(chunk_size=CHUNK_SIZE)
    for (
        pk,
        campaign_name,
        first_name,
        last_name,
        phone,
        status,
        agent_id,
        outcome,
        answered_by,
        created_at,
        started_at,
        answered_at,
        ended_at,
        duration,
        credits,
        failure_reason,
        captured,
    ) in rows:
        answers: dict[str, list[str]] = {}
        for name, value in _pairs(captured):
            answers.setdefault(name, []).append(value)
        yield safe_row(
            [
                pk,
                campaign_name or "",
                f"{first_name or ''} {last_name or ''}".strip(),
                phone,
                status_labels.get(status, status),
                outcome_label(outcome) if outcome else "",
                KIND_LABELS.get(kinds.kind(agent_id, outcome), ""),
                answered_by,
                when(created_at),
                when(started_at),
                when(answered_at),
                when(ended_at),
                duration,
                credits,
                failure_reason,
                *("; ".join(answers.get(name, [])) for name in names),
            ]
        )


def calls_csv(*, owner, campaign: Campaign | None = None) -> StreamingHttpResponse:
    """A download of every call of `owner` (or of one campaign), streamed as it is read.

    The caller must have checked that `campaign` belongs to `owner`."""
    name = f"clozit-calls-{slugify(campaign.name) or campaign.pk}" if campaign else "clozit-calls"
    return csv_download(call_rows(owner=owner, campaign=campaign), name)
