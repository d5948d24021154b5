"""A whole Telnyx call over Conversation Relay, with nothing in between replaced: Telnyx's signed
events reach our webhook, the answer starts the relay by Call Control (through the strict fake
Telnyx API), the relay socket is opened on the whole ASGI application the way Telnyx opens it (no
handshake signature: the call-bound token is the check) with Telnyx's frame shapes, the callee
asks to stop by key, and Telnyx's `call.conversation.ended` leads to the goodbye and the hang-up;
the call is billed once."""

import json

import pytest
from websockets.sync.client import connect

from campaigns.models import Call, DoNotCall
from campaigns.tests.relay_examples import TELNYX_SETUP
from telephony.tests.carrier_examples import TELNYX_CONVERSATION_ENDED
from telephony.tests.fake_telnyx import fake_telnyx  # noqa: F401 - fixture
from telephony.tests.test_telnyx_webhook import TO, dial

pytestmark = pytest.mark.django_db(transaction=True)


def reply_of(socket) -> tuple[str, dict | None]:
    """One reply's words (text frames until last: true), and an `end` frame if one follows."""
    words = []
    while True:
        frame = json.loads(socket.recv(timeout=10))
        assert frame["type"] == "text", frame
        if frame["last"]:
            break
        words.append(frame["token"])
    try:
        after = json.loads(socket.recv(timeout=0.5))
    except TimeoutError:
        after = None
    return "".join(words), after


def test_a_telnyx_call_talks_over_conversation_relay_and_ends_by_its_event(asgi_server, user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user, transport="relay", detect=False)
    fake_telnyx.send("call.answered", ccid)

    # The answer starts Conversation Relay with the agent's opening as its greeting.
    (start,) = fake_telnyx.commands("conversation_relay_start", ccid)
    assert start.json["url"].startswith(asgi_server.replace("http://", "ws://") + f"/telephony/telnyx/relay/{call.pk}/")
    assert "Sam from Acme" in start.json["greeting"]
    assert fake_telnyx.said(ccid) == []  # nothing spoken by command: the session speaks

    setup = {**TELNYX_SETUP, "callControlId": ccid, "callSid": ccid, "to": TO}
    with connect(start.json["url"], open_timeout=5) as socket:
        socket.send(json.dumps(setup))
        socket.send(json.dumps({"type": "prompt", "voicePrompt": "Yes, that's me.", "lang": "en", "last": True}))
        words, after = reply_of(socket)
        assert "How many people are on your team?" in words and after is None

        socket.send(json.dumps({"type": "dtmf", "digit": "9"}))  # stop calling me
        words, end = reply_of(socket)
        assert end["type"] == "end"

    # Telnyx tells us the session is over; what follows is said, then the call hangs up.
    body = {**TELNYX_CONVERSATION_ENDED["payload"], **fake_telnyx.payload(ccid)}
    assert fake_telnyx.send_event("call.conversation.ended", body).status_code == 200
    assert fake_telnyx.said(ccid), "the goodbye is said"
    fake_telnyx.finish_speaking(ccid)
    assert fake_telnyx.commands("hangup", ccid)

    fake_telnyx.send("call.hangup", ccid, hangup_cause="normal_clearing")
    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED and call.outcome == "do_not_call"
    assert DoNotCall.objects.filter(workspace=user.personal_workspace, phone_number=TO).exists()
    turns = list(call.turns.values_list("speaker", "text"))
    assert ("callee", "Yes, that's me.") in turns
    assert call.credits_charged > 0
