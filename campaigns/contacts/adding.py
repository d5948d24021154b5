"""Lists made empty and contacts added to them one or many at a time (the API's way in; files
come in through `importing`). A contact added here passes the same checks as a CSV row: its
number read into E.164 in the list's country, its time zone checked, one contact per number in
a list, and no number on the workspace's or the platform's do-not-call list. In a batch the good
rows are added and each bad one is reported with its position and why, as the import reports
rejected rows by line."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clozit.phones import normalise_number

from ..errors import CampaignError
from ..models import Contact, ContactList, DoNotCall
from .contact_rows import MAX_VARIABLE_LENGTH, normalise_header, normalise_time_zone, parse_tags
from .lists import _refuse_while_importing

MAX_CONTACTS_PER_REQUEST = 1000


@dataclass
class Rejected:
    index: int  # the row's position in the request, from 0
    reason: str
    phone_number: str = ""
    field: str = "phone_number"  # the field the reason is about


class RowError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class AddReport:
    added: list[Contact] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def contact_list_create(*, workspace, name: str, tags: Iterable[str] | str = (), consent_by=None) -> ContactList:
    """An empty list, ready for contacts. `consent_by`: the member who confirms consent to call
    the people who will be on it (recorded with the time); without it a campaign may not call
    the list until someone confirms."""
    name = " ".join((name or "").split())
    if not name:
        raise CampaignError("Give the list a name.")
    return ContactList.objects.create(
        workspace=workspace,
        name=name[:120],
        tags=parse_tags(tags),
        default_country=workspace.default_country or "",
        consent_confirmed_at=timezone.now() if consent_by is not None else None,
        consent_confirmed_by=consent_by,
    )


def _row_clean(row: dict, *, country: str) -> Contact:
    """A contact from one row, unsaved; RowError with the field and the reason it cannot be one."""
    try:
        number = normalise_number(str(row.get("phone_number") or ""), default_country=country)
    except ValueError as exc:
        raise RowError("phone_number", str(exc)) from None
    try:
        zone = normalise_time_zone(str(row.get("time_zone") or ""))
    except ValueError as exc:
        raise RowError("time_zone", str(exc)) from None
    variables = {}
    for name, value in (row.get("variables") or {}).items():
        key = normalise_header(str(name))
        if not key:
            raise RowError("variables", f"the variable name '{str(name)[:40]}' has no letters or digits")
        variables[key] = "" if value is None else str(value)[:MAX_VARIABLE_LENGTH]
    return Contact(
        phone_number=number,
        first_name=str(row.get("first_name") or "").strip()[:100],
        last_name=str(row.get("last_name") or "").strip()[:100],
        time_zone=zone,
        tags=parse_tags(row.get("tags") or ()),
        variables=variables,
    )


def contacts_add(*, contact_list: ContactList, rows: list[dict]) -> AddReport:
    """Add `rows` ({"phone_number", "first_name", "last_name", "time_zone", "tags", "variables"})
    to the list. Good rows are added, bad ones reported; a CampaignError only when the whole
    request is refused (too many rows, the list being imported)."""
    if len(rows) > MAX_CONTACTS_PER_REQUEST:
        raise CampaignError(f"Send at most {MAX_CONTACTS_PER_REQUEST} contacts at a time.")
    _refuse_while_importing(contact_list)
    country = contact_list.default_country or contact_list.workspace.default_country or "US"
    report = AddReport()
    candidates: dict[str, tuple[int, Contact]] = {}
    for index, row in enumerate(rows):
        try:
            contact = _row_clean(row, country=country)
        except RowError as exc:
            report.rejected.append(Rejected(index, str(exc), str(row.get("phone_number") or "")[:40], exc.field))
            continue
        first = candidates.get(contact.phone_number)
        if first is not None:
            reason = f"{contact.phone_number} already appears at index {first[0]}"
            report.rejected.append(Rejected(index, reason, contact.phone_number))
            continue
        candidates[contact.phone_number] = (index, contact)
    numbers = list(candidates)
    with transaction.atomic():
        # Locked so that two requests adding the same number to this list never both pass the check.
        ContactList.objects.select_for_update().filter(pk=contact_list.pk).first()
        known = {
            number: f"{number} is already in this list"
            for number in contact_list.contacts.filter(phone_number__in=numbers).values_list("phone_number", flat=True)
        }
        blocked = DoNotCall.objects.filter(
            Q(workspace_id=contact_list.workspace_id) | Q(workspace__isnull=True), phone_number__in=numbers
        ).values_list("phone_number", "workspace_id")
        for number, workspace_id in blocked:
            where = "your do-not-call list" if workspace_id else "the platform-wide do-not-call list"
            known.setdefault(number, f"{number} is on {where}")
        for number, reason in known.items():
            index, _ = candidates.pop(number)
            report.rejected.append(Rejected(index, reason, number))
        for _, contact in candidates.values():
            contact.contact_list = contact_list
        report.added = Contact.objects.bulk_create([contact for _, contact in candidates.values()])
    report.rejected.sort(key=lambda rejected: rejected.index)
    return report
