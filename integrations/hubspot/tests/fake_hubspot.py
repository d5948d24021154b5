"""A local fake of the HubSpot CRM API (v3), for the real `hubspot-api-client` to talk to.

`FakeHubSpot` is an HTTP server on 127.0.0.1 holding one portal: contact property definitions,
contacts, contact lists and notes. It is as strict as HubSpot where Clozit could go wrong:

* every request needs `Authorization: Bearer <token>`; a wrong or missing token is 401 with
  HubSpot's error body (`category: INVALID_AUTHENTICATION`);
* updating a property the portal does not define is 400 `VALIDATION_ERROR` whose message lists
  `PROPERTY_DOESNT_EXIST` per property, as HubSpot sends it; a read-only property is
  `READ_ONLY_VALUE`, an option not in an enumeration `INVALID_OPTION`;
* an unknown contact or list id is 404 (`OBJECT_NOT_FOUND`); a batch read with some unknown ids
  is 207 with the found records and an error naming the others;
* pages: contacts and list memberships are paged with `paging.next.after` cursors (opaque,
  refused when forged), at most 100 contacts and 250 memberships a page; list search by offset
  with `hasMore`;
* `fail_next(...)` makes the next matching requests answer 429 (with `Retry-After` and HubSpot's
  rate-limit headers) or a 5xx, to test retries.

Shapes: the SDK's models (`hubspot.crm.*.models`: the fields their `from_dict` requires) and the
example responses published in HubSpot's API reference (developers.hubspot.com/docs/api/crm/
contacts, /crm/lists, /crm/properties, /crm/notes, /error-handling); the examples used are kept in
`hubspot_examples.py` beside this file.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .hubspot_examples import DEFAULT_PROPERTIES, error_body, rate_limit_headers

DEFAULT_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
PORTAL_ID = 62515


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{datetime.now(UTC).microsecond // 1000:03d}Z"


class HubSpotApiError(Exception):
    def __init__(self, status: int, body: dict, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


def _not_found(message: str = "resource not found") -> HubSpotApiError:
    return HubSpotApiError(404, error_body(message, "OBJECT_NOT_FOUND"))


def _bad_request(message: str) -> HubSpotApiError:
    return HubSpotApiError(400, error_body(message, "VALIDATION_ERROR"))


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"clozit-fake:{position}".encode()).decode().rstrip("=")


def _position(after: str) -> int:
    try:
        text = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode()
        prefix, position = text.split(":")
        if prefix != "clozit-fake":
            raise ValueError(text)
        return int(position)
    except (ValueError, UnicodeDecodeError):
        raise _bad_request(f"Invalid input JSON : Cannot build paging cursor, invalid value '{after}'") from None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    body: Any


@dataclass
class Contact:
    id: str
    properties: dict
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)

    def entity(self, names: list[str] | None) -> dict:
        # HubSpot always returns these three; requested properties without a value come back as null.
        wanted = {"createdate", "hs_object_id", "lastmodifieddate", *(names or ["firstname", "lastname", "email"])}
        props = {"createdate": self.created_at, "lastmodifieddate": self.updated_at, "hs_object_id": self.id}
        props |= self.properties
        return {
            "id": self.id,
            "properties": {k: props.get(k) for k in sorted(wanted)},
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": False,
        }


class FakeHubSpot:
    """One HubSpot portal on 127.0.0.1:<random port>. Public state for tests to seed and read:
    `properties` (name → definition), `contacts` (id → Contact), `lists` (id → (name, [ids])),
    `notes` (id → note entity with its associations), `requests` (every call, in order)."""

    def __init__(self, token: str = DEFAULT_TOKEN):
        self.token = token
        self.properties: dict[str, dict] = {p["name"]: dict(p) for p in DEFAULT_PROPERTIES}
        self.contacts: dict[str, Contact] = {}
        self.lists: dict[str, tuple[str, list[str]]] = {}
        self.notes: dict[str, dict] = {}
        self.requests: list[RecordedRequest] = []
        self._failures: list[tuple[str, str, int, dict]] = []
        self._next_id = 51
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-hubspot", daemon=True
        )
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- seeding and controls ---------------------------------------------------------------
    def add_contact(self, **properties: str) -> str:
        with self._lock:
            contact_id = str(self._next_id)
            self._next_id += 1
            self.contacts[contact_id] = Contact(contact_id, {k: str(v) for k, v in properties.items()})
            return contact_id

    def add_list(self, name: str, contact_ids: list[str]) -> str:
        with self._lock:
            list_id = str(100 + len(self.lists) + 1)
            self.lists[list_id] = (name, list(contact_ids))
            return list_id

    def add_property(self, name: str, label: str, type: str = "string", field_type: str = "text", **extra) -> None:
        self.properties[name] = {
            "name": name,
            "label": label,
            "type": type,
            "fieldType": field_type,
            "groupName": "contactinformation",
            "description": "",
            "options": extra.pop("options", []),
            "hidden": False,
            "formField": True,
            "hubspotDefined": False,
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": False,
            "modificationMetadata": {"archivable": True, "readOnlyDefinition": False, "readOnlyValue": False},
            **extra,
        }

    def fail_next(self, method: str, path_prefix: str, status: int = 429, *, times: int = 1, headers=None) -> None:
        """The next `times` requests of `method` to a path starting with `path_prefix` answer
        `status`: 429 as HubSpot's secondly limit (Retry-After: 1), 5xx as an internal error."""
        with self._lock:
            for _ in range(times):
                self._failures.append((method, path_prefix, status, headers or {}))

    def calls(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # --- dispatch -----------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict, raw_body: bytes) -> tuple[int, Any, dict]:
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            return 400, error_body("Invalid input JSON on line 1", "VALIDATION_ERROR"), {}
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, body))
            auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
            if auth != f"Bearer {self.token}":
                return (
                    401,
                    error_body(
                        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                        "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                        "INVALID_AUTHENTICATION",
                    ),
                    {},
                )
            for i, (f_method, prefix, status, extra) in enumerate(self._failures):
                if f_method == method and path.startswith(prefix):
                    del self._failures[i]
                    if status == 429:
                        return (
                            429,
                            {
                                "status": "error",
                                "message": "You have reached your secondly limit.",
                                "errorType": "RATE_LIMIT",
                                "correlationId": str(uuid.uuid4()),
                                "policyName": "SECONDLY",
                                "groupName": "publicapi:private-app-api-calls-secondly:" + str(PORTAL_ID),
                            },
                            {"Retry-After": "1", **rate_limit_headers(remaining=0), **extra},
                        )
                    return status, error_body("internal error", "INTERNAL_ERROR"), extra
            try:
                status, payload = self._route(method, path, query, body)
                return status, payload, rate_limit_headers()
            except HubSpotApiError as exc:
                return exc.status, exc.body, exc.headers

    def _route(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        segments = path.strip("/").split("/")
        if segments[:3] == ["crm", "v3", "properties"] and method == "GET" and len(segments) == 4:
            if segments[3] != "contacts":
                raise _bad_request(f"Unable to infer object type from: {segments[3]}")
            return 200, {"results": [p for p in self.properties.values() if not p.get("archived")]}
        if segments[:4] == ["crm", "v3", "objects", "contacts"]:
            rest = segments[4:]
            if method == "GET" and not rest:
                return 200, self._contacts_page(query)
            if method == "POST" and rest == ["batch", "read"]:
                return self._batch_read(body)
            if method == "POST" and rest == ["search"]:
                return 200, self._search(body)
            if method == "PATCH" and len(rest) == 1:
                return 200, self._update(rest[0], body)
            if method == "GET" and len(rest) == 1:
                contact = self.contacts.get(rest[0]) or (_ for _ in ()).throw(_not_found())
                return 200, contact.entity(_names(query))
        if segments[:4] == ["crm", "v3", "objects", "notes"] and method == "POST" and len(segments) == 4:
            return 201, self._note_create(body)
        if segments[:3] == ["crm", "v3", "lists"]:
            if method == "POST" and segments[3:] == ["search"]:
                return 200, self._list_search(body or {})
            if method == "GET" and len(segments) == 5 and segments[4] == "memberships":
                return 200, self._memberships(segments[3], query)
        raise HubSpotApiError(404, error_body(f"Unable to route {method} {path}", "OBJECT_NOT_FOUND"))

    # --- contacts -----------------------------------------------------------------------------
    def _ordered(self) -> list[Contact]:
        return sorted(self.contacts.values(), key=lambda c: int(c.id))

    def _contacts_page(self, query: dict) -> dict:
        limit = min(int((query.get("limit") or ["10"])[0]), 100)
        start = _position(query["after"][0]) if query.get("after") else 0
        contacts = self._ordered()
        page = contacts[start : start + limit]
        result = {"results": [c.entity(_names(query)) for c in page]}
        if start + limit < len(contacts):
            after = _cursor(start + limit)
            result["paging"] = {"next": {"after": after, "link": f"/crm/v3/objects/contacts?after={after}"}}
        return result

    def _batch_read(self, body: dict) -> tuple[int, dict]:
        for key in ("inputs", "properties", "propertiesWithHistory"):
            if not isinstance((body or {}).get(key), list):
                raise _bad_request(f"Invalid input JSON : field '{key}' is required")
        if len(body["inputs"]) > 100:
            raise _bad_request("Batch input cannot exceed 100 inputs.")
        started = _now()
        found, missing = [], []
        for item in body["inputs"]:
            contact = self.contacts.get(str(item.get("id")))
            (found.append(contact.entity(body["properties"])) if contact else missing.append(str(item.get("id"))))
        result = {"status": "COMPLETE", "results": found, "startedAt": started, "completedAt": _now()}
        if not missing:
            return 200, result
        result["numErrors"] = 1
        result["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids "
                "are valid.",
                "context": {"ids": missing},
                "links": {},
                "errors": [],
            }
        ]
        return 207, result

    def _search(self, body: dict) -> dict:
        groups = (body or {}).get("filterGroups") or []
        matches = []
        for contact in self._ordered():
            for group in groups:
                if all(self._matches(contact, f) for f in group.get("filters") or []):
                    matches.append(contact)
                    break
        limit = int((body or {}).get("limit") or 10)
        start = int((body or {}).get("after") or 0)
        page = matches[start : start + limit]
        result = {"total": len(matches), "results": [c.entity((body or {}).get("properties")) for c in page]}
        if start + limit < len(matches):
            result["paging"] = {"next": {"after": str(start + limit)}}
        return result

    def _matches(self, contact: Contact, spec: dict) -> bool:
        name, operator = spec.get("propertyName"), spec.get("operator")
        if name not in self.properties:
            raise _bad_request(f"There was a problem with the request. Property {name} does not exist")
        value = contact.properties.get(name)
        if operator == "EQ":
            return value is not None and str(value).lower() == str(spec.get("value", "")).lower()
        if operator == "HAS_PROPERTY":
            return bool(value)
        raise _bad_request(f"Unsupported operator {operator} in this fake")

    def _validate(self, properties: dict) -> None:
        problems = []
        for name, value in properties.items():
            definition = self.properties.get(name)
            if definition is None:
                problems.append(_invalid(name, f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST"))
            elif (definition.get("modificationMetadata") or {}).get("readOnlyValue"):
                problems.append(
                    _invalid(name, f'"{name}" is a read only property; its value cannot be set.', "READ_ONLY_VALUE")
                )
            elif definition.get("type") in ("enumeration", "bool") and definition.get("options"):
                allowed = {o["value"] for o in definition["options"]}
                if definition.get("fieldType") == "checkbox" and definition["type"] == "enumeration":
                    chosen = [v for v in str(value).split(";") if v]
                else:
                    chosen = [str(value)]
                if value != "" and any(v not in allowed for v in chosen):
                    problems.append(
                        _invalid(
                            name, f"{value} was not one of the allowed options: {sorted(allowed)}", "INVALID_OPTION"
                        )
                    )
        if problems:
            raise HubSpotApiError(
                400, error_body("Property values were not valid: " + json.dumps(problems), "VALIDATION_ERROR")
            )

    def _update(self, contact_id: str, body: dict) -> dict:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise _not_found()
        properties = (body or {}).get("properties")
        if not isinstance(properties, dict):
            raise _bad_request("Invalid input JSON : field 'properties' is required")
        self._validate(properties)
        contact.properties.update({k: ("" if v is None else str(v)) for k, v in properties.items()})
        contact.updated_at = _now()
        return contact.entity(list(properties))

    def _note_create(self, body: dict) -> dict:
        properties = (body or {}).get("properties") or {}
        if not properties.get("hs_timestamp"):
            raise HubSpotApiError(
                400,
                error_body(
                    "Property values were not valid: "
                    + json.dumps([_invalid("hs_timestamp", "hs_timestamp is required", "REQUIRED_PROPERTY")]),
                    "VALIDATION_ERROR",
                ),
            )
        for association in (body or {}).get("associations") or []:
            to = str((association.get("to") or {}).get("id"))
            types = association.get("types") or []
            if not types or types[0].get("associationTypeId") != 202:
                raise _bad_request("associationTypeId 202 (note to contact) expected in this fake")
            if to not in self.contacts:
                raise _bad_request(f"One or more associations are invalid: CONTACT {to} does not exist")
        with self._lock:
            note_id = str(90000 + len(self.notes) + 1)
            now = _now()
            self.notes[note_id] = {
                "id": note_id,
                "properties": {
                    "hs_note_body": properties.get("hs_note_body", ""),
                    "hs_timestamp": properties["hs_timestamp"],
                },
                "associations": [str(a["to"]["id"]) for a in body.get("associations") or []],
            }
        return {
            "id": note_id,
            "properties": {
                "hs_createdate": now,
                "hs_lastmodifieddate": now,
                "hs_object_id": note_id,
                "hs_note_body": properties.get("hs_note_body", ""),
                "hs_timestamp": properties["hs_timestamp"],
            },
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }

    def notes_of(self, contact_id: str) -> list[dict]:
        return [n for n in self.notes.values() if contact_id in n["associations"]]

    # --- lists --------------------------------------------------------------------------------
    def _list_entity(self, list_id: str) -> dict:
        name, members = self.lists[list_id]
        return {
            "listId": list_id,
            "listVersion": 1,
            "name": name,
            "objectTypeId": "0-1",
            "processingType": "MANUAL",
            "processingStatus": "COMPLETE",
            "createdAt": "2026-11-02T09:00:00.000Z",
            "updatedAt": "2026-11-02T09:00:00.000Z",
            "filtersUpdatedAt": "2026-11-02T09:00:00.000Z",
            "createdById": "1",
            "updatedById": "1",
            "additionalProperties": {"hs_list_size": str(len(members)), "hs_list_reference_count": "0"},
        }

    def _list_search(self, body: dict) -> dict:
        query = (body.get("query") or "").lower()
        ids = [i for i in self.lists if query in self.lists[i][0].lower()]
        offset, count = int(body.get("offset") or 0), int(body.get("count") or 20)
        page = ids[offset : offset + count]
        return {
            "lists": [self._list_entity(i) for i in page],
            "offset": offset + len(page),
            "hasMore": offset + len(page) < len(ids),
            "total": len(ids),
        }

    def _memberships(self, list_id: str, query: dict) -> dict:
        if list_id not in self.lists:
            raise _not_found(f"List with id {list_id} does not exist.")
        limit = min(int((query.get("limit") or ["100"])[0]), 250)
        members = sorted(self.lists[list_id][1], key=int)
        start = _position(query["after"][0]) if query.get("after") else 0
        page = members[start : start + limit]
        result = {
            "results": [{"recordId": m, "membershipTimestamp": "2026-11-02T09:00:00.000Z"} for m in page],
            "total": len(members),
        }
        if start + limit < len(members):
            result["paging"] = {"next": {"after": _cursor(start + limit)}}
        return result


def _invalid(name: str, message: str, error: str) -> dict:
    return {
        "isValid": False,
        "message": message,
        "error": error,
        "name": name,
        "localizedErrorMessage": message,
        "portalId": PORTAL_ID,
    }


def _names(query: dict) -> list[str] | None:
    values = query.get("properties")
    if not values:
        return None
    return [name for value in values for name in value.split(",") if name]


def _make_handler(fake: FakeHubSpot) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            status, payload, headers = fake.handle(self.command, self.path, dict(self.headers.items()), raw_body)
            data = json.dumps(payload).encode()
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, str(value))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
