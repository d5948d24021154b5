"""The simulated carrier on a ConversationRelay call: it follows our <Connect><ConversationRelay>
TwiML as Twilio does, opens the relay socket (served by uvicorn, a scripted conversation behind
it) with Twilio's handshake signature, speaks Twilio's frames, and hands the call back through the
signed <Connect action> callback. Our webhooks are a recorded stand-in here, as in
test_simulator.py: this file is about the carrier."""

import asyncio
import json
import logging
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from twilio.request_validator import RequestValidator

from telephony import relay, simulator, simulator_relay
from telephony.providers.base import AgentStep, relay_voice
from telephony.providers.simulated import SimulatedProvider
from telephony.tests.carrier_examples import (
    RELAY_DTMF,
    RELAY_ERROR,
    RELAY_INTERRUPT,
    RELAY_PROMPT,
    TWILIO_RELAY_SETUP,
)

SECRET = "simulated-relay-secret"
CALL_ID = 7
SID = "SMrelay"
INTERESTED = "+12025550101"
INTERRUPTS = "+12025550105"
PRESSES = "+12025550108"
SILENT = "+12025550190"
ANSWER_URL = "https://clozit.example.com/telephony/simulated/calls/7/answer/"
STATUS_URL = "https://clozit.example.com/telephony/simulated/calls/7/status/"
ACTION_URL = "https://clozit.example.com/telephony/simulated/calls/7/relay-ended/"
GREETING = "Hi, this is Sam from Acme. Are you the person who handles scheduling?"
QUESTION = ["Great, ", "thank you. ", "How many people ", "are on your team?"]
GOODBYE = "Thanks, we will send you the details. Goodbye!"


class ScriptedSession:
    """A conversation behind the socket: each prompt is answered with QUESTION's pieces; the
    `ends_after`-th prompt ends the session with a goodbye handoff. Records what it is told."""

    def __init__(self, *, ends_after=2, on_prompt=None):
        self.ends_after = ends_after
        self.on_prompt = on_prompt
        self.log = []

    async def setup(self, frame):
        self.log.append(("setup", frame))

    async def _answer(self, n):
        if self.on_prompt is not None:
            self.on_prompt(n)
        if n >= self.ends_after:
            yield relay.RelayEnd({"then": "hangup", "say": GOODBYE})
            return
        for piece in QUESTION:
            await asyncio.sleep(0)
            yield piece

    def reply(self, prompt):
        self.log.append(("prompt", prompt))
        since_setup = self.log[max(i for i, entry in enumerate(self.log) if entry[0] == "setup") :]
        return self._answer(sum(1 for entry in since_setup if entry[0] == "prompt"))

    async def _nothing(self):
        return
        yield

    def dtmf(self, digit):
        self.log.append(("dtmf", digit))
        return self._nothing()

    async def reply_finished(self, *, first_frame_ms, completed):
        pass

    async def interrupted(self, *, heard, after_ms):
        self.log.append(("interrupted", heard, after_ms))

    async def closed(self):
        self.log.append(("closed",))


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def socket_app(socket_handler):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await lifespan(scope, receive, send)
        elif scope["type"] == "websocket":
            await socket_handler(scope, receive, send)

    return app


class RecordedEndpoint:
    """Our webhooks' stand-in: records every signed post; answers the answer URL with `answer`
    (TwiML) and the action URL with `after` (TwiML)."""

    def __init__(self):
        self.posts = []
        self.answer = "<Response/>"
        self.after = f"<Response><Say>{GOODBYE}</Say><Hangup/></Response>"

    def __call__(self, url, data, headers, timeout):
        self.posts.append(SimpleNamespace(url=url, data=data, headers=headers))
        text = self.answer if url == ANSWER_URL else self.after if url == ACTION_URL else ""
        return SimpleNamespace(status_code=200, text=text)

    def action(self):
        (post,) = [p for p in self.posts if p.url == ACTION_URL]
        return post

    def statuses(self):
        return [(p.data["CallStatus"], p.data.get("CallDuration")) for p in self.posts if p.url == STATUS_URL]


@pytest.fixture
def endpoint(monkeypatch, settings):
    settings.SIMULATED_SIGNING_SECRET = SECRET
    settings.SIMULATED_TIME_SCALE = 0
    settings.SIMULATED_DUPLICATE_EVENTS = 0
    recorded = RecordedEndpoint()
    monkeypatch.setattr(simulator.requests, "post", recorded)
    return recorded


@pytest.fixture
def serve_session(serve_asgi, endpoint):
    """Serve `session` behind a relay socket for call CALL_ID, checked as our own relay app checks
    (token, then Twilio's signature with the simulated carrier's secret); the answer URL then
    gives the relay TwiML for it."""

    def serve(session):
        async def open_session(provider, call_id, handshake):
            return session if (provider, call_id) == ("simulated", CALL_ID) else None

        app = relay.RelayApp(
            open_session=open_session, verify=lambda provider, hs: SimulatedProvider().verify_relay_handshake(hs)
        )
        serve_asgi(socket_app(app))
        endpoint.answer = relay_twiml()
        return session

    return serve


def relay_twiml(*, call_id=CALL_ID, voice="Polly.Joanna") -> str:
    return SimulatedProvider().twiml(
        AgentStep(
            say=GREETING,
            then="relay",
            voice=voice,
            relay_url=relay.relay_url(provider="simulated", call_id=call_id),
            relay_action_url=ACTION_URL,
        )
    )


def play(to, *, time_limit=120, sid=SID, signing_secret=None) -> simulator.SimulatedCall:
    call = simulator.SimulatedCall(
        sid=sid,
        to=to,
        from_="+14155550000",
        answer_url=ANSWER_URL,
        status_url=STATUS_URL,
        time_limit=time_limit,
        signing_secret=signing_secret,
    )
    call.run()
    return call


def same_shape(frame: dict, example: dict) -> bool:
    return {k: type(v) for k, v in frame.items()} == {k: type(v) for k, v in example.items()}


# --- the TwiML ------------------------------------------------------------------------------------


def test_the_relay_twiml_names_the_voice_as_conversationrelay_does(settings):
    settings.PUBLIC_BASE_URL = "https://clozit.example.com"
    root = ET.fromstring(relay_twiml())
    (connect,) = root
    assert (connect.tag, connect.attrib) == ("Connect", {"action": ACTION_URL, "method": "POST"})
    (noun,) = connect
    assert noun.tag == "ConversationRelay"
    assert noun.attrib == {
        "url": relay.relay_url(provider="simulated", call_id=CALL_ID),
        "welcomeGreeting": GREETING,
        "language": "en-US",
        "ttsProvider": "Amazon",
        "voice": "Joanna-Neural",
        "interruptible": "any",
        "dtmfDetection": "true",
    }
    assert noun.get("url").startswith("wss://")
    simulator.check_twiml(connect)  # the simulated carrier takes it as Twilio does


@pytest.mark.parametrize(
    ("voice", "attributes"),
    [
        ("Polly.Matthew", {"tts_provider": "Amazon", "voice": "Matthew-Neural"}),
        ("Polly.Amy", {"tts_provider": "Amazon", "voice": "Amy-Neural"}),
        ("Polly.Lea", {"tts_provider": "Amazon", "voice": "Lea-Neural"}),
        ("Polly.Hans", {"tts_provider": "Amazon", "voice": "Daniel-Neural"}),  # Hans has no neural voice
        ("Polly.Enrique", {"tts_provider": "Amazon", "voice": "Sergio-Neural"}),
        ("Polly.Mathieu", {"tts_provider": "Amazon", "voice": "Remi-Neural"}),
        ("woman", {"tts_provider": "Amazon", "voice": "Joanna-Neural"}),
        ("Google.en-US-Neural2-F", {"tts_provider": "Google", "voice": "en-US-Neural2-F"}),
        ("", {}),
    ],
)
def test_every_agent_voice_has_a_conversationrelay_voice(voice, attributes):
    assert relay_voice(voice) == attributes


@pytest.mark.parametrize(
    ("twiml", "refusal"),
    [
        ('<Connect action="a"><ConversationRelay url="wss://x/" welcome="hi"/></Connect>', "unknown attribute"),
        ('<Connect action="a"><ConversationRelay url="https://x/"/></Connect>', "ws:// or wss://"),
        ('<Connect action="a"><ConversationRelay/></Connect>', "ws:// or wss://"),
        ('<Connect actionUrl="a"><ConversationRelay url="wss://x/"/></Connect>', "unknown attribute"),
        ('<Connect><Stream url="wss://x/"/></Connect>', "only one <ConversationRelay>"),
        ('<Connect><ConversationRelay url="wss://x/"><Say>hi</Say></ConversationRelay></Connect>', "<Say>"),
    ],
)
def test_the_carrier_refuses_a_connect_twilio_would_refuse(twiml, refusal):
    with pytest.raises(simulator.TwimlRejected, match=refusal):
        simulator.check_twiml(ET.fromstring(twiml))


def test_the_carrier_takes_every_attribute_twilio_documents():
    simulator.check_twiml(
        ET.fromstring(
            '<Connect action="a" method="POST"><ConversationRelay url="ws://x/" ttsLanguage="en-US" '
            'transcriptionProvider="Deepgram" speechModel="nova-3-general" welcomeGreetingInterruptible="none" '
            'preemptible="true" hints="Acme" partialPrompts="false"><Parameter name="a" value="b"/>'
            '<Language code="en-US" ttsProvider="Amazon" voice="Joanna-Neural"/></ConversationRelay></Connect>'
        )
    )


# --- a relay call ---------------------------------------------------------------------------------


def test_a_relay_call_speaks_twilios_frames_and_hands_back_with_our_handoff(serve_session, endpoint):
    session = serve_session(ScriptedSession(ends_after=2))
    call = play(INTERESTED)
    leg = call.relay_session

    # Frames in Twilio's documented shapes: setup first, then final prompts.
    setup, *rest = leg.sent
    assert same_shape(setup, TWILIO_RELAY_SETUP)
    assert (setup["callSid"], setup["to"], setup["direction"], setup["callStatus"]) == (
        SID,
        INTERESTED,
        "outbound-api",
        "IN-PROGRESS",
    )
    assert session.log[0] == ("setup", setup)
    prompts = [f for f in rest if f["type"] == "prompt"]
    assert len(prompts) == 2 and all(same_shape(p, RELAY_PROMPT) for p in prompts)
    assert all(p["last"] is True and p["lang"] == "en-US" for p in prompts)
    assert [e[1] for e in session.log if e[0] == "prompt"] == [p["voicePrompt"] for p in prompts]

    # The callee heard the greeting, then the streamed reply whole, answered what it was asked.
    said = [text for _, text in call.heard]
    assert said[:2] == [GREETING, "".join(QUESTION)]
    assert prompts[1]["voicePrompt"] in simulator.ANSWERS[3][1]  # "how many people?" answered

    # Our end frame: the action callback, signed, with Twilio's parameters and our handoff data.
    action = endpoint.action()
    assert RequestValidator(SECRET).validate(ACTION_URL, action.data, action.headers["X-Twilio-Signature"])
    assert json.loads(action.data["HandoffData"]) == {"then": "hangup", "say": GOODBYE}
    assert action.data["SessionStatus"] == "completed" and action.data["CallStatus"] == "in-progress"
    assert action.data["SessionId"] == setup["sessionId"] and action.data["SessionId"].startswith("VX")
    assert int(action.data["SessionDuration"]) > 0
    assert {"AccountSid", "CallSid", "From", "To", "Direction"} <= set(action.data)
    assert "ErrorCode" not in action.data

    # Then the action's TwiML is followed, and the call ends as always.
    assert said[-1] == GOODBYE
    assert endpoint.statuses()[-1][0] == "completed"
    assert session.log[-1] == ("closed",)


def test_a_callee_speaks_over_the_agents_first_reply_after_the_greeting(serve_session, endpoint):
    session = serve_session(ScriptedSession(ends_after=3))
    call = play(INTERRUPTS)
    (interrupt,) = [f for f in call.relay_session.sent if f["type"] == "interrupt"]
    assert same_shape(interrupt, RELAY_INTERRUPT)
    assert interrupt["utteranceUntilInterrupt"] == "Great, thank you. How"
    assert interrupt["durationUntilInterruptMs"] == 1600  # four words at 2.5 words a second
    assert ("interrupted", "Great, thank you. How", 1600) in session.log
    said = [text for _, text in call.heard]
    assert said[1:3] == ["Great, thank you. How", "".join(QUESTION)]  # only what was heard
    assert endpoint.action().data["SessionStatus"] == "completed"


def test_a_callee_presses_a_key_at_their_second_turn(serve_session, endpoint):
    session = serve_session(ScriptedSession(ends_after=2))
    call = play(PRESSES)
    (dtmf,) = [f for f in call.relay_session.sent if f["type"] == "dtmf"]
    assert same_shape(dtmf, RELAY_DTMF) and dtmf["digit"] in simulator_relay.DTMF_KEYS
    assert ("dtmf", dtmf["digit"]) in session.log
    assert endpoint.action().data["SessionStatus"] == "completed"


def test_callees_drawn_at_random_interrupt_and_press_keys_now_and_then(serve_session, endpoint, settings):
    settings.SIMULATED_ODDS = {"answer": 1}
    serve_session(ScriptedSession(ends_after=6))
    kinds = set()
    for n in range(12):
        call = play("+15551230000", sid=f"SMrandom{n}")
        if call.relay_session is not None:
            kinds |= {f["type"] for f in call.relay_session.sent}
    assert {"interrupt", "dtmf"} <= kinds


def test_a_silent_callee_sends_nothing_and_hangs_up(serve_session, endpoint):
    serve_session(ScriptedSession())
    call = play(SILENT)
    assert [f["type"] for f in call.relay_session.sent] == ["setup"]
    action = endpoint.action()
    assert (action.data["SessionStatus"], action.data["CallStatus"]) == ("ended", "completed")
    assert "HandoffData" not in action.data
    assert [text for _, text in call.heard] == [GREETING]  # the action's answer is not played
    seconds = int(endpoint.statuses()[-1][1])
    assert simulator_relay.SILENT_CALLEE_HANGS_UP_AFTER <= seconds < 30


def test_the_time_limit_ends_the_session(serve_session, endpoint):
    serve_session(ScriptedSession(ends_after=99))
    play(INTERESTED, time_limit=20)
    action = endpoint.action()
    assert (action.data["SessionStatus"], action.data["CallStatus"]) == ("ended", "completed")
    assert endpoint.statuses()[-1] == ("completed", "20")


def test_new_twiml_for_the_live_call_replaces_the_session(serve_session, endpoint):
    message = "Sorry, we have to go. Goodbye."
    serve_session(
        ScriptedSession(
            ends_after=99,
            on_prompt=lambda n: (
                n == 2 and simulator.request_update(SID, f"<Response><Say>{message}</Say><Hangup/></Response>")
            ),
        )
    )
    call = play(INTERESTED)
    assert (endpoint.action().data["SessionStatus"], endpoint.action().data["CallStatus"]) == ("ended", "in-progress")
    said = [text for _, text in call.heard]
    assert said[-1] == message and GOODBYE not in said  # the new TwiML, not the action's answer
    assert endpoint.statuses()[-1][0] == "completed"


# --- failures -------------------------------------------------------------------------------------


def test_a_frame_twilio_would_refuse_gets_an_error_and_ends_the_session(serve_asgi, endpoint, caplog):
    async def misbehaving(scope, receive, send):
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await receive()  # setup
        await send({"type": "websocket.send", "text": json.dumps({"type": "text", "token": "Hi", "voice": "x"})})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    serve_asgi(socket_app(misbehaving))
    endpoint.answer = relay_twiml()
    endpoint.after = "<Response><Say>Sorry about that.</Say><Hangup/></Response>"
    with caplog.at_level(logging.ERROR, logger="telephony.simulator_relay"):
        call = play(INTERESTED)
    error = call.relay_session.sent[-1]
    assert same_shape(error, RELAY_ERROR) and "text has no field 'voice'" in error["description"]
    assert any(r.levelno == logging.ERROR and "invalid relay frame" in r.message for r in caplog.records)
    action = endpoint.action()
    assert (action.data["SessionStatus"], action.data["ErrorCode"]) == ("failed", "64107")
    assert action.data["CallStatus"] == "in-progress"
    assert [text for _, text in call.heard][-1] == "Sorry about that."  # the call goes on


@pytest.mark.parametrize("why", ["no live call", "bad signature", "nobody listening"])
def test_a_socket_that_cannot_be_opened_fails_the_session(serve_session, endpoint, settings, why):
    serve_session(ScriptedSession())
    signing_secret = None
    if why == "no live call":
        endpoint.answer = relay_twiml(call_id=CALL_ID + 1)  # a valid token for a call with no conversation
    elif why == "bad signature":
        signing_secret = "another secret"  # the carrier signs with a secret our check does not know
    else:
        endpoint.answer = relay_twiml().replace(settings.PUBLIC_BASE_URL.removeprefix("http://"), "127.0.0.1:9")
    endpoint.after = "<Response><Say>Sorry, goodbye.</Say><Hangup/></Response>"
    call = play(INTERESTED, signing_secret=signing_secret)
    action = endpoint.action()
    assert (action.data["SessionStatus"], action.data["CallStatus"]) == ("failed", "in-progress")
    assert (action.data["ErrorCode"], action.data["ErrorMessage"]) == simulator_relay.UNREACHABLE
    assert [text for _, text in call.heard] == ["Sorry, goodbye."]  # no greeting without a session
    assert endpoint.statuses()[-1][0] == "completed"
