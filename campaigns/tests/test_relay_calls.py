"""Real-time calls: the whole ASGI application served by uvicorn, the carrier played by a real
WebSocket client sending frames in the shapes of Twilio's (and Telnyx's) documentation, webhooks
signed with Twilio's algorithm and posted over HTTP, the model a strict fake OpenAI server.

A call answered by a person connects to the relay socket; the agent's replies stream as text
frames; the callee can interrupt (the transcript keeps what they heard) or press keys; the reply
that ends the call stores its ending, sends `end`, and the action callback says the last words and
hangs up; the status callback settles the credits once. Nothing stays claimed, whatever the
socket does.
"""

import json
import time
import urllib.request
import xml.etree.ElementTree as ET
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.urls import reverse
from twilio.request_validator import RequestValidator
from websockets.sync.client import connect

from billing.models import LedgerEntry
from campaigns.conversation.engine import wording
from campaigns.models import Call, CallTurn, DoNotCall
from campaigns.tests import relay_examples as examples
from campaigns.tests.fake_llm import fake_llm_fixture  # noqa: F401 - the `fake_llm` fixture
from telephony import relay
from telephony.tests.test_webhooks import SID, make_call, params

SECRET = "simulated-test-secret"
DNC_LINE = wording.line("dnc")
WAIT_LINE = wording.line("wait")
TECHNICAL_LINE = wording.line("technical")
PERSONA = "You are Sam from Acme. Be brief."


@pytest.fixture
def server(asgi_server, settings):
    settings.SIMULATED_SIGNING_SECRET = SECRET
    return asgi_server


@pytest.fixture
def model(fake_llm, settings):
    settings.LLM_TIMEOUT_SECONDS = 3.0
    return fake_llm


def relay_call(user, **agent_overrides) -> Call:
    return make_call(user, transport="relay", engine="llm", persona=PERSONA, **agent_overrides)


# --- the carrier's side ------------------------------------------------------------------------


def post(base: str, path: str, body: dict) -> tuple[int, bytes]:
    """A signed form post, as Twilio (and the simulated carrier) sends webhooks."""
    signature = RequestValidator(SECRET).compute_signature(base + path, body)
    request = urllib.request.Request(
        base + path,
        data=urlencode(body).encode(),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, response.read()


def twiml(answer: tuple[int, bytes]) -> ET.Element:
    status, content = answer
    assert status == 200, content
    return ET.fromstring(content)


def answer(base: str, call: Call) -> ET.Element:
    path = reverse("telephony_answer", kwargs={"provider": "simulated", "call_id": call.pk})
    return twiml(post(base, path, params(CallStatus="in-progress", AnsweredBy="unknown")))


def session_ended(base: str, call: Call, **kwargs) -> ET.Element:
    path = reverse("telephony_relay_ended", kwargs={"provider": "simulated", "call_id": call.pk})
    return twiml(post(base, path, examples.twilio_session_ended(call_sid=SID, **kwargs)))


def call_status(base: str, call: Call, status: str, **extra) -> int:
    """Posted; the answer's status (204 applied, 200 a duplicate acknowledged)."""
    path = reverse("telephony_status", kwargs={"provider": "simulated", "call_id": call.pk})
    return post(base, path, params(CallStatus=status, **extra))[0]


def open_socket(relay_url: str):
    """Dial the relay URL the TwiML gave, signed as Twilio signs the handshake."""
    parts = urlsplit(relay_url)
    query = dict(parse_qsl(parts.query))
    signature = RequestValidator(SECRET).compute_signature(f"{parts.scheme}://{parts.netloc}{parts.path}", query)
    return connect(relay_url, additional_headers={"X-Twilio-Signature": signature}, open_timeout=5)


def frames(ws, *, until_end=False, timeout=10.0) -> list[dict]:
    """Frames until a reply's last text frame (or until the `end` frame), each checked as the
    carrier checks ours."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv(timeout=deadline - time.monotonic()))
        assert relay.outgoing_problem(frame) is None, (frame, relay.outgoing_problem(frame))
        got.append(frame)
        if frame["type"] == "end" or (not until_end and frame["type"] == "text" and frame.get("last")):
            return got
    raise AssertionError(f"no last frame: {got}")


def spoken(got: list[dict]) -> str:
    return "".join(f["token"] for f in got if f["type"] == "text")


def wait_for(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def connected(root: ET.Element) -> tuple[str, str, str]:
    """(relay URL, action URL, welcome greeting) of a <Connect><ConversationRelay> answer."""
    assert [verb.tag for verb in root] == ["Connect"]
    connect_verb = root[0]
    conversation = connect_verb.find("ConversationRelay")
    return conversation.get("url"), connect_verb.get("action"), conversation.get("welcomeGreeting")


# --- a whole call ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_whole_real_time_call_from_answer_to_the_settled_bill(server, user, model):
    call = relay_call(user)
    model.reply("Great to hear, Person0. How many people are on your team?")
    model.reply(
        "Our plans start at forty nine dollars a month and include unlimited seats for every team.",
        chunk_delay=0.4,
    )

    # The answer connects the call to the socket; the carrier says the opening as its greeting.
    relay_url, action_url, greeting = connected(answer(server, call))
    assert greeting == "Hi Person0, this is Sam from Acme."
    assert relay_url.startswith(server.replace("http://", "ws://") + f"/telephony/simulated/relay/{call.pk}/?token=")
    assert action_url == server + f"/telephony/simulated/calls/{call.pk}/relay-ended/"

    with open_socket(relay_url) as ws:
        ws.send(json.dumps(examples.TWILIO_SETUP))

        # A reply streams as several text frames as the model writes it, then the last one.
        ws.send(json.dumps(examples.twilio_prompt("Yes, that's me.")))
        got = frames(ws)
        assert len(got) >= 3 and got[-1] == {"type": "text", "token": "", "last": True}
        assert spoken(got) == "Great to hear, Person0. How many people are on your team?"

        # The callee speaks over a slow reply: it stops, and the transcript keeps what they heard.
        ws.send(json.dumps(examples.twilio_prompt("What does it cost?")))
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "text" and first["token"]
        heard = first["token"].strip()
        ws.send(json.dumps(examples.twilio_interrupt(heard, 900)))
        rest = frames(ws)
        assert rest[-1] == {"type": "text", "token": "", "last": True}

        # Key 9: no more calls. The goodbye is the action callback's to say, not streamed.
        ws.send(json.dumps(examples.twilio_dtmf("9")))
        ended = frames(ws, until_end=True)
        assert spoken(ended) == ""
        assert ended[-1]["type"] == "end"
        handoff = ended[-1]["handoffData"]
        assert json.loads(handoff) == {"then": "hangup", "say": DNC_LINE}

    # The signed action callback answers the goodbye and the hang-up, the same when repeated.
    for _ in range(2):
        root = session_ended(server, call, handoff=handoff)
        assert [verb.tag for verb in root] == ["Say", "Hangup"] and root[0].text == DNC_LINE

    # The status callback (twice) settles the credits once.
    assert call_status(server, call, "completed", CallDuration="42") == 204
    assert call_status(server, call, "completed", CallDuration="42") == 200  # acknowledged, ignored

    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED
    assert call.outcome == "do_not_call"
    assert call.credits_charged == Decimal(42)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE).count() == 1
    assert DoNotCall.objects.filter(workspace=user.personal_workspace, phone_number=call.to_number).exists()
    assert "thinking" not in call.engine_state

    lines = list(call.turns.values_list("speaker", "text", "interrupted"))
    assert lines == [
        ("agent", "Hi Person0, this is Sam from Acme.", False),
        ("callee", "Yes, that's me.", False),
        ("agent", "Great to hear, Person0. How many people are on your team?", False),
        ("callee", "What does it cost?", False),
        ("agent", heard, True),
        ("callee", "(pressed 9)", False),
        ("agent", DNC_LINE, False),
    ]
    # The model's next context held only what the callee heard.
    streamed_turn = call.turns.get(sequence=3)
    assert streamed_turn.first_frame_ms is not None and streamed_turn.model_first_token_ms is not None
    assert streamed_turn.total_ms >= streamed_turn.first_frame_ms
    assert call.engine_state["messages"][-1] == {"role": "assistant", "content": heard}


@pytest.mark.django_db(transaction=True)
def test_a_socket_dropped_mid_reply_leaves_nothing_claimed_and_the_call_is_billed_once(server, user, model):
    call = relay_call(user)
    model.reply("Let me tell you all about our plans and everything they include today.", chunk_delay=0.4)
    relay_url, _, _ = connected(answer(server, call))

    with open_socket(relay_url) as ws:
        ws.send(json.dumps(examples.TWILIO_SETUP))
        ws.send(json.dumps(examples.twilio_prompt("Tell me more.")))
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "text"
    # The carrier went away (the callee hung up): the session releases the turn.
    assert wait_for(lambda: "thinking" not in Call.objects.get(pk=call.pk).engine_state)

    assert call_status(server, call, "completed", CallDuration="17") == 204
    assert call_status(server, call, "completed", CallDuration="17") == 200
    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED
    assert call.credits_charged == Decimal(17)
    assert call.outcome == Call.Outcome.HUNG_UP
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE).count() == 1
    said = call.turns.filter(speaker=CallTurn.Speaker.AGENT).last()
    assert said.text == first["token"].strip()  # only what went out is on the record

    # The carrier's callback after the hang-up only hangs up.
    root = session_ended(server, call, status="ended", call_status="completed")
    assert [verb.tag for verb in root] == ["Hangup"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_session_on_a_live_call_goes_on_turn_at_a_time(server, user, model):
    call = relay_call(user)
    relay_url, _, _ = connected(answer(server, call))

    root = session_ended(server, call, status="failed")
    assert [verb.tag for verb in root] == ["Gather"]
    gather = root[0]
    assert gather[0].text == wording.line("say_again")
    assert gather.get("action") == server + f"/telephony/simulated/calls/{call.pk}/turn/1/"
    # The same answer for a repeated callback.
    assert ET.tostring(session_ended(server, call, status="failed")) == ET.tostring(root)

    model.reply("Sure. Our plans start at forty nine dollars.")
    turn = twiml(post(server, f"/telephony/simulated/calls/{call.pk}/turn/1/", params(SpeechResult="Price?")))
    assert turn[0].tag == "Gather" and turn[0][0].text == "Sure. Our plans start at forty nine dollars."
    call_status(server, call, "completed", CallDuration="20")


# --- a slow model ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_slow_model_streams_the_holding_line_then_gets_another_chance_or_ends_politely(server, user, model, settings):
    settings.TURN_DEADLINE_SECONDS = 1.0
    settings.LLM_TIMEOUT_SECONDS = 0.6
    call = relay_call(user)
    model.reply("Words that come far too late.", delay=3)
    model.reply("Here I am: our plans start at forty nine dollars.")
    model.reply("late again", delay=3).reply("and again", delay=3)
    relay_url, _, _ = connected(answer(server, call))

    with open_socket(relay_url) as ws:
        ws.send(json.dumps(examples.TWILIO_SETUP))
        began = time.monotonic()
        ws.send(json.dumps(examples.twilio_prompt("How much is it?")))
        hold = json.loads(ws.recv(timeout=5))
        assert hold == {"type": "text", "token": WAIT_LINE, "last": False}
        assert time.monotonic() - began < 1.0 + 0.6  # within the turn's deadline
        got = frames(ws)
        assert spoken(got) == "Here I am: our plans start at forty nine dollars."

        # Slow twice: the holding line, then the polite goodbye the action callback says.
        ws.send(json.dumps(examples.twilio_prompt("And the setup fee?")))
        ended = frames(ws, until_end=True, timeout=10)
        assert spoken(ended) == WAIT_LINE
        assert json.loads(ended[-1]["handoffData"]) == {"then": "hangup", "say": TECHNICAL_LINE}

    root = session_ended(server, call, handoff=ended[-1]["handoffData"])
    assert [verb.tag for verb in root] == ["Say", "Hangup"] and root[0].text == TECHNICAL_LINE
    call_status(server, call, "completed", CallDuration="30")
    call.refresh_from_db()
    assert call.outcome == "technical_failure"
    assert "thinking" not in call.engine_state


# --- tools while streaming ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_tool_call_mid_stream_ends_the_call_after_the_streamed_words_are_heard(server, user, model, settings):
    call = relay_call(user)
    model.reply(
        chunks=examples.openai_tool_call_chunks(
            "end_call",
            ['{"outcome": "interested", ', '"final_words": ', '"Goodbye!"}'],
            content=["Wonderful,", " I'll send", " the details."],
        )
    )
    relay_url, _, _ = connected(answer(server, call))

    with open_socket(relay_url) as ws:
        ws.send(json.dumps(examples.TWILIO_SETUP))
        began = time.monotonic()
        ws.send(json.dumps(examples.twilio_prompt("Yes please, send me the details.")))
        got = frames(ws, until_end=True)
        took = time.monotonic() - began
    assert [f["token"] for f in got if f["type"] == "text"] == ["Wonderful,", " I'll send", " the details.", ""]
    assert json.loads(got[-1]["handoffData"]) == {"then": "hangup", "say": "Goodbye!"}
    assert took >= 5 / 2.5 - 0.2  # five streamed words were given time to be heard before the end

    call.refresh_from_db()
    assert call.outcome == "interested"
    assert call.turns.last().text == "Wonderful, I'll send the details. Goodbye!"
    request = model.requests[-1]
    assert request["stream"] is True and {t["function"]["name"] for t in request["tools"]} >= {"end_call"}
    assert model.refused == []
    call_status(server, call, "completed", CallDuration="25")


@pytest.mark.django_db(transaction=True)
def test_a_transfer_by_key_and_a_telnyx_shaped_setup(server, user, settings):
    call = make_call(user, transport="relay", engine="scripted", transfer_number="+14155550199")
    relay_url, _, greeting = connected(answer(server, call))
    assert greeting.endswith("Are you the person who handles scheduling?")

    with open_socket(relay_url) as ws:
        ws.send(json.dumps(examples.TELNYX_SETUP))
        ws.send(json.dumps(examples.TELNYX_PROMPT))
        got = frames(ws)
        assert spoken(got) == "Thank you. How many people are on your team?"
        ws.send(json.dumps(examples.twilio_dtmf("5")))  # a key that means nothing: nothing happens
        ws.send(json.dumps(examples.twilio_dtmf("0")))
        ended = frames(ws, until_end=True)
    handoff = json.loads(ended[-1]["handoffData"])
    assert handoff == {"then": "transfer", "say": wording.line("transferring"), "transfer_to": "+14155550199"}

    # The carrier's echo is not needed: the ending stored on the call is followed.
    root = session_ended(server, call)
    assert [verb.tag for verb in root] == ["Say", "Dial"] and root[1].text == "+14155550199"
    call_status(server, call, "completed", CallDuration="60")
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.TRANSFERRED
    assert list(call.turns.filter(speaker="callee").values_list("text", flat=True)) == [
        "hello there",
        "(pressed 5)",
        "(pressed 0)",
    ]


@pytest.mark.django_db(transaction=True)
def test_sockets_for_calls_that_cannot_talk_in_real_time_are_refused(server, user):
    from websockets.exceptions import InvalidStatus

    gather = make_call(user, max_call_seconds=30)  # a turn-at-a-time agent
    twiml(post(server, f"/telephony/simulated/calls/{gather.pk}/answer/", params(CallStatus="in-progress")))
    with pytest.raises(InvalidStatus):
        open_socket(relay.relay_url(provider="simulated", call_id=gather.pk))
    unanswered = relay_call(user, max_call_seconds=30)
    with pytest.raises(InvalidStatus):
        open_socket(relay.relay_url(provider="simulated", call_id=unanswered.pk))


@pytest.mark.django_db(transaction=True)
def test_a_machine_reported_late_takes_the_call_from_the_session_which_ends_and_bills_nothing(server, user, model):
    call = relay_call(user)
    relay_url, _, _ = connected(answer(server, call))  # unknown yet: a person would hear the opening

    with open_socket(relay_url) as ws:
        ws.send(json.dumps(examples.TWILIO_SETUP))
        amd = reverse("telephony_amd", kwargs={"provider": "simulated", "call_id": call.pk})
        status, _ = post(server, amd, params(AnsweredBy="machine_end_beep", MachineDetectionDuration="4100"))
        assert status == 204
        # The machine's words over the socket get no answer: the voicemail message has the call.
        ws.send(json.dumps(examples.twilio_prompt("Please leave a message after the tone.")))
        assert frames(ws) == [{"type": "text", "token": "", "last": True}]
    assert model.calls == 0

    call.refresh_from_db()
    assert call.status == Call.Status.IN_PROGRESS and call.credits_charged == 0  # closing ended nothing
    assert call.engine_state["last_step"]["then"] == "hangup"
    assert call_status(server, call, "completed", CallDuration="35") == 204
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.VOICEMAIL and call.credits_charged == Decimal(35)
    assert "thinking" not in call.engine_state


@pytest.mark.django_db(transaction=True)
def test_a_silent_callee_is_asked_again_then_the_call_ends_as_a_turn_at_a_time_call_would(server, user, settings):
    """The carrier reports speech only: after the agent's words (their speaking time) and
    RELAY_SILENCE_SECONDS of nothing, the engine answers silence; a second silence ends the call."""
    settings.RELAY_SILENCE_SECONDS = 0.2
    call = make_call(user, transport="relay", opening_line="Hi.", questions="Ready?")
    url, _, greeting = connected(answer(server, call))
    assert greeting == "Hi. Ready?"

    with open_socket(url) as ws:
        ws.send(json.dumps(examples.TWILIO_SETUP))
        asked_again = spoken(frames(ws))  # nobody spoke: the engine's line for silence
        assert asked_again
        ended = frames(ws, until_end=True)  # silence again: the call ends
        assert ended[-1]["type"] == "end"
        assert json.loads(ended[-1]["handoffData"])["then"] == "hangup"

    callee_lines = list(call.turns.filter(speaker=CallTurn.Speaker.CALLEE).values_list("text", flat=True))
    assert callee_lines == ["(silence)", "(silence)"]
