"""The one module that talks to HubSpot (hubspot-api-client), behind a small interface of our own.

Everything else in Clozit calls `HubSpotClient` and sees plain values and `HubSpotError`; nothing
else imports the SDK (an import-linter contract). The SDK's host is `HUBSPOT_API_BASE_URL`, so the
tests run this very code against a local fake that answers in HubSpot's wire format.

Failures: `HubSpotError(message, permanent=...)`. HubSpot marks what is worth retrying: 429 (its
rate limits, with `Retry-After` or its own `X-HubSpot-RateLimit-Interval-Milliseconds`) and 5xx;
a refused token (401), a missing scope (403), a bad property (400) or an unknown contact (404) stays
refused however often it is sent, so it is permanent. Network failures are retryable.
"""

import json
from dataclasses import dataclass

import urllib3
from django.conf import settings
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, PublicObjectSearchRequest, SimplePublicObjectInput
from hubspot.crm.lists import ApiException as ListsApiException
from hubspot.crm.lists import ListSearchRequest
from hubspot.crm.objects.notes import ApiException as NotesApiException
from hubspot.crm.objects.notes import SimplePublicObjectInputForCreate
from hubspot.crm.properties import ApiException as PropertiesApiException
from urllib3.util.retry import Retry

TIMEOUT_SECONDS = 15
PAGE_SIZE = 100  # contacts per page and per batch read (HubSpot's batch read takes at most 100)
CONTACTS_OBJECT_TYPE = "0-1"  # lists hold many kinds of records; contact lists have this type
NOTE_TO_CONTACT = 202  # HubSpot's association type id: note → contact (HUBSPOT_DEFINED)

_API_ERRORS = (ContactsApiException, ListsApiException, NotesApiException, PropertiesApiException)


class HubSpotError(Exception):
    """A call to HubSpot failed. `permanent`: sending it again cannot help. `retry_after`: seconds
    HubSpot asked us to wait (rate limits), when it said."""

    def __init__(self, message: str, permanent: bool = False, *, status: int | None = None, retry_after=None):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Property:
    name: str
    label: str
    type: str
    read_only: bool = False


@dataclass(frozen=True)
class ContactList:
    list_id: str
    name: str
    size: int | None


@dataclass(frozen=True)
class Record:
    object_id: str
    properties: dict


def _header(headers, name: str) -> str:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return ""


def _error(exc: Exception) -> HubSpotError:
    """Our error for one of the SDK's, with HubSpot's own message where it sent one."""
    if not isinstance(exc, _API_ERRORS):  # the network: refused, reset, timed out
        return HubSpotError("HubSpot could not be reached. We will try again.", permanent=False)
    status = exc.status or 0
    detail = ""
    try:
        body = json.loads(exc.body or "{}")
        detail = str(body.get("message") or "")
        if body.get("category") == "VALIDATION_ERROR" and "PROPERTY_DOESNT_EXIST" in detail:
            names = [e.get("name") for e in json.loads(detail[detail.index("[") :]) if isinstance(e, dict)]
            detail = "Property values were not valid: " + ", ".join(f"“{n}” does not exist" for n in names if n)
    except (ValueError, TypeError, AttributeError):
        pass
    if status == 401:
        return HubSpotError(
            "HubSpot refused the access token. Check that the private app still exists and copy its token again.",
            permanent=True,
            status=status,
        )
    if status == 403:
        return HubSpotError(
            "HubSpot refused: the private app lacks a scope this needs (see the scopes on this page). " + detail,
            permanent=True,
            status=status,
        )
    if status == 429:
        retry_after = _header(exc.headers, "Retry-After")
        interval = _header(exc.headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        seconds = None
        if retry_after.strip().isdigit():
            seconds = int(retry_after)
        elif interval.strip().isdigit():
            seconds = max(1, int(interval) // 1000)
        return HubSpotError("HubSpot's rate limit was reached. We will try again.", status=status, retry_after=seconds)
    if status >= 500:
        return HubSpotError(f"HubSpot had an error ({status}). We will try again.", status=status)
    if status == 404:
        return HubSpotError("HubSpot has no such record (it may have been deleted or merged).", True, status=status)
    return HubSpotError(f"HubSpot refused the request ({status}): {detail or exc.reason}", True, status=status)


# urllib3 on its own retries a GET answered 429 after sleeping its Retry-After, unseen. Pages and
# push-backs must not wait inside a request: they get every answer at once and decide themselves.
NO_RETRY = Retry(total=0, status_forcelist=(), respect_retry_after_header=False, raise_on_status=False)
# A background import reads thousands of pages and may meet HubSpot's ten-second limit: it waits
# as HubSpot asks, a few times, before giving up. Every request it makes only reads (the batch
# read and search are POSTs that change nothing), so repeating one is harmless.
PATIENT = Retry(
    total=5,
    backoff_factor=1,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=None,
    respect_retry_after_header=True,
    raise_on_status=False,
)


class HubSpotClient:
    """One portal, through a private app's access token. `patient`: for background reads only
    (see PATIENT)."""

    def __init__(self, access_token: str, *, patient: bool = False):
        self._api = HubSpot(
            access_token=access_token,
            host=settings.HUBSPOT_API_BASE_URL.rstrip("/"),
            retry=PATIENT if patient else NO_RETRY,
        )

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, _request_timeout=TIMEOUT_SECONDS, **kwargs)
        except _API_ERRORS as exc:
            raise _error(exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise _error(exc) from exc

    # --- Connecting ---------------------------------------------------------------------------
    def check(self) -> None:
        """One cheap read that needs the contacts scope: a refused token raises (permanent)."""
        self._call(self._api.crm.contacts.basic_api.get_page, limit=1, archived=False)

    # --- Reading --------------------------------------------------------------------------------
    def contact_properties(self) -> list[Property]:
        page = self._call(self._api.crm.properties.core_api.get_all, object_type="contacts", archived=False)
        found = [
            Property(
                name=p.name,
                label=p.label or p.name,
                type=p.type,
                read_only=bool(p.calculated or (p.modification_metadata and p.modification_metadata.read_only_value)),
            )
            for p in page.results
            if not p.hidden
        ]
        return sorted(found, key=lambda p: p.label.lower())

    def contact_lists(self) -> list[ContactList]:
        """Every list of contacts in the portal (the lists API pages by offset)."""
        found, offset = [], 0
        while True:
            request = ListSearchRequest(query="", offset=offset, count=100, additional_properties=["hs_list_size"])
            page = self._call(self._api.crm.lists.lists_api.do_search, list_search_request=request)
            for item in page.lists:
                if item.object_type_id != CONTACTS_OBJECT_TYPE:
                    continue
                size = (item.additional_properties or {}).get("hs_list_size")
                found.append(ContactList(item.list_id, item.name, int(size) if str(size or "").isdigit() else None))
            if not page.has_more or not page.lists:
                return found
            offset = page.offset

    def list_member_ids(self, *, list_id: str, after: str | None = None) -> tuple[list[str], str | None]:
        """One page of a list's members: their record ids and the cursor of the next page."""
        kwargs = {"limit": PAGE_SIZE} | ({"after": after} if after else {})
        page = self._call(self._api.crm.lists.memberships_api.get_page, list_id=list_id, **kwargs)
        nxt = page.paging.next.after if page.paging and page.paging.next else None
        return [m.record_id for m in page.results], nxt

    def contacts_read(self, *, ids: list[str], properties: list[str]) -> list[Record]:
        """Up to PAGE_SIZE contacts by id (ids HubSpot no longer has are left out)."""
        request = BatchReadInputSimplePublicObjectId(
            inputs=[{"id": i} for i in ids], properties=properties, properties_with_history=[]
        )
        batch = self._call(
            self._api.crm.contacts.batch_api.read, batch_read_input_simple_public_object_id=request, archived=False
        )
        return [Record(r.id, dict(r.properties or {})) for r in batch.results]

    def contacts_page(self, *, properties: list[str], after: str | None = None) -> tuple[list[Record], str | None]:
        """One page of all the portal's contacts, and the cursor of the next page."""
        kwargs = {"limit": PAGE_SIZE, "properties": properties, "archived": False} | ({"after": after} if after else {})
        page = self._call(self._api.crm.contacts.basic_api.get_page, **kwargs)
        nxt = page.paging.next.after if page.paging and page.paging.next else None
        return [Record(r.id, dict(r.properties or {})) for r in page.results], nxt

    def contact_find_by_phone(self, *, phone_number: str, properties: list[str]) -> str | None:
        """The id of a contact whose phone property (any of `properties`) equals the number."""
        request = PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": p, "operator": "EQ", "value": phone_number}]} for p in properties
            ],
            properties=["phone"],
            limit=1,
        )
        found = self._call(self._api.crm.contacts.search_api.do_search, public_object_search_request=request)
        return found.results[0].id if found.results else None

    # --- Writing --------------------------------------------------------------------------------
    def contact_update(self, *, object_id: str, properties: dict[str, str]) -> None:
        self._call(
            self._api.crm.contacts.basic_api.update,
            contact_id=object_id,
            simple_public_object_input=SimplePublicObjectInput(properties=properties),
        )

    def note_create(self, *, object_id: str, body: str, timestamp: str) -> str:
        """A note on the contact's timeline; returns the note's id."""
        note = SimplePublicObjectInputForCreate(
            properties={"hs_note_body": body, "hs_timestamp": timestamp},
            associations=[
                {
                    "to": {"id": object_id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_CONTACT}],
                }
            ],
        )
        created = self._call(self._api.crm.objects.notes.basic_api.create, simple_public_object_input_for_create=note)
        return created.id
