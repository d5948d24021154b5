"""The ConversationRelay socket, served by uvicorn and driven by a real WebSocket client with frames
in the shapes of Twilio's and Telnyx's documentation: authentication before any frame is read,
streamed replies, barge-in, key presses, the end of a session, a carrier that goes away.

The conversation behind the socket is a stand-in here (what a call's conversation does with the
frames is tested with the calls); this file is about the transport.
"""

import asyncio
import json
import time

import pytest
from django.core import signing
from twilio.request_validator import RequestValidator
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from clozit import asgi
from telephony import relay

SECRET = "simulated-test-secret"
CALL_ID = 41

# The carriers' own examples (Twilio: "Getting and sending WebSocket messages"; Telnyx:
# "ConversationRelay WebSocket channel"), with our call's numbers.
SETUP = {
    "type": "setup",
    "sessionId": "VX00000000000000000000000000000000",
    "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "parentCallSid": "",
    "callSid": "CA00000000000000000000000000000000",
    "from": "+18005550100",
    "to": "+18005550101",
    "forwardedFrom": "",
    "callType": "PSTN",
    "callerName": "",
    "direction": "outbound-api",
    "callStatus": "IN-PROGRESS",
    "customParameters": {},
}


def prompt(words: str) -> dict:
    return {"type": "prompt", "voicePrompt": words, "lang": "en-US", "last": True}


class StandInSession:
    """Records what the relay tells it; replies with `replies`' pieces, `pause` seconds apart."""

    def __init__(self, replies=None, pause=0.0):
        self.replies = replies or {}
        self.pause = pause
        self.log = []
        self.cancelled = []

    async def setup(self, frame):
        self.log.append(("setup", frame["callSid"]))

    async def _pieces(self, key):
        try:
            for piece in self.replies.get(key, []):
                if self.pause:
                    await asyncio.sleep(self.pause)
                yield piece
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled.append(key)
            raise

    def reply(self, text):
        self.log.append(("prompt", text))
        return self._pieces(text)

    def dtmf(self, digit):
        self.log.append(("dtmf", digit))
        return self._pieces("dtmf:" + digit)

    async def reply_finished(self, *, first_frame_ms, completed):
        self.log.append(("finished", completed, first_frame_ms is not None))

    async def interrupted(self, *, heard, after_ms):
        self.log.append(("interrupted", heard, after_ms))

    async def closed(self):
        self.log.append(("closed",))


@pytest.fixture
def session(monkeypatch, settings):
    settings.SIMULATED_SIGNING_SECRET = SECRET
    standin = StandInSession()
    opened = []

    async def open_session(provider, call_id, handshake):
        opened.append((provider, call_id))
        return standin if call_id == CALL_ID else None

    monkeypatch.setattr(asgi.relay_app, "open_session", open_session)
    standin.opened = opened
    return standin


def socket_url(base: str, *, provider="simulated", call_id=CALL_ID, token=None) -> tuple[str, str, dict]:
    """(URL to dial, the wss URL the carrier signs, the query parameters)."""
    token = token if token is not None else relay.relay_token(provider=provider, call_id=call_id)
    path = f"/telephony/{provider}/relay/{call_id}/"
    return f"{base.replace('http://', 'ws://')}{path}?token={token}", relay.relay_ws_base() + path, {"token": token}


def signed_connect(base: str, **kwargs):
    url, signed_url, params = socket_url(base, **kwargs)
    signature = RequestValidator(SECRET).compute_signature(signed_url, params)
    return connect(url, additional_headers={"X-Twilio-Signature": signature}, open_timeout=5)


def frames(ws, until_last=True, timeout=5.0) -> list[dict]:
    """Frames received until a text frame with last: true (or an end frame)."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv(timeout=deadline - time.monotonic()))
        assert relay.outgoing_problem(frame) is None, (frame, relay.outgoing_problem(frame))
        got.append(frame)
        if frame["type"] == "end" or (until_last and frame["type"] == "text" and frame.get("last")):
            return got
    raise AssertionError(f"no last frame: {got}")


@pytest.mark.django_db(transaction=True)
def test_a_prompt_is_answered_by_text_frames_as_the_reply_comes_then_a_last_one(asgi_server, session):
    session.replies = {"Hi, who is this?": ["This is Riley", " from Acme.", " How are you?"]}
    with signed_connect(asgi_server) as ws:
        ws.send(json.dumps(SETUP))
        ws.send(json.dumps({"type": "prompt", "voicePrompt": "Hi, who", "lang": "en-US", "last": False}))  # partial
        ws.send(json.dumps(prompt("Hi, who is this?")))
        got = frames(ws)
    assert got == [
        {"type": "text", "token": "This is Riley", "last": False},
        {"type": "text", "token": " from Acme.", "last": False},
        {"type": "text", "token": " How are you?", "last": False},
        {"type": "text", "token": "", "last": True},
    ]
    deadline = time.monotonic() + 5
    while ("closed",) not in session.log and time.monotonic() < deadline:
        time.sleep(0.02)
    assert session.log == [
        ("setup", "CA00000000000000000000000000000000"),
        ("prompt", "Hi, who is this?"),  # the partial prompt was not answered
        ("finished", True, True),
        ("closed",),
    ]


@pytest.mark.django_db(transaction=True)
def test_an_interrupt_cancels_the_reply_at_once_and_says_what_was_heard(asgi_server, session):
    session.replies = {"Tell me more": ["One", " two", " three", " four", " five"]}
    session.pause = 0.3
    with signed_connect(asgi_server) as ws:
        ws.send(json.dumps(SETUP))
        ws.send(json.dumps(prompt("Tell me more")))
        first = json.loads(ws.recv(timeout=5))
        assert first == {"type": "text", "token": "One", "last": False}
        ws.send(json.dumps({"type": "interrupt", "utteranceUntilInterrupt": "One", "durationUntilInterruptMs": 640}))
        rest = frames(ws)
    assert rest[-1] == {"type": "text", "token": "", "last": True}
    assert len(rest) <= 2  # at most one more piece had left before the interrupt arrived
    assert session.cancelled == ["Tell me more"]
    assert ("interrupted", "One", 640) in session.log
    assert ("finished", False, True) in session.log


@pytest.mark.django_db(transaction=True)
def test_a_key_press_can_end_the_session_with_handoff_data_as_a_json_string(asgi_server, session):
    session.replies = {"dtmf:0": ["Connecting you now.", relay.RelayEnd({"then": "transfer"})]}
    with signed_connect(asgi_server) as ws:
        ws.send(json.dumps(SETUP))
        ws.send(json.dumps({"type": "dtmf", "digit": "0"}))
        got = frames(ws, until_last=False)
    assert got[0] == {"type": "text", "token": "Connecting you now.", "last": False}
    assert got[1] == {"type": "text", "token": "", "last": True}
    assert got[2] == {"type": "end", "handoffData": json.dumps({"then": "transfer"})}
    assert ("dtmf", "0") in session.log


@pytest.mark.django_db(transaction=True)
def test_a_carrier_that_goes_away_mid_reply_closes_the_session_and_cancels_the_reply(asgi_server, session):
    session.replies = {"Go on": ["a", "b", "c", "d", "e", "f"]}
    session.pause = 0.3
    with signed_connect(asgi_server) as ws:
        ws.send(json.dumps(SETUP))
        ws.send(json.dumps(prompt("Go on")))
        ws.recv(timeout=5)
    deadline = time.monotonic() + 5
    while ("closed",) not in session.log and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ("closed",) in session.log
    assert session.cancelled == ["Go on"]


# --- refused sockets -------------------------------------------------------------------------------


def old_token(provider: str, call_id: int, age: int) -> str:
    class Earlier(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - age)

    return Earlier(salt=relay.TOKEN_SALT).sign(f"{provider}:{call_id}")


def refused(open_socket) -> int:
    with pytest.raises(InvalidStatus) as caught:
        open_socket()
    return caught.value.response.status_code


@pytest.mark.django_db(transaction=True)
def test_unsigned_forged_expired_and_foreign_sockets_are_refused_before_any_frame(asgi_server, session, settings):
    url, signed_url, params = socket_url(asgi_server)
    # No signature at all.
    assert refused(lambda: connect(url, open_timeout=5)) == 403
    # Signed with another secret.
    forged = RequestValidator("not-the-secret").compute_signature(signed_url, params)
    assert refused(lambda: connect(url, additional_headers={"X-Twilio-Signature": forged}, open_timeout=5)) == 403
    # A token for another call, correctly signed by the carrier.
    assert refused(lambda: signed_connect(asgi_server, token=relay.relay_token(provider="simulated", call_id=7))) == 403
    # An expired token.
    expired = old_token("simulated", CALL_ID, settings.RELAY_TOKEN_MAX_AGE_SECONDS + 60)
    assert refused(lambda: signed_connect(asgi_server, token=expired)) == 403
    # A path that is no relay socket.
    bad = asgi_server.replace("http://", "ws://") + "/dashboard/"
    assert refused(lambda: connect(bad, open_timeout=5)) == 403
    # A call with no live conversation.
    assert refused(lambda: signed_connect(asgi_server, call_id=42)) == 403
    assert session.opened == [("simulated", 42)]  # only the last got as far as asking for the call
    assert session.log == []


@pytest.mark.django_db(transaction=True)
def test_http_still_reaches_django_through_the_same_server(asgi_server):
    import urllib.request

    with urllib.request.urlopen(asgi_server + "/healthz", timeout=10) as response:
        assert response.status == 200


def test_our_frames_are_checked_the_way_the_carriers_check_them():
    assert relay.outgoing_problem({"type": "text", "token": "Hi", "last": False}) is None
    assert relay.outgoing_problem({"type": "end", "handoffData": "{}"}) is None
    assert relay.outgoing_problem({"type": "end", "handoffData": {"a": 1}}) == "end.handoffData must be a str"
    assert relay.outgoing_problem({"type": "text", "last": True}) == "text.token must be a str"
    assert relay.outgoing_problem({"type": "text", "token": "", "lastt": True}) == "text has no field 'lastt'"
    assert relay.outgoing_problem({"type": "speak", "text": "Hi"}) == "unknown type: 'speak'"
