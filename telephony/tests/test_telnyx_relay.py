"""Conversation Relay on Telnyx: a relay step starts the session with Call Control's
`conversation_relay_start` (exactly the SDK's parameters, through the strict fake), the session's
end arrives as a signed `call.conversation.ended` and what follows is carried out by commands,
once however often the event is delivered; a machine detected during a session stops it."""

import pytest

from campaigns.models import Call
from telephony import telnyx_webhook
from telephony.models import ProviderEvent
from telephony.providers.base import AgentStep, ProviderError
from telephony.providers.telnyx import TelnyxProvider
from telephony.relay import relay_url
from telephony.tests.carrier_examples import TELNYX_CONVERSATION_ENDED
from telephony.tests.fake_telnyx import decode_state, fake_telnyx  # noqa: F401 - fixture
from telephony.tests.test_telnyx_webhook import dial, greeting_ended

PUBLIC = "https://clozit.example.com"
GREETING = "Hi Person0, this is Sam from Acme. Do you have a minute?"
GOODBYE = "Thanks, we will send you the details. Goodbye!"


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC


def relay_step(call) -> AgentStep:
    return AgentStep(
        say=GREETING,
        then="relay",
        voice="Polly.Joanna",
        language="en-US",
        relay_url=relay_url(provider="telnyx", call_id=call.pk),
    )


def carry_out(call, ccid, step, *, how=telnyx_webhook._act):
    out = telnyx_webhook.Outbox(TelnyxProvider())
    how(out, step, call_id=call.pk, call_control_id=ccid)
    out.carry_out(after="test", call_id=call.pk)


def answered_on_relay(fake, user, **agent):
    call, ccid = dial(user, **agent)
    fake.send("call.answered", ccid)
    carry_out(call, ccid, relay_step(call))
    return call, ccid


def conversation_ended(fake, ccid, **payload):
    """Telnyx's call.conversation.ended for the call (the SDK's fields), signed."""
    event_id = payload.pop("id", None)
    body = {**TELNYX_CONVERSATION_ENDED["payload"], **fake.payload(ccid), **payload}
    return fake.send_event("call.conversation.ended", body, id=event_id)


@pytest.mark.django_db
def test_a_relay_step_starts_conversation_relay_with_the_sdks_parameters(user, fake_telnyx):  # noqa: F811
    call, ccid = answered_on_relay(fake_telnyx, user)
    (start,) = fake_telnyx.commands("conversation_relay_start", ccid)
    state = decode_state(start.json.pop("client_state"))
    turn = state["turn"]
    # The socket's token is timestamped: minted a second apart, two differ only in that stamp.
    url, expected = start.json.pop("url"), relay_url(provider="telnyx", call_id=call.pk)
    assert url.rsplit("%3A", 2)[0] == expected.rsplit("%3A", 2)[0]
    assert start.json == {
        "greeting": GREETING,  # said by the session itself: no speak command first
        "voice": "AWS.Polly.Joanna-Neural",
        "language": "en",
        "interruptible": "any",
        "dtmf_detection": True,
        "command_id": f"relay-{call.pk}-{turn}",
    }
    assert state == {"call_id": call.pk, "turn": turn, "then": "relay"}
    assert url.startswith("wss://clozit.example.com/telephony/telnyx/relay/")

    # The same step again (a repeated event) starts nothing more; nor does a replayed one.
    carry_out(call, ccid, relay_step(call))
    carry_out(call, ccid, AgentStep(**{**relay_step(call).__dict__, "replayed": True}))
    assert len(fake_telnyx.commands("conversation_relay_start", ccid)) == 1


@pytest.mark.django_db
def test_the_fake_refuses_what_telnyx_refuses(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user)
    voice = TelnyxProvider()
    url = relay_url(provider="telnyx", call_id=call.pk)
    with pytest.raises(ProviderError, match="ws://") as not_a_socket:
        voice.start_relay(
            ccid, url=url.replace("wss://", "https://"), greeting="", voice="", language="en-US", client_state={}
        )
    with pytest.raises(ProviderError, match="welcomeGreeting") as unknown:
        voice._request(
            "start",
            lambda c: c.calls.actions.start_conversation_relay(ccid, url=url, extra_body={"welcomeGreeting": "Hi"}),
        )
    fake_telnyx.end(ccid)
    with pytest.raises(ProviderError) as ended:
        voice.start_relay(ccid, url=url, greeting="", voice="", language="en-US", client_state={})
    assert not_a_socket.value.permanent and unknown.value.permanent and ended.value.permanent
    voice.stop_relay(ccid)  # stopping on an ended call is what was wanted: no error


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("step", "said", "then"),
    [
        (AgentStep(say=GOODBYE, then="hangup"), [GOODBYE], "hangup"),
        (
            AgentStep(say="Let me put you through.", then="transfer", transfer_to="+14155550100"),
            ["Let me put you through."],
            "transfer",
        ),
        (AgentStep(say="", then="hangup"), [], "hangup"),
    ],
)
def test_what_follows_a_session_is_said_then_done(user, fake_telnyx, step, said, then):  # noqa: F811
    call, ccid = answered_on_relay(fake_telnyx, user)
    before = len(fake_telnyx.said(ccid))
    carry_out(call, ccid, step, how=telnyx_webhook._after_relay)
    assert fake_telnyx.said(ccid)[before:] == said
    assert fake_telnyx.commands(then, ccid) == [] or not said  # the last words first ...
    fake_telnyx.finish_speaking(ccid)
    (done,) = fake_telnyx.commands(then, ccid)  # ... then the hang-up or the transfer, once
    assert done.json["command_id"] == f"{then}-{call.pk}"
    if then == "transfer":
        assert done.json["to"] == "+14155550100"
    fake_telnyx.finish_speaking(ccid)
    assert len(fake_telnyx.commands(then, ccid)) == 1


@pytest.mark.django_db
def test_the_end_of_a_session_is_applied_once_however_often_it_arrives(user, fake_telnyx):  # noqa: F811
    call, ccid = answered_on_relay(fake_telnyx, user)
    before = len(fake_telnyx.commands(ccid=ccid))
    first = conversation_ended(fake_telnyx, ccid, id="evt-ended")
    assert first.status_code == 200 and first.content == b"ok"
    after_first = len(fake_telnyx.commands(ccid=ccid))
    assert after_first > before  # the call goes on (or ends) by the conversation's next step
    assert conversation_ended(fake_telnyx, ccid, id="evt-ended").content == b"duplicate ignored"
    assert len(fake_telnyx.commands(ccid=ccid)) == after_first
    assert ProviderEvent.objects.filter(kind="call.conversation.ended", call_id=call.pk).count() == 1


@pytest.mark.django_db
def test_a_session_ending_after_the_callee_hung_up_commands_nothing(user, fake_telnyx):  # noqa: F811
    call, ccid = answered_on_relay(fake_telnyx, user)
    fake_telnyx.send("call.hangup", ccid, hangup_cause="normal_clearing", hangup_source="callee")
    before = len(fake_telnyx.commands(ccid=ccid))
    assert conversation_ended(fake_telnyx, ccid, reason="customer_disconnect").status_code == 200
    assert len(fake_telnyx.commands(ccid=ccid)) == before
    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED


@pytest.mark.django_db
def test_a_machine_stops_the_session_and_gets_the_voicemail_message(user, fake_telnyx):  # noqa: F811
    call, ccid = answered_on_relay(fake_telnyx, user)
    fake_telnyx.send("call.machine.detection.ended", ccid, result="machine")
    greeting_ended(fake_telnyx, ccid)
    actions = [c.action for c in fake_telnyx.commands(ccid=ccid)]
    stop = actions.index("conversation_relay_stop")
    assert actions[stop + 1] == "speak" and fake_telnyx.commands("speak", ccid)[-1].json["stop"] == "all"
    assert actions.count("conversation_relay_stop") == 1

    # The stopped session's end asks nothing: the message and its hang-up have the call.
    before = len(fake_telnyx.commands(ccid=ccid))
    conversation_ended(fake_telnyx, ccid, reason="")
    assert len(fake_telnyx.commands(ccid=ccid)) == before
    fake_telnyx.finish_speaking(ccid)
    assert len(fake_telnyx.commands("hangup", ccid)) == 1
