"""The simulated carrier's ConversationRelay: what Twilio does with `<Connect action><ConversationRelay
url …>`, played against our relay socket.

Twilio opens a WebSocket to `url`, signing the handshake like a webhook (X-Twilio-Signature over
the URL without its query, the query parameters as the parameters), sends `setup`, speaks the
welcome greeting, then turns the callee's speech into final `prompt` frames and speaks the `text`
frames it gets back. The callee here is the Gather path's (`Callee.reply`), so a relay call and a
Gather call of the same id hear and say the same; on top of that a callee may speak over the agent
(`interrupt`, with the words heard so far) or press a key (`dtmf`), by the call id's seed, or
predictably for some fictional numbers (see the simulator's docstring). Every frame we send is
checked as Twilio checks it (`relay_frames.outgoing_problem`): a bad one gets an `error` frame and ends
the session (Twilio's 64107), loudly.

The session ends with our `end` frame (SessionStatus "completed", with our HandoffData), when the
callee hangs up, at the call's time limit or a hang-up by the platform ("ended"), or when the
socket cannot be opened or breaks ("failed", with Twilio's ErrorCode: 64102, 64105, 64107). The
carrier then POSTs the `<Connect action>` URL, signed, and follows the TwiML it answers while the
call is live. New TwiML given to the live call (`simulator.request_update`) replaces the
`<Connect>` at once: the session ends ("ended") and the new TwiML is followed, not the action's.
"""

import contextlib
import inspect
import json
import logging
import math
import random
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from twilio.twiml import lower_camel
from twilio.twiml.voice_response import Connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect as ws_connect

from .relay_frames import outgoing_problem
from .simulator_line import GREETING, Redirected, call_state, speaking_seconds

logger = logging.getLogger(__name__)

# <ConversationRelay>'s attributes: the Twilio SDK's own list (generated from Twilio's TwiML schema),
# as the SDK renders them (snake_case to camelCase).
RELAY_ATTRIBUTES = frozenset(
    lower_camel(name)
    for name, parameter in inspect.signature(Connect.conversation_relay).parameters.items()
    if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
)
CONNECT_ATTRIBUTES = frozenset({"action", "method"})
RELAY_CHILDREN = frozenset({"Language", "Parameter"})

# Twilio's error codes for a session that failed (https://www.twilio.com/docs/api/errors/<code>).
UNREACHABLE = ("64102", "ConversationRelay: Unable to Connect to Websocket URL")
SOCKET_ENDED = ("64105", "ConversationRelay: Websocket ended")
INVALID_MESSAGE = ("64107", "ConversationRelay: Invalid Message Received")

# How the callee behaves on a relay call: end of speech is detected this long after the last word
# (Twilio's endpointing); a silent callee hangs up after this much silence.
END_OF_SPEECH_SECONDS = 0.7
SILENT_CALLEE_HANGS_UP_AFTER = 15.0
SILENCE_STEP_SECONDS = 5.0
# A callee speaks over the agent after this many of its words; presses one of these keys (keys
# the agent has no special meaning for: 0 asks for a person, 9 to stop calling).
INTERRUPT_AFTER_WORDS = 4
INTERRUPT_CHANCE = 0.1
DTMF_CHANCE = 0.05
DTMF_KEYS = "12345678"
# Real seconds to wait for our next frame (a model may be slow; Twilio waits as long as the call).
REPLY_TIMEOUT_SECONDS = 30.0
# Real seconds to wait, once a reply is over, for an `end` frame that follows it.
END_GRACE_SECONDS = 0.1
MAX_TURNS = 30


class RelayRejected(Exception):
    """Raised by check_connect, turned into simulator.TwimlRejected by the caller."""


def check_connect(verb: ET.Element) -> None:
    """Refuse a <Connect> Twilio would refuse or warn about: attributes the schema does not have,
    anything but one <ConversationRelay>, a socket URL that is not ws:// or wss://."""
    unknown = set(verb.attrib) - CONNECT_ATTRIBUTES
    if unknown:
        raise RelayRejected(f"12200 Connect: unknown attribute {sorted(unknown)[0]!r}")
    if verb.get("method", "POST").upper() not in ("GET", "POST"):
        raise RelayRejected(f"12200 Connect: invalid method {verb.get('method')!r}")
    nouns = list(verb)
    if len(nouns) != 1 or nouns[0].tag != "ConversationRelay":
        raise RelayRejected("12200 Connect: the simulated carrier connects only one <ConversationRelay>")
    relay = nouns[0]
    unknown = set(relay.attrib) - RELAY_ATTRIBUTES
    if unknown:
        raise RelayRejected(f"12200 ConversationRelay: unknown attribute {sorted(unknown)[0]!r}")
    url = relay.get("url", "")
    if not url.startswith(("ws://", "wss://")):
        raise RelayRejected(f"64101 ConversationRelay: url must be ws:// or wss://, not {url!r}")
    for child in relay:
        if child.tag not in RELAY_CHILDREN:
            raise RelayRejected(f"12200 ConversationRelay: unknown element <{child.tag}>")


def handshake_signature(validator, url: str) -> str:
    """X-Twilio-Signature for opening `url`: the URL without its query, signed with the query's
    parameters, as Twilio signs a webhook (telephony.providers.twiml.verify_relay_handshake)."""
    parts = urlsplit(url)
    bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return validator.compute_signature(bare, dict(parse_qsl(parts.query, keep_blank_values=True)))


class SessionOver(Exception):
    """The relay session ended: `status` is Twilio's SessionStatus, `error` (code, message)."""

    def __init__(self, status: str, *, handoff: str | None = None, error: tuple[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.handoff = handoff
        self.error = error


class RelaySession:
    """One <Connect><ConversationRelay> on a simulated call (`call` is the SimulatedCall)."""

    def __init__(self, call, callee, verb: ET.Element, *, human: bool, heard: str = ""):
        self.call = call
        self.callee = callee
        self.relay = verb.find("ConversationRelay")
        self.action = verb.get("action", "")
        self.url = self.relay.get("url", "")
        self.language = self.relay.get("language") or self.relay.get("transcriptionLanguage") or "en-US"
        self.human = human
        self.heard = heard
        self.session_id = "VX" + uuid.UUID(int=random.Random(call.sid + ":session").getrandbits(128)).hex
        # Interruptions and key presses come from their own draw, so the callee's words are the
        # same as on the Gather path.
        self.rng = random.Random(call.sid + ":relay")
        self.socket = None
        self.sockets = contextlib.ExitStack()
        self.started = call.connected_seconds
        self.replies = 0  # the agent's replies heard so far (the greeting not counted)
        self.sent: list[dict] = []  # every frame the carrier sent, in order
        self.received: list[dict] = []  # every frame it got

    # --- the session, start to end ---------------------------------------------------------------

    def run(self) -> str | None:
        """Play the session; the TwiML to follow next, or None when the call is over."""
        try:
            self._open()
            self._converse()
            raise SessionOver("ended")  # the callee's turns ran out: they hang up
        except SessionOver as over:
            return self._finish(over)
        except Redirected:
            self._finish(SessionOver("ended"), live=True, follow=False)
            raise

    def _open(self) -> None:
        headers = {"X-Twilio-Signature": handshake_signature(self.call.validator, self.url)}
        try:
            self.socket = self.sockets.enter_context(
                ws_connect(self.url, additional_headers=headers, open_timeout=10, close_timeout=2)
            )
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            logger.warning("simulated carrier could not open the relay socket %s: %s", self.url, exc)
            raise SessionOver("failed", error=UNREACHABLE) from exc
        parameters = {p.get("name", ""): p.get("value", "") for p in self.relay.findall("Parameter")}
        self._send(
            {
                "type": "setup",
                "sessionId": self.session_id,
                "accountSid": "ACsimulated",
                "parentCallSid": "",
                "callSid": self.call.sid,
                "from": self.call.from_,
                "to": self.call.to,
                "forwardedFrom": "",
                "callType": "PSTN",
                "callerName": "",
                "direction": "outbound-api",
                "callStatus": "IN-PROGRESS",
                "customParameters": parameters,
            }
        )

    def _converse(self) -> None:
        greeting = self.relay.get("welcomeGreeting") or ""
        if greeting:
            self._hear(greeting)
        silence = 0.0
        for _ in range(MAX_TURNS):
            self._check_line()
            self._drain()  # an `end` may have followed the last reply
            if not self.human:
                silence += self._machine_turn()
                continue
            if self._presses_key():
                digit = self.rng.choice(DTMF_KEYS)
                self.call.wait(1.0)
                self._check_line()
                self._send({"type": "dtmf", "digit": digit})
                self._listen()
                continue
            words = self.callee.reply(self.heard)
            if not words:  # a silent callee: nothing reaches the socket
                self.call.wait(SILENCE_STEP_SECONDS)
                silence += SILENCE_STEP_SECONDS
                if silence >= SILENT_CALLEE_HANGS_UP_AFTER:
                    raise SessionOver("ended")
                continue
            silence = 0.0
            self.call.wait(self._speaking(words) + END_OF_SPEECH_SECONDS)
            self._check_line()
            self._send({"type": "prompt", "voicePrompt": words, "lang": self.language, "last": True})
            self._listen()

    def _machine_turn(self) -> float:
        """An answering machine: its greeting is transcribed once, then it records in silence."""
        call = self.call
        if call.beep_at is not None and call.connected_seconds < call.beep_at:
            call.wait(call.beep_at - call.connected_seconds + END_OF_SPEECH_SECONDS)
            self._check_line()
            self._send({"type": "prompt", "voicePrompt": GREETING, "lang": self.language, "last": True})
            self._listen()
            return 0.0
        call.wait(SILENCE_STEP_SECONDS)
        return SILENCE_STEP_SECONDS

    def _finish(self, over: SessionOver, *, live: bool | None = None, follow: bool = True) -> str | None:
        """Close the socket and ask the <Connect action> URL what the call does now."""
        self.sockets.close()
        if over.status == "failed":
            logger.warning("simulated relay session %s failed: %s", self.session_id, over.error)
        if live is None:
            live = not (self.call.over_time() or self.call.hung_up_by_platform() or over.status == "ended")
        params = {
            "CallStatus": "in-progress" if live else "completed",
            "SessionId": self.session_id,
            "SessionStatus": over.status,
            "SessionDuration": str(math.ceil(max(self.call.connected_seconds - self.started, 0))),
        }
        if over.handoff is not None:
            params["HandoffData"] = over.handoff
        if over.error:
            params["ErrorCode"], params["ErrorMessage"] = over.error
        if not self.action:
            return None  # Twilio goes on with the next verb: there is none after <Connect>
        response = self.call._post(self.action, params)
        if not (live and follow) or call_state(self.call.sid) != "in-progress":
            return None  # the callee is gone (or new TwiML took over): the answer is not played
        return self.call._twiml_of(response)

    # --- frames ----------------------------------------------------------------------------------

    def _send(self, frame: dict) -> None:
        self.sent.append(frame)
        try:
            self.socket.send(json.dumps(frame))
        except ConnectionClosed as exc:
            raise SessionOver("failed", error=SOCKET_ENDED) from exc

    def _receive(self, timeout: float) -> dict | None:
        """Our next frame (None when none came in time), checked as Twilio checks it."""
        try:
            raw = self.socket.recv(timeout=timeout)
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            raise SessionOver("failed", error=SOCKET_ENDED) from exc
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = raw
        self.received.append(frame)
        problem = outgoing_problem(frame)
        if problem:
            # Twilio answers an invalid message with an error frame and ends the session; the
            # platform must never send one, so this is logged as an error, not a warning.
            logger.error("simulated carrier got an invalid relay frame %r: %s", frame, problem)
            self.sent.append({"type": "error", "description": f"Invalid message received: {problem}"})
            try:
                self.socket.send(json.dumps(self.sent[-1]))
            except ConnectionClosed:
                pass
            raise SessionOver("failed", error=INVALID_MESSAGE)
        if frame["type"] == "end":
            raise SessionOver("completed", handoff=frame.get("handoffData", ""))
        return frame

    def _drain(self) -> None:
        """Frames sent since the last reply ended (an `end`, say), waited for only briefly."""
        while self._receive(END_GRACE_SECONDS) is not None:
            pass

    def _listen(self) -> None:
        """The agent's reply: text frames until `last: true`, heard as they would be spoken. The
        callee may speak over it once enough words have come (an `interrupt`)."""
        interrupts = self._interrupts()
        words: list[str] = []
        tokens: list[str] = []
        interrupted = None
        while True:
            frame = self._receive(REPLY_TIMEOUT_SECONDS)
            if frame is None:
                logger.warning("simulated relay session %s: no reply in time, the callee hangs up", self.session_id)
                raise SessionOver("ended")
            if frame["type"] == "play":
                continue  # audio the callee hears, with no words in it
            if frame["type"] != "text":
                continue  # sendDigits, language: nothing the callee hears
            if interrupted is None:
                tokens.append(frame["token"])
                words = "".join(tokens).split()
                if interrupts and len(words) >= INTERRUPT_AFTER_WORDS:
                    interrupted = " ".join(words[:INTERRUPT_AFTER_WORDS])
                    self._send(
                        {
                            "type": "interrupt",
                            "utteranceUntilInterrupt": interrupted,
                            "durationUntilInterruptMs": int(self._speaking(interrupted) * 1000),
                        }
                    )
            if frame.get("last"):
                break
        self.replies += 1
        said = interrupted if interrupted is not None else " ".join(words)
        if said:
            self._hear(said)

    # --- the callee ------------------------------------------------------------------------------

    def _hear(self, text: str) -> None:
        self.heard = text
        self.call.say(text)

    def _interrupts(self) -> bool:
        """Whether the callee speaks over the reply about to come."""
        manner = getattr(self.callee, "relay_manner", "plain")
        if manner == "interrupts":
            return self.replies == 0  # the agent's second words: its first reply after the greeting
        return manner == "random" and self.rng.random() < INTERRUPT_CHANCE

    def _presses_key(self) -> bool:
        manner = getattr(self.callee, "relay_manner", "plain")
        if manner == "presses":
            return self.replies == 1 and not any(f["type"] == "dtmf" for f in self.sent)
        return manner == "random" and self.rng.random() < DTMF_CHANCE

    def _check_line(self) -> None:
        """The call ends under the session: its time limit, or the platform hung up."""
        if self.call.over_time() or self.call.hung_up_by_platform():
            raise SessionOver("ended")

    @staticmethod
    def _speaking(text: str) -> float:
        return speaking_seconds(text)
