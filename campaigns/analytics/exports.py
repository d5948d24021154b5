"""Every call as CSV, streamed: one row per call with its outcome and one column per captured field.

Memory and time stay flat however many calls there are, and the download starts at once: the
rows come from a server-side cursor (`.iterator(chunk_size=2000)`) and go out as they are written
(StreamingHttpResponse), never held in a list. Three queries in all, and one setting (four when
the campaign is checked first, by the view):

1. The captured field names, to write the header, in the order they first appear. On PostgreSQL
   without reading the calls: an index (migration 0017, `call_captured_names`) holds each call's
   list of captured names under its account and campaign; a loose index scan (a recursive query,
   one index probe per distinct list of a campaign: a handful, however many calls) returns each
   distinct list with the first call that has it. Elsewhere (SQLite in development) one streamed
   Python pass over `captured` does the same.
2. What the account's agents' outcomes count as (`outcome_kind`: Positive, Neutral, Negative;
   see campaigns/analytics.py).
3. The calls themselves, oldest first, as plain tuples (values_list: no model instances), read
   in the order of the (owner, created_at) or (campaign, created_at) index, so the first rows
   come without sorting the account's calls; in a transaction held while the rows stream (a
   cursor outside one is WITH HOLD: PostgreSQL would read and store every row first).

Every cell, the header included, passes through `clozit.csvsafe.spreadsheet_safe`: contact names,
campaign names and captured answers are typed by people we do not control. Only cells a spreadsheet
would run get the apostrophe: E.164 numbers are written exactly (see clozit/csvsafe.py).

A field captured more than once in the same call (the callee corrected themselves) keeps every
answer, in the order given, joined with "; ".
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.db import connection, transaction
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

# A call's captured names, in order: the first item of each pair ([name, value]); anything in
# `captured` that is not a list of pairs gives no name, never an error (silent). The index
# `call_captured_names` (migration 0017) is on this very expression.
CAPTURED_NAMES = (
    "jsonb_path_query_array(captured, 'strict $[*] ? (@.type() == \"array\" && @.size() == 2)[0]', '{}', true)"
)
# Each distinct list of names, with the first call that has it: a loose index scan, each step one
# probe of the index for the next list after the last one. Within one campaign (or among calls
# without one: inbound calls) the probe is "names > the last"; across an account's campaigns it is
# "(campaign, names) > the last pair". (Both in one probe would not do: given campaign = x as
# well, PostgreSQL starts the scan at the campaign's first entry and reads every call of it.)
_LISTS_WITHIN = f"""
    {{cte}}(names, first_id) AS (
        (SELECT {CAPTURED_NAMES}, id FROM campaigns_call WHERE {{within}}
         ORDER BY {CAPTURED_NAMES}, id LIMIT 1)
        UNION ALL
        SELECT next.* FROM {{cte}}, LATERAL (
            SELECT {CAPTURED_NAMES}, id FROM campaigns_call
            WHERE {{within}} AND {CAPTURED_NAMES} > {{cte}}.names
            ORDER BY {CAPTURED_NAMES}, id LIMIT 1
        ) AS next
    )"""
_LISTS_ACROSS_CAMPAIGNS = f"""
    across(campaign_id, names, first_id) AS (
        (SELECT campaign_id, {CAPTURED_NAMES}, id FROM campaigns_call
         WHERE owner_id = %(workspace)s AND campaign_id IS NOT NULL
         ORDER BY campaign_id, {CAPTURED_NAMES}, id LIMIT 1)
        UNION ALL
        SELECT next.* FROM across, LATERAL (
            SELECT campaign_id, {CAPTURED_NAMES}, id FROM campaigns_call
            WHERE owner_id = %(workspace)s AND (campaign_id, {CAPTURED_NAMES}) > (across.campaign_id, across.names)
            ORDER BY campaign_id, {CAPTURED_NAMES}, id LIMIT 1
        ) AS next
    )"""
_ACCOUNT_NAME_LISTS_SQL = (
    "WITH RECURSIVE"
    + _LISTS_ACROSS_CAMPAIGNS
    + ","
    + _LISTS_WITHIN.replace("{cte}", "inbound").replace("{within}", "owner_id = %(workspace)s AND campaign_id IS NULL")
    + "\nSELECT names, first_id FROM across UNION ALL SELECT names, first_id FROM inbound"
)
_CAMPAIGN_NAME_LISTS_SQL = (
    "WITH RECURSIVE"
    + _LISTS_WITHIN.replace("{cte}", "lists").replace(
        "{within}", "owner_id = %(workspace)s AND campaign_id = %(campaign)s"
    )
    + "\nSELECT names, first_id FROM lists"
)


def calls_for_export(*, workspace, campaign: Campaign | None = None) -> QuerySet:
    calls = Call.objects.filter(workspace=workspace)
    if campaign is not None:
        calls = calls.filter(campaign=campaign)
    return calls


def captured_field_names(*, workspace, campaign: Campaign | None = None) -> list[str]:
    """The distinct captured field names across the calls of `owner` (or of one campaign), in
    order of first appearance (the first call that has it, then its place in that call). One query."""
    if connection.vendor == "postgresql":
        sql = _CAMPAIGN_NAME_LISTS_SQL if campaign else _ACCOUNT_NAME_LISTS_SQL
        with connection.cursor() as cursor:
            cursor.execute(sql, {"workspace": workspace.pk, "campaign": campaign.pk if campaign else None})
            name_lists = cursor.fetchall()
        first_seen: dict[str, tuple[int, int]] = {}
        for names, first_id in name_lists:
            # Django reads jsonb as text (its JSONField decodes it), and so does a raw cursor.
            for position, name in enumerate(json.loads(names) if isinstance(names, str) else names):
                if name is None or name == "":
                    continue
                name = name if isinstance(name, str) else json.dumps(name)  # what ->> would give
                first_seen[name] = min(first_seen.get(name, (first_id, position)), (first_id, position))
        return sorted(first_seen, key=lambda name: (*first_seen[name], name))
    names: dict[str, None] = {}
    calls = calls_for_export(workspace=workspace, campaign=campaign).order_by("id").values_list("captured", flat=True)
    for captured in calls.iterator(chunk_size=CHUNK_SIZE):
        for name, _ in _pairs(captured):
            names.setdefault(name, None)
    return list(names)


def _pairs(captured) -> Iterator[tuple[str, str]]:
    if not isinstance(captured, list):
        return
    for item in captured:
        if isinstance(item, list | tuple) and len(item) == 2 and item[0] not in (None, ""):
            yield str(item[0]), "" if item[1] is None else str(item[1])


def call_rows(*, workspace, campaign: Campaign | None = None) -> Iterator[list]:
    """The header, then one row per call, oldest first; every cell spreadsheet-safe. Times are
    ISO 8601 in the active time zone (the account's) with their offset."""
    tz = timezone.get_current_timezone()  # read now: the rows are produced after the view returned
    calls = calls_for_export(workspace=workspace, campaign=campaign)
    names = captured_field_names(workspace=workspace, campaign=campaign)
    header = FIXED_COLUMNS + [f"{name} (captured)" if name in FIXED_COLUMNS else name for name in names]
    yield safe_row(header)
    status_labels = dict(Call.Status.choices)
    kinds = OutcomeKinds.of_workspace(workspace)

    def when(moment):
        return timezone.localtime(moment, tz).isoformat() if moment else ""

    # Inside a transaction: outside one, Django declares the server-side cursor WITH HOLD, which
    # PostgreSQL runs to the end (every call read, sorted and stored) before the first row comes.
    # Read only: no savepoint needed when a transaction is already open.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            # A plan for a million rows gets compiled (JIT) before its first row: 0.3 s here
            # for the first 2,000 rows, against 15 ms without. Rows streamed gain nothing from it.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        rows = calls.order_by("created_at", "id").values_list(*_FIELDS).iterator(chunk_size=CHUNK_SIZE)
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


def calls_csv(*, workspace, campaign: Campaign | None = None) -> StreamingHttpResponse:
    """A download of every call of `owner` (or of one campaign), streamed as it is read.

    The caller must have checked that `campaign` belongs to `owner`."""
    name = f"clozit-calls-{slugify(campaign.name) or campaign.pk}" if campaign else "clozit-calls"
    return csv_download(call_rows(workspace=workspace, campaign=campaign), name)
