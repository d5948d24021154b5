"""Importing contact lists from CSV: numbers normalised to E.164, bad rows reported by line."""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import phonenumbers
from django.db import transaction

from .errors import CampaignError
from .models import Contact, ContactList

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
PHONE_HEADERS = {"phone", "phone_number", "phonenumber", "number", "mobile", "mobile_number", "telephone", "tel"}
FIRST_NAME_HEADERS = {"first_name", "firstname", "first", "given_name", "name"}
LAST_NAME_HEADERS = {"last_name", "lastname", "last", "surname", "family_name"}


@dataclass
class RowProblem:
    line: int
    message: str


@dataclass
class ImportReport:
    contact_list: ContactList | None
    imported: int = 0
    duplicates: list[RowProblem] = field(default_factory=list)
    errors: list[RowProblem] = field(default_factory=list)


def normalise_header(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", (name or "").strip().lower()).strip("_")


def normalise_number(raw: str, *, default_country: str) -> str:
    """E.164 form of `raw`, or ValueError with a reason a person can act on."""
    # A leading apostrophe is how our own exports (and spreadsheets) keep "+1…" as text.
    raw = (raw or "").strip().removeprefix("'")
    if not raw:
        raise ValueError("the phone number is empty")
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else default_country)
    except phonenumbers.NumberParseException:
        raise ValueError(f"'{raw}' is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(
            f"'{raw}' is not a valid number for {phonenumbers.region_code_for_number(number) or default_country}"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CampaignError("The file is not readable text. Save it as CSV (UTF-8) and try again.")


def _sniff(text: str):
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _rows(reader, header: list[str]) -> Iterator[tuple[int, dict | None]]:
    """(first line of the row, {header: value}) per non-blank row; None for a row with too many columns.

    A quoted value may span lines: the row is reported at its first line, as a spreadsheet shows it.
    """
    previous_line = reader.line_num
    for values in reader:
        line, previous_line = previous_line + 1, reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(header):
            yield line, None
            continue
        yield line, dict(zip(header, values + [""] * (len(header) - len(values)), strict=True))


def contacts_import(*, owner, name: str, filename: str, data: bytes) -> ImportReport:
    """Create a contact list from CSV bytes. Valid rows are kept even when other rows fail."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise CampaignError("The file is larger than 10 MB. Split it into smaller lists.")
    reader = csv.reader(io.StringIO(text := _decode(data)), dialect=_sniff(text))
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise CampaignError(f"The file could not be read as CSV: {exc}.") from None
    headers = {normalise_header(h): h for h in header}
    phone_header = next((headers[h] for h in headers if h in PHONE_HEADERS), None)
    if phone_header is None:
        raise CampaignError("The file needs a column named 'phone' (or 'phone_number', 'mobile', 'number').")
    first_header = next((headers[h] for h in headers if h in FIRST_NAME_HEADERS), None)
    last_header = next((headers[h] for h in headers if h in LAST_NAME_HEADERS), None)
    known = {phone_header, first_header, last_header}

    report = ImportReport(contact_list=None)
    seen: dict[str, int] = {}
    contacts: list[Contact] = []
    try:
        for line, row in _rows(reader, header):
            if row is None:
                report.errors.append(RowProblem(line, "the row has more columns than the header"))
                continue
            try:
                number = normalise_number(row.get(phone_header) or "", default_country=owner.default_country)
            except ValueError as exc:
                report.errors.append(RowProblem(line, str(exc)))
                continue
            if number in seen:
                report.duplicates.append(RowProblem(line, f"{number} already appears on line {seen[number]}"))
                continue
            seen[number] = line
            variables = {
                normalise_header(k): (v or "").strip() for k, v in row.items() if k not in known and normalise_header(k)
            }
            contacts.append(
                Contact(
                    phone_number=number,
                    first_name=(row.get(first_header) or "").strip()[:100] if first_header else "",
                    last_name=(row.get(last_header) or "").strip()[:100] if last_header else "",
                    variables=variables,
                    source_line=line,
                )
            )
    except csv.Error as exc:
        raise CampaignError(f"The file could not be read as CSV near line {reader.line_num}: {exc}.") from None

    if not contacts:
        detail = f" Line {report.errors[0].line}: {report.errors[0].message}." if report.errors else ""
        raise CampaignError("No valid contacts were found in the file." + detail)
    with transaction.atomic():
        contact_list = ContactList.objects.create(
            owner=owner,
            name=name,
            source_filename=filename[:255],
            import_problems={
                "errors": [[p.line, p.message] for p in report.errors],
                "duplicates": [[p.line, p.message] for p in report.duplicates],
            },
        )
        for contact in contacts:
            contact.contact_list = contact_list
        Contact.objects.bulk_create(contacts, batch_size=1000)
    report.contact_list = contact_list
    report.imported = len(contacts)
    return report
