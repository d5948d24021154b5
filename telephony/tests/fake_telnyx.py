"""A local stand-in for Telnyx's Call Control v2 API, driven through the real `telnyx` SDK, and
Telnyx's side of the webhooks: events signed with ed25519 (a key pair made for the test run)
over f"{timestamp}|{body}", posted to our /telephony/telnyx/webhook/.

The fake records every request (method, path, query, JSON body, headers), answers in Telnyx's
JSON (errors as {"errors": [{"code", "title", "detail"}]}), keeps each call's latest
`client_state` the way Telnyx does (a command's state goes on every later event), and can be
told to fail or stall the next request.

It is as strict as Telnyx: a dial or command takes only the fields (and, where the SDK lists them,
the values) of the SDK's own request type; a command to a call it does not know is refused
(90015), and to a call that has ended (90018), in the shapes kept in carrier_examples.py.
"""

import base64
import json
import threading
import time
import typing
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from nacl.signing import SigningKey
from telnyx.types.call_dial_params import CallDialParams
from telnyx.types.calls.action_answer_params import ActionAnswerParams
from telnyx.types.calls.action_hangup_params import ActionHangupParams
from telnyx.types.calls.action_speak_params import ActionSpeakParams
from telnyx.types.calls.action_start_conversation_relay_params import ActionStartConversationRelayParams
from telnyx.types.calls.action_start_transcription_params import ActionStartTranscriptionParams
from telnyx.types.calls.action_stop_conversation_relay_params import ActionStopConversationRelayParams
from telnyx.types.calls.action_transfer_params import ActionTransferParams

from telephony.tests.carrier_examples import TELNYX_CALL_ENDED, TELNYX_INVALID_CALL_CONTROL_ID

API_KEY = "KEY0123456789ABCDEF_fake"
CONNECTION_ID = "1494404757140276705"
INVALID_NUMBER = "+15005550001"  # dialling it gets Telnyx's 422 for a bad "to"
AUDIO = b"ID3fake-telnyx-mp3"


def error(code: str, title: str, detail: str = "") -> dict:
    return {"errors": [{"code": code, "title": title, "detail": detail or title}]}


def _allowed(hint):
    """The values a field's type lists (a Literal), or None when it lists none."""
    while typing.get_origin(hint) in (typing.Annotated, typing.Required, typing.NotRequired):
        hint = typing.get_args(hint)[0]
    return typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None


def _fields(request_type) -> dict:
    """A request type's JSON fields (`from_` is sent as "from") and the values each allows."""
    hints = typing.get_type_hints(request_type, include_extras=True)
    return {name.rstrip("_"): _allowed(hint) for name, hint in hints.items()}


DIAL = _fields(CallDialParams)
ACTIONS = {
    "answer": _fields(ActionAnswerParams),
    "hangup": _fields(ActionHangupParams),
    "speak": _fields(ActionSpeakParams),
    "transcription_start": _fields(ActionStartTranscriptionParams),
    "transfer": _fields(ActionTransferParams),
    "conversation_relay_start": _fields(ActionStartConversationRelayParams),
    "conversation_relay_stop": _fields(ActionStopConversationRelayParams),
}
# Fields whose value must be a WebSocket URL ("Must start with ws:// or wss://", the SDK's docs).
SOCKET_URL_FIELDS = ("url", "conversation_relay_url")


def _refusal(body: dict, fields: dict) -> dict | None:
    """Telnyx's 422 for a field the request type does not have, or a value it does not list."""
    for name, value in body.items():
        if name not in fields:
            detail = f"The '{name}' parameter is not accepted by this request."
        elif fields[name] is not None and value not in fields[name]:
            detail = f"'{value}' is not a valid value for '{name}'."
        else:
            continue
        return {
            "errors": [{"code": "10015", "title": "Bad Request", "detail": detail, "source": {"pointer": f"/{name}"}}]
        }
    return None


def _socket_url_refusal(body: dict) -> dict | None:
    for name in SOCKET_URL_FIELDS:
        if name in body and not str(body[name]).startswith(("ws://", "wss://")):
            detail = f"The '{name}' parameter must start with ws:// or wss://."
            return {
                "errors": [
                    {"code": "10015", "title": "Bad Request", "detail": detail, "source": {"pointer": f"/{name}"}}
                ]
            }
    return None


@dataclass
class Received:
    method: str
    path: str
    query: dict
    json: dict
    headers: dict

    @property
    def action(self) -> str:
        """ "speak" for POST /v2/calls/<id>/actions/speak, "" otherwise."""
        parts = self.path.split("/")
        return parts[5] if len(parts) == 6 and parts[4] == "actions" else ""

    @property
    def call_control_id(self) -> str:
        parts = self.path.split("/")
        return parts[3] if len(parts) == 6 and parts[2] == "calls" else ""


@dataclass
class FakeTelnyx:
    requests: list = field(default_factory=list)
    # (status, body) answered to the next requests, in order; or to every request.
    fail_next: list = field(default_factory=list)
    always_fail: tuple | None = None
    delay_seconds: float = 0.0
    # Called with each API request (in the fake's own thread) before it is answered: lets a test
    # look at the database while our side waits for Telnyx.
    on_request: typing.Callable | None = None
    client_state: dict = field(default_factory=dict)  # call control id -> latest client_state
    calls: dict = field(default_factory=dict)  # call control id -> the dial's JSON
    ended: set = field(default_factory=set)
    incoming_calls: set = field(default_factory=set)  # call control ids of inbound calls
    numbers: dict = field(default_factory=dict)  # phone number id -> E.164 (bought)
    recordings: dict = field(default_factory=dict)  # recording id -> call leg id
    ended_speeches: set = field(default_factory=set)

    def __post_init__(self):
        fake = self
        self.signing_key = SigningKey.generate()
        self.public_key = base64.b64encode(bytes(self.signing_key.verify_key)).decode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status, body=None, *, raw: bytes | None = None, content_type="application/json"):
                data = raw if raw is not None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                received = Received(
                    method=method,
                    path=url.path,
                    query={k: v[0] for k, v in parse_qs(url.query).items()},
                    json=json.loads(raw) if raw else {},
                    headers={k.lower(): v for k, v in self.headers.items()},
                )
                fake.requests.append(received)
                if url.path.startswith("/media/"):  # a pre-signed recording URL: no API key
                    if "expired" in url.path:  # pre-signed links last 10 minutes
                        return self._reply(
                            403, raw=b"<Error><Code>AccessDenied</Code></Error>", content_type="text/xml"
                        )
                    return self._reply(200, raw=AUDIO, content_type="audio/mpeg")
                if fake.on_request is not None:
                    fake.on_request(received)
                if fake.delay_seconds:
                    time.sleep(fake.delay_seconds)
                if received.headers.get("authorization") != f"Bearer {API_KEY}":
                    return self._reply(
                        401, error("10009", "Authentication failed", "Could not understand the provided credentials.")
                    )
                if fake.fail_next or fake.always_fail:
                    status, body = fake.fail_next.pop(0) if fake.fail_next else fake.always_fail
                    return self._reply(status, body)
                status, body = fake.route(received)
                return self._reply(status, body)

            def do_GET(self):  # noqa: N802 - http.server's naming
                self._handle("GET")

            def do_POST(self):  # noqa: N802
                self._handle("POST")

            def do_DELETE(self):  # noqa: N802
                self._handle("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # --- the API -------------------------------------------------------------------------

    def route(self, r: Received) -> tuple[int, dict]:
        if (r.method, r.path) == ("POST", "/v2/calls"):
            return (422, refused) if (refused := _refusal(r.json, DIAL)) else self._dial(r.json)
        if r.method == "POST" and r.action in ACTIONS:
            ccid = r.call_control_id
            if refused := _refusal(r.json, ACTIONS[r.action]) or _socket_url_refusal(r.json):
                return 422, refused
            if ccid not in self.calls and ccid not in self.incoming_calls:
                return 422, TELNYX_INVALID_CALL_CONTROL_ID
            if ccid in self.ended:
                return 422, TELNYX_CALL_ENDED
            if "client_state" in r.json:
                self.client_state[ccid] = r.json["client_state"]
            if r.action == "hangup":
                self.ended.add(ccid)
            if r.action == "conversation_relay_start":
                if not (r.json.get("url") or r.json.get("conversation_relay_url")):
                    return 422, error("10015", "Bad Request", "A Conversation Relay url is required.")
                return 200, {"data": {"result": "ok", "conversation_relay_id": str(uuid.uuid4())}}
            return 200, {"data": {"result": "ok"}}
        if (r.method, r.path) == ("GET", "/v2/available_phone_numbers"):
            return 200, self._available(r.query)
        if (r.method, r.path) == ("POST", "/v2/number_orders"):
            return 200, self._order(r.json)
        if (r.method, r.path) == ("GET", "/v2/phone_numbers"):
            wanted = r.query.get("filter[phone_number]")
            found = [{"id": i, "phone_number": n, "record_type": "phone_number"} for i, n in self.numbers.items()]
            return 200, {"data": [n for n in found if n["phone_number"] == wanted], "meta": _meta()}
        if r.method == "DELETE" and r.path.startswith("/v2/phone_numbers/"):
            number_id = r.path.rsplit("/", 1)[1]
            if self.numbers.pop(number_id, None) is None:
                return 404, error("10005", "Resource not found")
            return 200, {"data": {"id": number_id, "record_type": "phone_number", "status": "deleted"}}
        if (r.method, r.path) == ("GET", "/v2/recordings"):
            leg = r.query.get("filter[call_leg_id]")
            found = [self._recording(i) for i in self.recordings]
            return 200, {"data": [f for f in found if f["call_leg_id"] == leg], "meta": _meta()}
        if r.method == "GET" and r.path.startswith("/v2/recordings/"):
            recording_id = r.path.rsplit("/", 1)[1]
            if recording_id not in self.recordings:
                return 404, error("10005", "Resource not found")
            return 200, {"data": self._recording(recording_id)}
        if r.method == "DELETE" and r.path.startswith("/v2/recordings/"):
            recording_id = r.path.rsplit("/", 1)[1]
            if self.recordings.pop(recording_id, None) is None:
                return 404, error("10005", "Resource not found")
            return 200, {"data": {"id": recording_id, "record_type": "recording", "status": "deleted"}}
        return 404, error("10005", "Resource not found", f"No route for {r.method} {r.path}")

    def _recording(self, recording_id: str) -> dict:
        """A stored recording, with freshly signed download links (each lasts 10 minutes)."""
        return {
            "id": recording_id,
            "call_leg_id": self.recordings[recording_id],
            "record_type": "recording",
            "download_urls": {"mp3": f"{self.base_url}/media/{recording_id}.mp3?X-Amz-Signature=fresh"},
        }

    def _dial(self, body):
        if body.get("to") == INVALID_NUMBER:
            return 422, error("10016", "Phone number must be in +E.164 format", "The 'to' number is invalid.")
        ccid = "v3:" + uuid.uuid4().hex
        self.calls[ccid] = body
        self.client_state[ccid] = body.get("client_state")
        leg, session = str(uuid.uuid4()), str(uuid.uuid4())
        data = {"call_control_id": ccid, "call_leg_id": leg, "call_session_id": session, "is_alive": False}
        return 200, {"data": {**data, "record_type": "call"}}

    def _available(self, query):
        ndc = query.get("filter[national_destination_code]", "415")
        limit = int(query.get("filter[limit]", 2))
        region = [
            {"region_type": "country_code", "region_name": query.get("filter[country_code]", "US")},
            {"region_type": "rate_center", "region_name": "SAN FRANCISCO"},
            {"region_type": "state", "region_name": "CA"},
        ]
        numbers = [
            {
                "record_type": "available_phone_number",
                "phone_number": f"+1{ndc}55501{i:02d}",
                "region_information": region,
                "features": [{"name": "voice"}],
            }
            for i in range(limit)
        ]
        return {"data": numbers, "metadata": {"total_results": limit}}

    def _order(self, body):
        ordered = []
        for wanted in body.get("phone_numbers", []):
            number_id = str(uuid.uuid4())
            self.numbers[number_id] = wanted["phone_number"]
            ordered.append({"id": str(uuid.uuid4()), "phone_number": wanted["phone_number"], "status": "pending"})
        data = {"id": str(uuid.uuid4()), "status": "pending", "connection_id": body.get("connection_id")}
        return {"data": {**data, "phone_numbers": ordered, "record_type": "number_order"}}

    # --- the calls Telnyx knows ------------------------------------------------------------------

    def incoming(self, ccid: str) -> None:
        """Someone calls one of our numbers: Telnyx knows the call before it tells us."""
        self.incoming_calls.add(ccid)

    def end(self, ccid: str) -> None:
        """The call ends at Telnyx (its call.hangup webhook may come later)."""
        self.ended.add(ccid)

    # --- what the platform asked for --------------------------------------------------------

    def dials(self) -> list[dict]:
        return [r.json for r in self.requests if (r.method, r.path) == ("POST", "/v2/calls")]

    def commands(self, action: str = "", ccid: str = "") -> list[Received]:
        return [
            r
            for r in self.requests
            if r.action and (not action or r.action == action) and (not ccid or r.call_control_id == ccid)
        ]

    def said(self, ccid: str = "") -> list[str]:
        return [r.json["payload"] for r in self.commands("speak", ccid)]

    # --- Telnyx's webhooks ---------------------------------------------------------------------

    def payload(self, ccid: str, **extra) -> dict:
        """An event payload for the call, with the call's current client_state (as Telnyx sends)."""
        dialed = self.calls.get(ccid, {})
        payload = {
            "call_control_id": ccid,
            "call_leg_id": f"leg-{ccid[-12:]}",
            "call_session_id": f"session-{ccid[-12:]}",
            "connection_id": CONNECTION_ID,
            "from": dialed.get("from", ""),
            "to": dialed.get("to", ""),
        }
        if self.client_state.get(ccid):
            payload["client_state"] = self.client_state[ccid]
        payload.update(extra)
        return payload

    def sign(self, body: str, *, timestamp: int | None = None, key: SigningKey | None = None) -> dict:
        timestamp = int(time.time()) if timestamp is None else timestamp
        signature = (key or self.signing_key).sign(f"{timestamp}|{body}".encode()).signature
        return {"telnyx-signature-ed25519": base64.b64encode(signature).decode(), "telnyx-timestamp": str(timestamp)}

    def event_body(self, event_type: str, payload: dict, *, id=None, occurred_at: datetime | None = None) -> str:
        occurred = (occurred_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
        data = {
            "record_type": "event",
            "event_type": event_type,
            "id": id or str(uuid.uuid4()),
            "occurred_at": occurred,
            "payload": payload,
        }
        return json.dumps({"data": data, "meta": {"attempt": 1, "delivered_to": "https://clozit.example/"}})

    def send_event(self, event_type: str, payload: dict, *, id=None, timestamp=None, key=None, occurred_at=None):
        """POST a signed event to our webhook; returns the response."""
        ccid = payload.get("call_control_id")
        if ccid and event_type == "call.initiated" and payload.get("direction") == "incoming":
            self.incoming(ccid)
        elif ccid and event_type == "call.hangup":
            self.end(ccid)
        body = self.event_body(event_type, payload, id=id, occurred_at=occurred_at)
        return self.post(body, self.sign(body, timestamp=timestamp, key=key))

    def post(self, body: str, headers: dict):
        return Client().post(reverse("telnyx_webhook"), data=body, content_type="application/json", headers=headers)

    def send(self, event_type: str, ccid: str, **payload):
        """send_event for a call, with its usual payload; asserts Telnyx would see a 2xx."""
        at = payload.pop("at", None)
        response = self.send_event(event_type, self.payload(ccid, **payload), occurred_at=at)
        assert response.status_code == 200, response.content
        return response

    # --- a callee who hears the agent out ------------------------------------------------------

    def finish_speaking(self, ccid: str) -> list[str]:
        """call.speak.started/ended for every speak command not yet ended, each with the state
        its command set; returns what was said."""
        texts = []
        for command in self.commands("speak", ccid):
            if id(command) in self.ended_speeches:
                continue
            self.ended_speeches.add(id(command))
            state = {"client_state": command.json.get("client_state")}
            self.send_event("call.speak.started", self.payload(ccid, **state))
            response = self.send_event("call.speak.ended", self.payload(ccid, status="completed", **state))
            assert response.status_code == 200, response.content
            texts.append(command.json["payload"])
        return texts

    def say(self, ccid: str, text: str):
        """What the callee says, as Telnyx's transcription reports it (interim, then final)."""
        self.send_event(
            "call.transcription",
            self.payload(ccid, transcription_data={"transcript": text[:5], "is_final": False, "confidence": 0.5}),
        )
        return self.send(
            "call.transcription", ccid, transcription_data={"transcript": text, "is_final": True, "confidence": 0.93}
        )


def _meta():
    return {"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 1}


def decode_state(value: str) -> dict:
    return json.loads(base64.b64decode(value))


@pytest.fixture
def fake_telnyx(settings):
    fake = FakeTelnyx()
    settings.TELNYX_API_KEY = API_KEY
    settings.TELNYX_CONNECTION_ID = CONNECTION_ID
    settings.TELNYX_PUBLIC_KEY = fake.public_key
    settings.TELNYX_API_BASE_URL = fake.base_url + "/v2"
    settings.TELNYX_WEBHOOK_TOLERANCE_SECONDS = 300
    settings.TELEPHONY_PROVIDER = "telnyx"
    yield fake
    fake.stop()
