"""What the simulated carrier's two ways of playing a call share (the Gather turns in
simulator.py, ConversationRelay sessions in simulator_relay.py): the call's state and the
platform's instructions to it, kept in Redis as the carrier's own; how long words take to say; a
machine's greeting; and the redirect that replaces whatever a live call is doing."""

import django_rq

WORDS_PER_SECOND = 2.5
HANGUP_KEY = "clozit:simulator:hangup:{sid}"
UPDATE_KEY = "clozit:simulator:update:{sid}"  # new TwiML for a live call
STATE_KEY = "clozit:simulator:state:{sid}"  # the call's CallStatus, as Twilio would report it
GREETING = "Hi, you have reached the voicemail of this number. Please leave a message after the tone."


def speaking_seconds(text: str) -> float:
    return max(1.0, len(text.split()) / WORDS_PER_SECOND) if text else 0.0


def _connection():
    return django_rq.get_connection("simulator")


def request_hangup(sid: str) -> None:
    _connection().set(HANGUP_KEY.format(sid=sid), 1, ex=3600)


def request_update(sid: str, twiml: str) -> None:
    """Give a live call new instructions (Twilio: calls(sid).update(twiml=...)); the carrier
    drops what it is doing and follows them."""
    _connection().set(UPDATE_KEY.format(sid=sid), twiml, ex=3600)


def call_state(sid: str) -> str:
    """The call's CallStatus as the carrier knows it; "" for a call it never placed."""
    state = _connection().get(STATE_KEY.format(sid=sid))
    return state.decode() if state else ""


class Redirected(Exception):
    """The platform gave the live call new TwiML: it replaces whatever was playing."""

    def __init__(self, twiml: str):
        super().__init__("redirected")
        self.twiml = twiml
