"""Importing contact lists: CSV files in, E.164 numbers stored, bad rows reported by line.

Two ways in, one row-processing core (`RowProcessor` over a `CsvSource`):
- `contacts_import`: small files, synchronously, columns found by their header names (tests, demo data);
- the upload flow: `contact_upload_create` stores the file, the user maps its columns and confirms
  consent (`contact_list_import_start`), and the RQ job `contact_list_import` imports it in batches
  while the page shows its progress. That is the path for real files, up to `MAX_UPLOAD_BYTES`.

How files are read: `csv_files`; rows into contacts: `rows`.

Duplicates: a number appears once per list (the database's unique constraint); the same number may
be in several lists of an account (a segment, a follow-up list). The background import skips a
row that repeats a number of the same list and numbers on the account's or the platform's
do-not-call list, each reported with the line it repeats or the list it is on. The checks run once
per batch of rows against the database (no query per row, no set of every number in memory).
"""

import gc
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePath

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from clozit.csvsafe import safe_row
from clozit.queueing import enqueue

from ..errors import CampaignError
from ..models import Contact, ContactList, ContactUpload, DoNotCall, ImportRejection
from .contact_rows import (
    BATCH_ROWS,
    MAPPED_FIELDS,
    Columns,
    ContactRow,
    RowProblem,
    RowProcessor,
    guess_mapping,
    mapping_variables,
    parse_tags,
)
from .csv_files import CsvSource, TextEncoding, refuse_if_not_csv

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # contacts_import: synchronous, in a request
MAX_BACKGROUND_UPLOAD_BYTES = 50 * 1024 * 1024  # the upload flow: stored, then imported by a job
IMPORT_JOB_TIMEOUT_SECONDS = 1800


# --- Synchronous import (small files) ------------------------------------------------------------
@dataclass
class ImportReport:
    contact_list: ContactList | None
    imported: int = 0
    duplicates: list[RowProblem] = field(default_factory=list)
    errors: list[RowProblem] = field(default_factory=list)


def contacts_import(*, workspace, name: str, filename: str, data: bytes, consent_by=None) -> ImportReport:
    """Create a contact list from CSV bytes, in this request. Columns are found by their header
    ('phone', 'first_name', 'last_name'; every other column becomes a variable). Valid rows are
    kept even when other rows fail; a file without one valid row creates nothing. `consent_by`
    records who confirmed consent to call these people; without it the list cannot be called
    until someone confirms on its page."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise CampaignError("The file is larger than 10 MB. Split it into smaller lists.")
    source = CsvSource(data)
    mapping = guess_mapping(source.names, header=source.header, extended=False)
    if not mapping["phone"]:
        raise CampaignError("The file needs a column named 'phone' (or 'phone_number', 'mobile', 'number').")
    processor = RowProcessor(
        Columns.resolve(mapping, source.names),
        width=len(source.header),
        default_country=workspace.default_country,
        encoding=source.encoding,
        delimiter=source.delimiter,
    )
    report = ImportReport(contact_list=None)
    seen: dict[str, int] = {}
    contacts: list[Contact] = []
    for line, values in source.rows():
        result = processor.row(line, values)
        if isinstance(result, RowProblem):
            report.errors.append(result)
            continue
        number, first_name, last_name, time_zone, tags, variables, line = result
        if number in seen:
            report.duplicates.append(RowProblem(line, f"{number} already appears on line {seen[number]}", number, True))
            continue
        seen[number] = line
        contacts.append(
            Contact(
                phone_number=number,
                first_name=first_name,
                last_name=last_name,
                time_zone=time_zone,
                tags=tags,
                variables=variables,
                source_line=line,
            )
        )
    if not contacts:
        detail = f" Line {report.errors[0].line}: {report.errors[0].message}." if report.errors else ""
        raise CampaignError("No valid contacts were found in the file." + detail)
    with transaction.atomic():
        contact_list = ContactList.objects.create(
            workspace=workspace,
            name=name,
            source_filename=filename[:255],
            default_country=workspace.default_country or "",
            rows_imported=len(contacts),
            rows_rejected=len(report.errors) + len(report.duplicates),
            import_bytes_total=len(data),
            import_bytes_done=len(data),
            import_problems={
                "errors": [[p.line, p.message] for p in report.errors],
                "duplicates": [[p.line, p.message] for p in report.duplicates],
            },
            consent_confirmed_at=timezone.now() if consent_by is not None else None,
            consent_confirmed_by=consent_by,
            column_mapping=mapping,
        )
        for contact in contacts:
            contact.contact_list = contact_list
        Contact.objects.bulk_create(contacts, batch_size=BATCH_ROWS)
    report.contact_list = contact_list
    report.imported = len(contacts)
    return report


# --- The upload flow: store, map, confirm consent, import in the background -----------------------
def contact_upload_create(*, workspace, filename: str, data: bytes) -> ContactList:
    """Step 1: keep the file (refused with a clear message unless it is a readable CSV with a
    header row) in a new list that waits for its column mapping."""
    if len(data) > MAX_BACKGROUND_UPLOAD_BYTES:
        raise CampaignError(
            f"The file is larger than {MAX_BACKGROUND_UPLOAD_BYTES // 2**20} MB. Split it into smaller files."
        )
    refuse_if_not_csv(filename=filename, data=data)
    source = CsvSource(data)
    if not source.header:
        raise CampaignError("The file has no rows. The first row should name the columns (phone, first name, …).")
    stem = PurePath(PurePath(filename).name).stem.replace("_", " ").strip() or "Contacts"
    with transaction.atomic():
        contact_list = ContactList.objects.create(
            workspace=workspace,
            name=stem[:120],
            source_filename=PurePath(filename).name[:255],
            import_status=ContactList.ImportStatus.QUEUED,
            default_country=workspace.default_country or "US",
            column_mapping=guess_mapping(source.names, header=source.header),
            import_bytes_total=len(data),
        )
        ContactUpload.objects.create(contact_list=contact_list, data=data)
    return contact_list


def _upload_bytes(contact_list: ContactList) -> bytes:
    try:
        data = contact_list.upload.data
    except ContactUpload.DoesNotExist:
        raise CampaignError("The uploaded file is no longer stored. Upload it again.") from None
    return data if isinstance(data, bytes) else bytes(data)


@dataclass
class UploadPreview:
    names: list[str]
    rows: list[list[str]]
    delimiter: str
    encoding: TextEncoding

    @property
    def delimiter_label(self) -> str:
        return {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}.get(self.delimiter, self.delimiter)


def contact_upload_preview(*, contact_list: ContactList, rows: int = 5) -> UploadPreview:
    source = CsvSource(_upload_bytes(contact_list))
    return UploadPreview(source.names, source.preview(rows), source.delimiter, source.encoding)


def awaiting_mapping(contact_list: ContactList) -> bool:
    return contact_list.import_status == ContactList.ImportStatus.QUEUED and contact_list.consent_confirmed_at is None


def contact_list_import_start(
    *, contact_list: ContactList, mapping: dict, default_country: str, name: str, tags: list[str], by
) -> ContactList:
    """Step 2: the columns chosen and consent confirmed (recorded with the time and the user); the
    import job is queued once this commits. Submitting twice queues one import."""
    with transaction.atomic():
        contact_list = ContactList.objects.select_for_update().get(pk=contact_list.pk)
        if not awaiting_mapping(contact_list):
            return contact_list
        names = contact_upload_preview(contact_list=contact_list, rows=0).names
        pairs = mapping_variables(mapping)
        mapping = {
            **{f: mapping.get(f) or "" for f in MAPPED_FIELDS},
            "variables": [column for column, _ in pairs],
            "variable_names": dict(pairs),
        }
        # Refuses a mapping without a usable phone column, or with a variable name the lines cannot use.
        Columns.resolve(mapping, names)
        contact_list.column_mapping = mapping
        contact_list.default_country = default_country
        contact_list.name = name[:120]
        contact_list.tags = parse_tags(tags)
        contact_list.consent_confirmed_at = timezone.now()
        contact_list.consent_confirmed_by = by
        contact_list.save()
        _enqueue_import(contact_list.pk)
    return contact_list


def contact_list_confirm_consent(*, contact_list: ContactList, by) -> ContactList:
    """The owner confirms consent to call the people on a list that has none recorded (lists
    made before consent was asked for). Recorded once, with who and when."""
    with transaction.atomic():
        contact_list = ContactList.objects.select_for_update().get(pk=contact_list.pk)
        if contact_list.consent_confirmed_at is None:
            contact_list.consent_confirmed_at = timezone.now()
            contact_list.consent_confirmed_by = by
            contact_list.save(update_fields=["consent_confirmed_at", "consent_confirmed_by"])
    return contact_list


def contact_list_import_retry(*, contact_list: ContactList) -> ContactList:
    """Queue a failed import again (the file is kept until an import succeeds)."""
    with transaction.atomic():
        contact_list = ContactList.objects.select_for_update().get(pk=contact_list.pk)
        if contact_list.import_status != ContactList.ImportStatus.FAILED:
            return contact_list
        if contact_list.consent_confirmed_at is None:
            raise CampaignError("Confirm the columns and consent first.")
        _upload_bytes(contact_list)
        contact_list.import_status = ContactList.ImportStatus.QUEUED
        contact_list.import_error = ""
        contact_list.save(update_fields=["import_status", "import_error"])
        _enqueue_import(contact_list.pk)
    return contact_list


def _enqueue_import(list_id: int) -> None:
    transaction.on_commit(
        lambda: enqueue("default", contact_list_import, list_id, job_timeout=IMPORT_JOB_TIMEOUT_SECONDS)
    )


class _ImportLock:
    """A PostgreSQL session lock per list, so two workers never import one list at once; a worker
    that dies releases it with its connection. Elsewhere (SQLite in development) always granted."""

    NAMESPACE = 0x436F6E74 << 32  # "Cont": keeps these keys apart from other advisory locks

    def __init__(self, list_id: int):
        self.key = self.NAMESPACE + list_id
        self.held = False

    def __enter__(self) -> bool:
        if connection.vendor != "postgresql":
            return True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
            self.held = cursor.fetchone()[0]
        return self.held

    def __exit__(self, *exc):
        if self.held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [self.key])


def contact_list_import(list_id: int) -> None:
    """RQ job: import a confirmed upload into its list, in batches, updating its progress.

    Safe to run again at any point: it starts over (the list's contacts and rejections from an
    earlier, interrupted run are removed first), and does nothing for a list already imported,
    deleted, not yet confirmed, or being imported by another worker right now. A problem with the
    file fails the import with a message for the user; anything else does too, and is raised
    again so the job shows as failed to operators.
    """
    with _ImportLock(list_id) as acquired:
        if not acquired:
            return
        contact_list = ContactList.objects.select_related("workspace").filter(pk=list_id).first()
        if (
            contact_list is None
            or contact_list.import_status == ContactList.ImportStatus.DONE
            or contact_list.consent_confirmed_at is None
        ):
            return
        try:
            with transaction.atomic():
                contact_list.contacts.all().delete()
                contact_list.rejections.all().delete()
                ContactList.objects.filter(pk=list_id).update(
                    import_status=ContactList.ImportStatus.RUNNING,
                    import_error="",
                    import_bytes_done=0,
                    rows_imported=0,
                    rows_rejected=0,
                )
            with _fewer_collections():
                _import_rows(contact_list, CsvSource(_upload_bytes(contact_list)))
        except CampaignError as exc:
            _import_failed(list_id, str(exc))
        except Exception:
            _import_failed(
                list_id, "The import stopped because of an error on our side. Try again; if it fails again, contact us."
            )
            raise


@contextmanager
def _fewer_collections():
    """The import allocates millions of short-lived objects. With the collector at its defaults it
    runs every 700 of them and keeps walking Django's own long-lived objects: a fifth of the import's
    time. Those are set aside (frozen) and collections made rarer for the import, then restored."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], 50_000), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _import_failed(list_id: int, message: str) -> None:
    """A failed import keeps nothing but the file and the reason, so a campaign never sees half a list."""
    with transaction.atomic():
        Contact.objects.filter(contact_list_id=list_id).delete()
        ImportRejection.objects.filter(contact_list_id=list_id).delete()
        ContactList.objects.filter(pk=list_id).update(
            import_status=ContactList.ImportStatus.FAILED,
            import_error=message[:300],
            rows_imported=0,
            rows_rejected=0,
        )


def _import_rows(contact_list: ContactList, source: CsvSource) -> None:
    processor = RowProcessor(
        Columns.resolve(contact_list.column_mapping, source.names),
        width=len(source.header),
        default_country=contact_list.default_country or contact_list.workspace.default_country,
        encoding=source.encoding,
        delimiter=source.delimiter,
    )
    ContactList.objects.filter(pk=contact_list.pk).update(import_problems={"encoding": source.encoding.label})
    writer = _BatchWriter(contact_list)
    contacts: list[ContactRow] = []
    problems: list[RowProblem] = []
    row = processor.row
    for line, values in source.rows():
        result = row(line, values)
        if result.__class__ is tuple:
            contacts.append(result)
        else:
            problems.append(result)
        if len(contacts) + len(problems) >= BATCH_ROWS:
            writer.write(contacts, problems, bytes_done=source.bytes_read)
            contacts, problems = [], []
    writer.write(contacts, problems, bytes_done=source.size)
    with transaction.atomic():
        ContactList.objects.filter(pk=contact_list.pk).update(import_status=ContactList.ImportStatus.DONE)
        ContactUpload.objects.filter(contact_list_id=contact_list.pk).delete()


class _BatchWriter:
    """Stores one batch of rows in one transaction: numbers already in this list (from an earlier
    batch) and do-not-call numbers found with two queries, contacts written with COPY on PostgreSQL
    (bulk_create elsewhere), rejections, and the list's progress counters. The account's other
    lists are not looked at: a number may be in several lists."""

    COLUMNS = ("contact_list", "phone_number", "first_name", "last_name", "time_zone", "tags", "variables")

    def __init__(self, contact_list: ContactList):
        self.list_id = contact_list.pk
        self.workspace_id = contact_list.workspace_id
        self.copy_sql = None
        if connection.vendor == "postgresql":
            fields = [Contact._meta.get_field(name).column for name in (*self.COLUMNS, "source_line")]
            qn = connection.ops.quote_name
            contacts, dnc = (qn(m._meta.db_table) for m in (Contact, DoNotCall))
            self.copy_sql = f"COPY {contacts} ({', '.join(qn(f) for f in fields)}) FROM STDIN"
            self.known_sql = (
                f"SELECT phone_number, source_line FROM {contacts} "
                "WHERE contact_list_id = %s AND phone_number = ANY(%s)"
            )
            self.blocked_sql = (
                f"SELECT phone_number, owner_id FROM {dnc} "
                "WHERE (owner_id = %s OR owner_id IS NULL) AND phone_number = ANY(%s)"
            )

    def _known(self, numbers: list[str]) -> dict[str, str]:
        """Why each of `numbers` may not be imported: already in this list, or on a do-not-call list."""
        if self.copy_sql:
            # PostgreSQL: one array parameter, not 2,000 placeholders for the driver to splice in.
            with connection.cursor() as cursor:
                cursor.execute(self.known_sql, [self.list_id, numbers])
                in_list = cursor.fetchall()
                cursor.execute(self.blocked_sql, [self.workspace_id, numbers])
                blocked = cursor.fetchall()
        else:
            in_list = Contact.objects.filter(contact_list_id=self.list_id, phone_number__in=numbers).values_list(
                "phone_number", "source_line"
            )
            blocked = DoNotCall.objects.filter(
                Q(workspace_id=self.workspace_id) | Q(workspace__isnull=True), phone_number__in=numbers
            ).values_list("phone_number", "workspace_id")
        known = {number: f"{number} already appears on line {line}" for number, line in in_list}
        for number, workspace_id in blocked:
            where = "your do-not-call list" if workspace_id else "the platform-wide do-not-call list"
            known.setdefault(number, f"{number} is on {where}")
        return known

    def write(self, contacts: list[ContactRow], problems: list[RowProblem], *, bytes_done: int) -> None:
        keep: dict[str, ContactRow] = {}
        for row in contacts:
            first = keep.get(row[0])
            if first is None:
                keep[row[0]] = row
            else:
                problems.append(RowProblem(row[6], f"{row[0]} already appears on line {first[6]}", row[0], True))
        known = self._known(list(keep)) if keep else {}
        for number in known:
            row = keep.pop(number)
            problems.append(RowProblem(row[6], known[number], number, True))
        with transaction.atomic():
            if keep:
                self._insert(keep.values())
            if problems:
                ImportRejection.objects.bulk_create(
                    [
                        ImportRejection(
                            contact_list_id=self.list_id, line=p.line, value=p.value[:200], reason=p.message[:300]
                        )
                        for p in problems
                    ],
                    batch_size=BATCH_ROWS,
                )
            ContactList.objects.filter(pk=self.list_id).update(
                import_bytes_done=bytes_done,
                rows_imported=F("rows_imported") + len(keep),
                rows_rejected=F("rows_rejected") + len(problems),
            )

    def _insert(self, rows: Iterable[ContactRow]) -> None:
        list_id = self.list_id
        if self.copy_sql is None:
            Contact.objects.bulk_create(
                [
                    Contact(
                        contact_list_id=list_id,
                        phone_number=number,
                        first_name=first,
                        last_name=last,
                        time_zone=tz,
                        tags=tags,
                        variables=variables,
                        source_line=line,
                    )
                    for number, first, last, tz, tags, variables, line in rows
                ],
                batch_size=BATCH_ROWS,
            )
            return
        dumps = json.dumps
        with connection.cursor() as cursor, cursor.cursor.copy(self.copy_sql) as copy:
            write_row = copy.write_row
            for number, first, last, tz, tags, variables, line in rows:
                write_row((list_id, number, first, last, tz, dumps(tags) if tags else "[]", dumps(variables), line))


# --- Reading results ----------------------------------------------------------------------------
def import_progress(*, contact_list: ContactList) -> dict:
    total = contact_list.import_bytes_total or 0
    done = min(contact_list.import_bytes_done, total)
    finished = contact_list.import_status == ContactList.ImportStatus.DONE
    return {
        "percent": 100 if finished else (int(100 * done / total) if total else 0),
        "finished": finished,
        "failed": contact_list.import_status == ContactList.ImportStatus.FAILED,
        "encoding": (contact_list.import_problems or {}).get("encoding", ""),
    }


def rejection_rows(*, contact_list: ContactList) -> Iterator[list]:
    """The rejected-rows report, header first, every cell safe to open in a spreadsheet."""
    yield safe_row(["line", "value", "reason"])
    rejections = contact_list.rejections.order_by("line", "id").values_list("line", "value", "reason")
    for line, value, reason in rejections.iterator(chunk_size=BATCH_ROWS):
        yield safe_row([line, value, reason])
