"""ConversationRelay: one WebSocket per answered call, carrier and Clozit exchanging JSON text frames.

The carrier (Twilio, Telnyx, or the simulated carrier) does speech recognition, end-of-turn
detection, text-to-speech and barge-in; Clozit answers each `prompt` by streaming `text` frames as
the reply is produced. This module is the transport, the same for every carrier:

- the socket lives at `/telephony/<provider>/relay/<call_id>/?token=…` and is authenticated before
  any frame is read: the token (signed by us, bound to the call, short-lived) always, and the
  carrier's own handshake signature where it signs one (Twilio's X-Twilio-Signature over the wss://
  URL, query parameters as parameters). A socket that fails either is closed unaccepted and changes
  nothing;
- frames in: `setup`, `prompt` (only final ones: partial prompts are not asked for), `interrupt`,
  `dtmf`, `error`; frames out: `text` (each piece of the reply as it comes, then an empty one with
  `last: true`), `end` (with `handoffData`, a JSON *string*), `sendDigits`, `language`, `play`;
- one reply at a time: an `interrupt` (or a new prompt) cancels the reply in progress at once, and
  the session is told what the callee actually heard.

What a prompt means for the call is the session's business (`RelaySession`, implemented by the
conversation code that owns calls): this module never touches the database, so nothing here can
hold a transaction or a lock while a reply streams.
"""

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .registry import UnknownProvider, get_provider
from .relay_frames import outgoing_problem  # noqa: F401 - the check, as the relay's own

logger = logging.getLogger(__name__)

RELAY_PATH = re.compile(r"^/telephony/(?P<provider>[a-z]+)/relay/(?P<call_id>\d+)/$")
TOKEN_SALT = "clozit.relay"
# Close codes: 1008 policy violation (refused before or after accepting), 1011 our own failure.
REFUSED = 1008
BROKEN = 1011

# --- where the socket lives and how it is authenticated -------------------------------------------


def relay_token(*, provider: str, call_id: int) -> str:
    return signing.TimestampSigner(salt=TOKEN_SALT).sign(f"{provider}:{call_id}")


def relay_token_valid(token: str, *, provider: str, call_id: int) -> bool:
    try:
        value = signing.TimestampSigner(salt=TOKEN_SALT).unsign(token, max_age=settings.RELAY_TOKEN_MAX_AGE_SECONDS)
    except signing.BadSignature:  # also SignatureExpired
        return False
    return value == f"{provider}:{call_id}"


def relay_ws_base() -> str:
    """Our public address as the carrier dials a socket: wss:// for https://."""
    base = settings.PUBLIC_BASE_URL
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://")
    return "ws://" + base.removeprefix("http://")


def relay_url(*, provider: str, call_id: int) -> str:
    """The socket URL to give the carrier for a call (with its token)."""
    token = relay_token(provider=provider, call_id=call_id)
    return f"{relay_ws_base()}/telephony/{provider}/relay/{call_id}/?{urlencode({'token': token})}"


def relay_ended_url(*, provider: str, call_id: int) -> str:
    """Where the carrier asks what the call does once its relay session is over (signed POST)."""
    path = reverse("telephony_relay_ended", kwargs={"provider": provider, "call_id": call_id})
    return settings.PUBLIC_BASE_URL + path


@dataclass(frozen=True)
class Handshake:
    """What the carrier sent to open the socket: the URL it signed (without the query), the query
    parameters, and the headers (names lower-cased)."""

    url: str
    params: dict
    headers: dict


# --- the conversation behind the socket -----------------------------------------------------------


@dataclass
class RelayEnd:
    """Yielded by a reply to end the relay session: the carrier then calls the <Connect action> URL
    with `handoff` (as the HandoffData JSON string), and the call goes on from its answer."""

    handoff: dict = field(default_factory=dict)


ReplyPiece = str | RelayEnd


class RelaySession(Protocol):
    """The conversation of one call, as the relay sees it. Implementations keep no transaction or
    lock open across an await of the model."""

    async def setup(self, frame: dict) -> None: ...

    def reply(self, prompt: str) -> AsyncIterator[ReplyPiece]:
        """The answer to what the callee said: text pieces as they come, maybe a RelayEnd last."""
        ...

    def dtmf(self, digit: str) -> AsyncIterator[ReplyPiece]:
        """What a key press leads to (may be nothing)."""
        ...

    async def reply_finished(self, *, first_frame_ms: float | None, completed: bool) -> None:
        """The reply's last frame went out (`completed`), or it was cut short."""
        ...

    async def interrupted(self, *, heard: str, after_ms: int | None) -> None:
        """The callee spoke over the agent: `heard` is what the carrier had said until then."""
        ...

    async def closed(self) -> None: ...

    # Optional: `silence_after() -> float | None`, seconds from now after which silence is answered
    # by `reply("")` (None: wait for the callee however long). See RelayConnection._arm_silence.


# Called with keywords: open_session(provider=…, call_id=…, handshake=…).
OpenSession = Callable[..., Awaitable[RelaySession | None]]
VerifyHandshake = Callable[[str, Handshake], bool]


# --- the ASGI application ------------------------------------------------------------------------


class RelayApp:
    """ASGI app for the relay sockets. `open_session(provider, call_id, handshake)` gives the call's
    conversation (None: no live call to talk about); `verify(provider, handshake)` checks the
    carrier's own handshake signature."""

    def __init__(self, *, open_session: OpenSession, verify: VerifyHandshake):
        self.open_session = open_session
        self.verify = verify

    async def __call__(self, scope, receive, send):
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        match = RELAY_PATH.match(scope.get("path", ""))
        if match is None:
            await send({"type": "websocket.close", "code": REFUSED})
            return
        provider, call_id = match["provider"], int(match["call_id"])
        handshake = _handshake(scope)
        if not relay_token_valid(handshake.params.get("token", ""), provider=provider, call_id=call_id) or not (
            self.verify(provider, handshake)
        ):
            logger.warning("refused a relay socket for %s call %s: bad token or signature", provider, call_id)
            await send({"type": "websocket.close", "code": REFUSED})
            return
        session = await self.open_session(provider=provider, call_id=call_id, handshake=handshake)
        if session is None:
            logger.info("refused a relay socket for %s call %s: no live call", provider, call_id)
            await send({"type": "websocket.close", "code": REFUSED})
            return
        await send({"type": "websocket.accept"})
        await RelayConnection(session, receive, send).serve()


def _handshake(scope) -> Handshake:
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
    params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
    # The URL the carrier signed is our public one (a proxy may have rewritten host and scheme).
    return Handshake(url=relay_ws_base() + scope["path"], params=params, headers=headers)


class RelayConnection:
    """One accepted socket: reads frames, runs at most one reply at a time, sends frames."""

    def __init__(self, session: RelaySession, receive, send):
        self.session = session
        self.receive = receive
        self._send = send
        self.send_lock = asyncio.Lock()
        self.reply_task: asyncio.Task | None = None
        self.silence_task: asyncio.Task | None = None
        self.open = True

    async def send(self, frame: dict) -> None:
        if not self.open:
            return
        async with self.send_lock:
            with contextlib.suppress(Exception):  # the carrier went away: the reader sees the disconnect
                await self._send({"type": "websocket.send", "text": json.dumps(frame)})

    async def serve(self) -> None:
        try:
            while True:
                message = await self.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message["type"] != "websocket.receive":
                    continue
                frame = _frame(message)
                if frame is None:
                    continue
                await self.handle(frame)
        finally:
            self.open = False
            self._disarm_silence()
            await self._cancel_reply()
            await self.session.closed()

    async def handle(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind in ("prompt", "interrupt", "dtmf"):
            self._disarm_silence()  # the callee is there
        if kind == "setup":
            await self.session.setup(frame)
            self._arm_silence()  # from the greeting on
        elif kind == "prompt":
            if frame.get("last") is False:
                return  # a partial prompt: only final ones are answered
            received = time.monotonic()
            await self._cancel_reply()  # the callee spoke again: what was being said gives way
            self.reply_task = asyncio.create_task(
                self._stream(self.session.reply(str(frame.get("voicePrompt") or "")), received)
            )
        elif kind == "interrupt":
            await self._cancel_reply()
            after = frame.get("durationUntilInterruptMs")
            await self.session.interrupted(
                heard=str(frame.get("utteranceUntilInterrupt") or ""),
                after_ms=after if isinstance(after, int) else None,
            )
            self._arm_silence()  # a cough is not an answer: the callee's words may never come
        elif kind == "dtmf":
            digit = str(frame.get("digit") or "")
            if digit:
                await self._cancel_reply()
                self.reply_task = asyncio.create_task(self._stream(self.session.dtmf(digit), time.monotonic()))
        elif kind == "error":
            logger.warning("the carrier reported a relay error: %s", frame.get("description"))
        else:
            logger.info("ignored a relay frame of type %r", kind)

    # --- silence -------------------------------------------------------------------------------
    # The carrier sends nothing while the callee is silent (it only reports speech), so the wait is
    # ours: a session that says how long to wait (`silence_after()`, seconds from now: its last
    # words' speaking time plus the pause it allows) is asked for a reply to silence, `reply("")`,
    # when nothing came by then, as a turn-at-a-time call's empty answer is. Without this a callee
    # who put the phone down would keep the call (and its cost) open to its time limit.
    def _arm_silence(self) -> None:
        self._disarm_silence()
        wait = getattr(self.session, "silence_after", None)
        delay = wait() if (wait is not None and self.open) else None
        if delay is not None:
            self.silence_task = asyncio.create_task(self._on_silence(delay))

    def _disarm_silence(self) -> None:
        task, self.silence_task = self.silence_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    async def _on_silence(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.silence_task = None
        if self.open and (self.reply_task is None or self.reply_task.done()):
            self.reply_task = asyncio.create_task(self._stream(self.session.reply(""), time.monotonic()))

    async def _cancel_reply(self) -> None:
        task, self.reply_task = self.reply_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _stream(self, pieces: AsyncIterator[ReplyPiece], received: float) -> None:
        first_frame_ms = None
        completed = False
        end: RelayEnd | None = None
        try:
            async for piece in pieces:
                if isinstance(piece, RelayEnd):
                    end = piece
                    break
                if not piece:
                    continue
                await self.send({"type": "text", "token": piece, "last": False})
                if first_frame_ms is None:
                    first_frame_ms = (time.monotonic() - received) * 1000
            completed = True
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("a relay reply failed")
        finally:
            with contextlib.suppress(Exception):
                await pieces.aclose()
            # Twilio's own library closes every reply this way, cancelled or not.
            await self.send({"type": "text", "token": "", "last": True})
            with contextlib.suppress(Exception):
                await self.session.reply_finished(first_frame_ms=first_frame_ms, completed=completed)
        if end is not None:
            await self.send({"type": "end", "handoffData": json.dumps(end.handoff)})
        else:
            self._arm_silence()  # the reply is out: the callee's turn


def _frame(message) -> dict | None:
    try:
        frame = json.loads(message.get("text") or message.get("bytes") or "")
    except (TypeError, ValueError):
        logger.warning("ignored a relay frame that is not JSON")
        return None
    return frame if isinstance(frame, dict) else None


# --- the carrier's own check ---------------------------------------------------------------------


def carrier_signed(provider: str, handshake: Handshake) -> bool:
    """Whether the socket's opening request carries the carrier's signature (for carriers that sign
    one). The app the ASGI router serves (clozit/asgi.py) puts this check and the call's
    conversation (campaigns) together: telephony never imports campaigns."""
    try:
        return get_provider(provider).verify_relay_handshake(handshake)
    except UnknownProvider:
        return False
