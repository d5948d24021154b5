"""Contact lists and contacts once imported: finding them, exporting a list as a file that imports
again, the variables each list has, and changing or deleting lists and contacts."""

import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.functional import cached_property

from accounts import audit
from clozit.csvsafe import safe_row
from clozit.phones import normalise_number

from ..errors import CampaignError
from ..jobs import campaign_wake
from ..models import Campaign, CampaignContact, Contact, ContactList
from .contact_rows import (
    BATCH_ROWS,
    MAPPED_FIELDS,
    MAX_VARIABLE_LENGTH,
    RESERVED_VARIABLES,
    mapping_variables,
    normalise_header,
    normalise_time_zone,
    parse_tags,
)
from .windows import WINDOW_WAIT_PREFIXES


# --- Reading lists and contacts ------------------------------------------------------------
def contact_export_rows(*, contact_list: ContactList) -> Iterator[list]:
    """The list as CSV rows that import again: phone, names, time zone, tags, then one column per
    variable name any contact has (found in a first pass, so memory stays small), in the order of
    the file's columns."""
    keys: dict[str, None] = dict.fromkeys(name for _, name in mapping_variables(contact_list.column_mapping or {}))
    for variables in contact_list.contacts.values_list("variables", flat=True).iterator(chunk_size=BATCH_ROWS):
        keys.update(dict.fromkeys(variables or {}))
    names = [k for k in keys if k not in RESERVED_VARIABLES]
    yield safe_row(["phone", "first_name", "last_name", "time_zone", "tags", *names])
    rows = contact_list.contacts.order_by("id").values_list(
        "phone_number", "first_name", "last_name", "time_zone", "tags", "variables"
    )
    for number, first, last, tz, tags, variables in rows.iterator(chunk_size=BATCH_ROWS):
        variables = variables or {}
        yield safe_row([number, first, last, tz, ", ".join(tags or []), *(variables.get(k, "") for k in names)])


def contact_lists_variable_names(*, contact_lists: Iterable[ContactList]) -> dict[int, set[str]]:
    """The variables each list was imported with: its ticked columns, by the names chosen at mapping.
    A list imported before mappings were kept is read from its first contact. At most one query."""
    names: dict[int, set[str]] = {}
    unmapped = []
    for contact_list in contact_lists:
        mapping = contact_list.column_mapping or {}
        if "variables" in mapping:
            fields = {mapping.get(f) for f in MAPPED_FIELDS if mapping.get(f)}
            names[contact_list.pk] = {name for column, name in mapping_variables(mapping) if column not in fields}
        else:
            unmapped.append(contact_list.pk)
    if unmapped:
        first = Contact.objects.filter(contact_list=OuterRef("pk")).order_by("id").values("variables")[:1]
        rows = ContactList.objects.filter(pk__in=unmapped).annotate(first=Subquery(first)).values_list("pk", "first")
        for list_id, variables in rows:
            if isinstance(variables, str):  # a backend that returns the JSON text of a subquery
                variables = json.loads(variables)
            names[list_id] = set(variables or {})
    return names


class CappedPaginator(Paginator):
    """Pages without counting a whole large result: the count stops at `cap` (shown as "10,000+")."""

    def __init__(self, object_list, per_page, *, cap: int = 10_000, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap


def contact_lists_search(*, workspace, query: str = ""):
    """The owner's lists, newest first, matching `query` in the name or a tag, each with its
    contact count (counted only for the lists on the page)."""
    lists = ContactList.objects.filter(workspace=workspace)
    query = query.strip()
    if query:
        lists = lists.filter(Q(name__icontains=query) | Q(tags__icontains=query))
    count = Contact.objects.filter(contact_list=OuterRef("pk")).values("contact_list").annotate(n=Count("pk"))
    return lists.annotate(contact_count=Subquery(count.values("n")))


def contacts_search(*, contact_list: ContactList, query: str = "", tag: str = ""):
    """The list's contacts matching every word of `query` (in a name, or digits in the number) and `tag`."""
    contacts = contact_list.contacts.order_by("id")
    for word in query.split():
        digits = re.sub(r"\D", "", word)
        match = Q(first_name__icontains=word) | Q(last_name__icontains=word)
        if len(digits) >= 3 or (digits and digits == word):
            match |= Q(phone_number__contains=digits)
        contacts = contacts.filter(match)
    tag = tag.strip()
    if tag:
        # A case-insensitive search for the tag as a JSON string in the list's JSON text; PostgreSQL
        # prints jsonb with its characters as they are, SQLite stores the \u escapes json.dumps writes.
        needle = json.dumps(tag, ensure_ascii=connection.vendor != "postgresql")
        contacts = contacts.filter(tags__icontains=needle)
    return contacts


# --- Changing lists and contacts ---------------------------------------------------------------------
def _refuse_while_importing(contact_list: ContactList) -> None:
    status = contact_list.import_status
    if status == ContactList.ImportStatus.RUNNING or (
        status == ContactList.ImportStatus.QUEUED and contact_list.consent_confirmed_at
    ):
        raise CampaignError("This list is being imported. Wait until the import has finished.")


def contact_update(
    *,
    contact: Contact,
    phone_number: str,
    first_name: str = "",
    last_name: str = "",
    time_zone: str = "",
    tags: list[str] | str = (),
    variables: dict | None = None,
) -> Contact:
    """Change a contact: the number read again (in the list's country) and kept unique in its list,
    the time zone checked. ValueError-free: every refusal is a CampaignError naming the field."""
    contact_list = contact.contact_list
    _refuse_while_importing(contact_list)
    country = contact_list.default_country or contact_list.workspace.default_country
    try:
        number = normalise_number(phone_number, default_country=country)
    except ValueError as exc:
        raise CampaignError(f"Phone number: {exc}.") from None
    try:
        zone = normalise_time_zone(time_zone)
    except ValueError as exc:
        raise CampaignError(f"Time zone: {exc}.") from None
    with transaction.atomic():
        if contact_list.contacts.filter(phone_number=number).exclude(pk=contact.pk).exists():
            raise CampaignError(f"Phone number: {number} is already in this list.")
        contact.phone_number = number
        contact.first_name = first_name.strip()[:100]
        contact.last_name = last_name.strip()[:100]
        contact.time_zone = zone
        contact.tags = parse_tags(tags)
        contact.variables = {normalise_header(k): str(v)[:MAX_VARIABLE_LENGTH] for k, v in (variables or {}).items()}
        contact.save()
        # A contact waiting for a time zone (or for its window) is looked at again at once.
        campaign_targets_recheck(contact=contact)
    return contact


def contact_delete(*, contact: Contact) -> None:
    _refuse_while_importing(contact.contact_list)
    contact.delete()


def contact_list_update(*, contact_list: ContactList, name: str, tags: list[str] | str) -> ContactList:
    name = " ".join(name.split())
    if not name:
        raise CampaignError("Give the list a name.")
    contact_list.name = name[:120]
    contact_list.tags = parse_tags(tags)
    contact_list.save(update_fields=["name", "tags"])
    return contact_list


def contact_list_delete(*, contact_list: ContactList, by=None) -> None:
    """Delete a list and its contacts, unless a campaign uses it (the campaign's calls need them)."""
    campaigns = list(contact_list.campaigns.order_by("name").values_list("name", flat=True))
    if campaigns:
        named = ", ".join(f"“{name}”" for name in campaigns[:5]) + (" and others" if len(campaigns) > 5 else "")
        plural = "s" if len(campaigns) > 1 else ""
        raise CampaignError(f"This list is used by the campaign{plural} {named}, so it cannot be deleted.")
    if contact_list.import_status == ContactList.ImportStatus.RUNNING:
        raise CampaignError("This list is being imported. Wait until the import has finished.")
    audit.record(
        workspace=contact_list.workspace_id,
        actor=by,
        action="list.delete",
        summary=f"Deleted the list “{contact_list.name}”.",
    )
    contact_list.delete()


# Days an upload waits for its columns to be mapped before it is deleted with its file.
ABANDONED_UPLOAD_AFTER = timedelta(days=1)


def contact_uploads_abandoned_delete(*, now: datetime | None = None) -> int:
    """Daily: lists uploaded more than a day ago whose columns were never mapped (nor consent
    confirmed) are deleted with their file. They hold no contacts, and nobody's file should wait on
    our disk for a step that is not coming. A list a campaign already names is kept, and one being
    mapped right now is left for the next day. Returns how many lists were deleted."""
    now = now or timezone.now()
    named = Campaign.objects.filter(contact_list=OuterRef("pk"))
    with transaction.atomic():
        abandoned = list(
            ContactList.objects.select_for_update(skip_locked=True)
            .filter(
                ~Exists(named),
                import_status=ContactList.ImportStatus.QUEUED,
                consent_confirmed_at__isnull=True,
                created_at__lt=now - ABANDONED_UPLOAD_AFTER,
            )
            .values_list("pk", flat=True)
        )
        ContactList.objects.filter(pk__in=abandoned).delete()
    return len(abandoned)


# --- A contact changed: its places in campaigns --------------------------------------------------
def window_waits() -> Q:
    """Queued campaign contacts waiting for a time zone or a calling window: a wait that ends when
    the contact's zone or the campaign's hours change (a retry's spacing is not one)."""
    waiting = Q()
    for prefix in WINDOW_WAIT_PREFIXES:
        waiting |= Q(waiting_reason__startswith=prefix)
    return waiting


def campaign_targets_recheck(*, contact) -> int:
    """Call after a contact's time zone (or number) changed: its queued places that wait for a
    zone or a calling window are looked at again at once (a retry's spacing is kept). Returns
    how many; running campaigns are woken after the commit."""
    targets = CampaignContact.objects.filter(window_waits(), contact=contact, status=CampaignContact.Status.PENDING)
    campaign_ids = set(targets.filter(campaign__status=Campaign.Status.RUNNING).values_list("campaign_id", flat=True))
    changed = targets.update(next_attempt_at=None, waiting_reason="", updated_at=timezone.now())
    for campaign_id in campaign_ids:
        transaction.on_commit(lambda campaign_id=campaign_id: campaign_wake(campaign_id))
    return changed
