"""The do-not-call list: the account's own, and the platform-wide one (entries without an owner).

A number on either is never dialled: launches skip it, and the dialer checks both lists when it
claims a contact and again just before it dials. A callee's own request during a call (`dnc_add`)
also skips the number's places still queued in the account's campaigns at once."""

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath

from django.db import transaction
from django.utils import timezone

from clozit import events
from clozit.csvsafe import safe_row
from clozit.phones import normalise_number

from ..errors import CampaignError
from ..models import Call, CampaignContact, DoNotCall
from .contact_rows import BATCH_ROWS, PHONE_HEADERS, REASON_HEADERS, RowProblem, normalise_header
from .csv_files import REPLACEMENT, CsvSource, refuse_if_not_csv

MAX_DNC_IMPORT_LINES = 10_000
MAX_DNC_IMPORT_BYTES = 2 * 1024 * 1024
# What a campaign contact skipped for a number on a do-not-call list says.
DNC_RESULT = "On the do-not-call list"


def _dnc_skip_pending(*, phone_number: str, workspace=None) -> int:
    """Contacts with this number still waiting in a campaign (the owner's, or everyone's) are
    skipped at once. The dialer checks both lists again when it claims and just before it dials,
    so a number listed mid-campaign is never called even if this races with a claim."""
    targets = CampaignContact.objects.filter(status=CampaignContact.Status.PENDING, contact__phone_number=phone_number)
    if workspace is not None:
        targets = targets.filter(campaign__workspace=workspace)
    return CampaignContact.objects.filter(pk__in=targets.values("pk")).update(
        status=CampaignContact.Status.SKIPPED, result=DNC_RESULT, waiting_reason="", updated_at=timezone.now()
    )


def dnc_add(*, workspace, phone_number: str, reason: str = "", call_id: int | None = None) -> DoNotCall:
    """Put a number on the account's do-not-call list at once; adding it twice is harmless.

    `call_id`: the callee asked for it because of that call (during it, or on the public "Who
    called me?" page), which is `contact.opted_out` for the workspace that called (once, when the
    number is new on the list; for the platform-wide list too). The owner's own additions (import,
    the list's page) are not events: whoever made them knows."""
    entry, created = DoNotCall.objects.get_or_create(
        workspace=workspace, phone_number=phone_number, defaults={"reason": reason[:200]}
    )
    if created and call_id is not None:
        caller_id = getattr(workspace, "pk", workspace)
        if caller_id is None:
            caller_id = Call.objects.filter(pk=call_id).values_list("workspace_id", flat=True).first()
        if caller_id is not None:
            events.publish(
                type=events.CONTACT_OPTED_OUT, workspace_id=caller_id, phone_number=phone_number, call_id=call_id
            )
    _dnc_skip_pending(phone_number=phone_number, workspace=workspace)
    return entry


def dnc_numbers_add(*, workspace, numbers: Iterable[tuple[str, str]], by=None) -> int:
    """Put E.164 numbers (with their reasons) on `owner`'s list, or the platform-wide list when
    `owner` is None. Numbers already there are left as they are; returns how many were new."""
    entries = {}
    for number, reason in numbers:
        entries.setdefault(number, reason[:200])
    existing = DoNotCall.objects.filter(workspace=workspace, phone_number__in=list(entries)) if entries else []
    new = set(entries) - {e.phone_number for e in existing}
    DoNotCall.objects.bulk_create(
        [DoNotCall(workspace=workspace, phone_number=n, reason=entries[n], added_by=by) for n in entries if n in new],
        batch_size=BATCH_ROWS,
        ignore_conflicts=True,
    )
    return len(new)


def dnc_platform_import(*, data: bytes, reason: str, by, default_country: str) -> tuple[int, list[tuple[int, str]]]:
    """Put every number of a CSV (first column) on the platform-wide list; returns how many were
    added and the (line, reason) of each line that was not a phone number. A header line is skipped."""
    text = data.decode("utf-8-sig", errors="replace")
    numbers, rejected = {}, []
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        raw = (row[0] if row else "").strip()
        if not raw:
            continue
        try:
            numbers.setdefault(normalise_number(raw, default_country=default_country), line)
        except ValueError as exc:
            if line > 1 or any(ch.isdigit() for ch in raw):  # a header line is not a mistake
                rejected.append((line, str(exc)))
    return dnc_numbers_add(workspace=None, numbers=[(number, reason) for number in numbers], by=by), rejected


@dataclass
class DncImportReport:
    added: int = 0
    already: int = 0
    problems: list[RowProblem] = field(default_factory=list)


def dnc_import(
    *, workspace, filename: str, data: bytes, by=None, default_country: str = "", reason: str = ""
) -> DncImportReport:
    """Numbers from a CSV (a 'phone' column, or the first column; a header row is optional) onto
    `owner`'s do-not-call list (None: the platform-wide list). Synchronous, so at most 10,000 lines;
    lines that are not numbers are reported by line and the others added."""
    if len(data) > MAX_DNC_IMPORT_BYTES:
        raise CampaignError("The file is larger than 2 MB. Split it into smaller files.")
    refuse_if_not_csv(filename=filename, data=data)
    source = CsvSource(data)
    country = default_country or getattr(workspace, "default_country", "") or "US"
    reason = reason or f"Imported from {PurePath(filename).name}"[:200]
    keys = [normalise_header(h) for h in source.header]
    phone = next((i for i, k in enumerate(keys) if k in PHONE_HEADERS), None)
    why = next((i for i, k in enumerate(keys) if k in REASON_HEADERS), None)
    rows: Iterable = source.rows()
    if phone is None:
        # No header naming a phone column: the first column holds the numbers, from the first line on.
        phone, why = 0, None
        rows = _chain_first([(source.header_line, source.header)], rows)
    report = DncImportReport()
    numbers: list[tuple[str, str]] = []
    for line, values in rows:
        if line - source.header_line >= MAX_DNC_IMPORT_LINES:
            raise CampaignError(f"The file has more than {MAX_DNC_IMPORT_LINES:,} lines. Split it into smaller files.")
        if isinstance(values, str):
            report.problems.append(RowProblem(line, values))
            continue
        raw = values[phone] if phone < len(values) else ""
        if source.encoding.has_errors and REPLACEMENT in raw:
            report.problems.append(RowProblem(line, "the line has bytes that are not text", raw))
            continue
        try:
            number = normalise_number(raw, default_country=country)
        except ValueError as exc:
            report.problems.append(RowProblem(line, str(exc), raw))
            continue
        row_reason = values[why].strip() if why is not None and why < len(values) and values[why].strip() else reason
        numbers.append((number, row_reason))
    with transaction.atomic():
        report.added = dnc_numbers_add(workspace=workspace, numbers=numbers, by=by)
    report.already = len({n for n, _ in numbers}) - report.added
    return report


def _chain_first(first: list, rest: Iterable) -> Iterator:
    yield from first
    yield from rest


def dnc_remove(*, workspace, entry_id: int) -> str:
    """Take a number off the account's own list (never the platform-wide one); returns the number."""
    entry = DoNotCall.objects.filter(workspace=workspace, pk=entry_id).first()
    if entry is None:
        raise CampaignError("That number is not on your do-not-call list.")
    entry.delete()
    return entry.phone_number


def dnc_search(*, workspace, query: str = ""):
    entries = DoNotCall.objects.filter(workspace=workspace).order_by("-created_at", "-id")
    digits = re.sub(r"\D", "", query)
    if digits:
        entries = entries.filter(phone_number__contains=digits)
    elif query.strip():
        entries = entries.filter(reason__icontains=query.strip())
    return entries


def dnc_export_rows(*, workspace) -> Iterator[list]:
    yield safe_row(["phone", "reason", "added"])
    entries = DoNotCall.objects.filter(workspace=workspace).order_by("created_at", "id")
    for number, reason, created in entries.values_list("phone_number", "reason", "created_at").iterator(
        chunk_size=BATCH_ROWS
    ):
        yield safe_row([number, reason, created.isoformat(timespec="seconds")])
