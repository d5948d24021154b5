"""/lists: contact lists and their contacts, through the same services as the contact pages.

A campaign calls a list only once someone confirmed consent to call the people on it: send
`consent: true` when creating the list (recorded with the time and the key's member), or confirm
it later with POST /lists/{id}/consent, as the list's page asks."""

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status

from campaigns.contacts.adding import contact_list_create, contacts_add
from campaigns.contacts.importing import contact_list_confirm_consent
from campaigns.contacts.lists import (
    contact_delete,
    contact_list_delete,
    contact_list_update,
    contact_lists_search,
    contact_update,
)
from campaigns.errors import CampaignError
from campaigns.models import Contact, ContactList

from ..errors import ApiProblem
from ..schemas import PageQuery, own, page

router = Router(tags=["Contact lists"])


class ListIn(Schema):
    name: str
    tags: list[str] = []
    consent: bool = False  # true: you have consent to call everyone you will put on this list


class ListChange(Schema):
    name: str | None = None
    tags: list[str] | None = None


class ConsentIn(Schema):
    consent: bool


class ListOut(Schema):
    id: int
    name: str
    tags: list[str]
    contact_count: int
    consent_confirmed: bool
    consent_confirmed_at: datetime | None
    import_status: str
    created_at: datetime

    @staticmethod
    def resolve_contact_count(contact_list):
        count = getattr(contact_list, "contact_count", None)
        return count if count is not None else contact_list.contacts.count()

    @staticmethod
    def resolve_consent_confirmed(contact_list):
        return contact_list.consent_confirmed_at is not None


class ListPage(Schema):
    data: list[ListOut]
    next_cursor: str | None


class ContactIn(Schema):
    phone_number: str
    first_name: str = ""
    last_name: str = ""
    time_zone: str = ""  # IANA name; empty: from the number
    tags: list[str] = []
    variables: dict[str, str] = {}


class ContactChange(Schema):
    phone_number: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    time_zone: str | None = None
    tags: list[str] | None = None
    variables: dict[str, str] | None = None


class ContactOut(Schema):
    id: int
    list_id: int
    phone_number: str
    first_name: str
    last_name: str
    time_zone: str
    tags: list[str]
    variables: dict[str, str]

    @staticmethod
    def resolve_list_id(contact):
        return contact.contact_list_id


class ContactPage(Schema):
    data: list[ContactOut]
    next_cursor: str | None


class RejectedOut(Schema):
    index: int
    phone_number: str
    field: str
    reason: str


class AddManyOut(Schema):
    added: list[ContactOut]
    rejected: list[RejectedOut]


CONSENT_NEEDED = "Send true to confirm that you have consent to call these people."
FIELD_PREFIXES = (("Phone number", "phone_number"), ("Time zone", "time_zone"))


def _lists(request):
    return contact_lists_search(workspace=request.workspace)


def _list(request, list_id: int) -> ContactList:
    return own(_lists(request), list_id, workspace=request.workspace)


def _contact(request, list_id: int, contact_id: int) -> Contact:
    return get_object_or_404(Contact, pk=contact_id, contact_list=_list(request, list_id))


# --- Lists -----------------------------------------------------------------------------------
@router.get("", response=ListPage, summary="List contact lists")
def lists_list(request, query: Query[PageQuery]):
    return page(_lists(request), query)


@router.post("", response={201: ListOut}, summary="Create a contact list")
def lists_create(request, body: ListIn):
    created = contact_list_create(
        workspace=request.workspace,
        name=body.name,
        tags=body.tags,
        consent_by=request.auth.created_by if body.consent else None,
    )
    return Status(201, _list(request, created.pk))


@router.get("/{int:list_id}", response=ListOut, summary="Get a contact list")
def lists_get(request, list_id: int):
    return _list(request, list_id)


@router.patch("/{int:list_id}", response=ListOut, summary="Rename a list or change its tags")
def lists_update(request, list_id: int, body: ListChange):
    contact_list = _list(request, list_id)
    contact_list_update(
        contact_list=contact_list,
        name=contact_list.name if body.name is None else body.name,
        tags=contact_list.tags if body.tags is None else body.tags,
    )
    return _list(request, list_id)


@router.delete("/{int:list_id}", response={204: None}, summary="Delete a list and its contacts")
def lists_delete(request, list_id: int):
    contact_list_delete(contact_list=_list(request, list_id), by=request.auth.created_by)
    return Status(204, None)


@router.post("/{int:list_id}/consent", response=ListOut, summary="Confirm consent to call the list")
def lists_consent(request, list_id: int, body: ConsentIn):
    contact_list = _list(request, list_id)
    if not body.consent:
        raise ApiProblem(
            422,
            "Invalid request",
            "Some fields are missing or wrong.",
            errors=[{"field": "consent", "message": CONSENT_NEEDED}],
        )
    contact_list_confirm_consent(contact_list=contact_list, by=request.auth.created_by)
    return _list(request, list_id)


# --- Contacts --------------------------------------------------------------------------------
@router.get("/{int:list_id}/contacts", response=ContactPage, summary="List a list's contacts")
def contacts_list(request, list_id: int, query: Query[PageQuery]):
    contacts = _list(request, list_id).contacts.all()
    return page(contacts, query)


@router.post("/{int:list_id}/contacts", response={201: ContactOut}, summary="Add a contact")
def contacts_create(request, list_id: int, body: ContactIn):
    report = contacts_add(contact_list=_list(request, list_id), rows=[body.dict()])
    if report.rejected:
        rejected = report.rejected[0]
        raise ApiProblem(
            422,
            "Invalid request",
            rejected.reason,
            errors=[{"field": rejected.field, "message": rejected.reason}],
        )
    return Status(201, report.added[0])


@router.post(
    "/{int:list_id}/contacts/batch",
    response=AddManyOut,
    summary="Add many contacts",
    description="Adds the good rows and reports each bad one with its index in the array and why "
    "(a number that is not valid, already in the list, or on a do-not-call list), like the rejected "
    "rows of a CSV import. At most 1,000 rows per request.",
)
def contacts_create_many(request, list_id: int, body: list[ContactIn]):
    report = contacts_add(contact_list=_list(request, list_id), rows=[row.dict() for row in body])
    return {"added": report.added, "rejected": report.rejected}


@router.get("/{int:list_id}/contacts/{int:contact_id}", response=ContactOut, summary="Get a contact")
def contacts_get(request, list_id: int, contact_id: int):
    return _contact(request, list_id, contact_id)


@router.patch("/{int:list_id}/contacts/{int:contact_id}", response=ContactOut, summary="Update a contact")
def contacts_update(request, list_id: int, contact_id: int, body: ContactChange):
    contact = _contact(request, list_id, contact_id)
    sent = {name: value for name, value in body.dict(exclude_unset=True).items() if value is not None}
    fields = ("phone_number", "first_name", "last_name", "time_zone", "tags", "variables")
    current = {name: getattr(contact, name) for name in fields}
    try:
        return contact_update(contact=contact, **{**current, **sent})
    except CampaignError as exc:
        # The service names the field its refusal is about first ("Phone number: …", "Time zone: …").
        field = next((name for prefix, name in FIELD_PREFIXES if str(exc).startswith(prefix)), None)
        if field is None:
            raise
        raise ApiProblem(422, "Invalid request", str(exc), errors=[{"field": field, "message": str(exc)}]) from None


@router.delete("/{int:list_id}/contacts/{int:contact_id}", response={204: None}, summary="Delete a contact")
def contacts_delete(request, list_id: int, contact_id: int):
    contact_delete(contact=_contact(request, list_id, contact_id))
    return Status(204, None)
