"""The playground's Talk mode over a real socket (uvicorn, a `websockets` client): the browser plays
the carrier with the same frames a phone call's carrier sends; turns are recorded and charged
exactly as typed ones are; talking over the agent keeps only what was heard; only the
conversation's owner, from our own pages, can open the socket."""

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.urls import reverse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from billing import ledger
from billing.models import CreditHold
from campaigns.agents import playground_talk
from campaigns.agents.playground import playground_start
from campaigns.models import PlaygroundSession
from campaigns.tests.factories import make_agent
from campaigns.tests.fake_llm import fake_llm_fixture  # noqa: F401 - the `fake_llm` fixture

pytestmark = pytest.mark.django_db(transaction=True)

Q1 = "Are you the person who handles scheduling?"
STARTER = Decimal("100")
# The frames a carrier (here the browser) sends; the same shapes as Twilio's documentation.
SETUP = {
    "type": "setup",
    "sessionId": "playground",
    "callSid": "playground",
    "from": "browser",
    "to": "agent",
    "direction": "outbound-api",
    "customParameters": {},
}


def prompt(words: str) -> dict:
    return {"type": "prompt", "voicePrompt": words, "lang": "en-US", "last": True}


def talk_path(client, session) -> str:
    response = client.post(reverse("playground_talk_token", args=[session.agent_id, session.pk]))
    assert response.status_code == 200, response.content
    return response.json()["path"]


def open_talk(asgi_server, path: str, *, origin: str | None = None):
    return connect(asgi_server.replace("http://", "ws://") + path, origin=origin or asgi_server, open_timeout=5)


def reply_of(socket) -> tuple[list[str], dict | None]:
    """The text pieces of one reply (until last: true), and an `end` frame if one follows."""
    pieces = []
    while True:
        frame = json.loads(socket.recv(timeout=10))
        assert frame["type"] == "text", frame
        if frame["last"]:
            break
        pieces.append(frame["token"])
    try:
        after = json.loads(socket.recv(timeout=0.3))
    except TimeoutError:
        after = None
    return pieces, after


def balance(user) -> Decimal:
    return ledger.balance_of(workspace=user.personal_workspace).balance


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def test_talking_to_a_scripted_agent_records_each_turn_for_free(asgi_server, logged_in, user):
    agent = make_agent(user, name="Sam")
    session = playground_start(user.personal_workspace, agent)

    with open_talk(asgi_server, talk_path(logged_in, session)) as socket:
        socket.send(json.dumps(SETUP))
        socket.send(json.dumps(prompt("Yes, that's me.")))
        pieces, after = reply_of(socket)

    assert pieces and after is None
    session.refresh_from_db()
    assert [line["speaker"] for line in session.transcript[-2:]] == ["callee", "agent"]
    assert session.transcript[-2]["text"] == "Yes, that's me."
    assert session.transcript[-1]["text"] == "".join(pieces)
    assert session.captured[0][0] == Q1
    assert balance(user) == STARTER  # scripted turns are free


def test_an_ai_turn_streams_and_is_charged_once_and_the_end_says_what_a_call_would_do(
    asgi_server, logged_in, user, fake_llm
):
    agent = make_agent(user, name="Sam")  # the LLM engine: a model is configured
    session = playground_start(user.personal_workspace, agent)
    fake_llm.reply("Great. How many people are on your team?")

    with open_talk(asgi_server, talk_path(logged_in, session)) as socket:
        socket.send(json.dumps(SETUP))
        socket.send(json.dumps(prompt("Yes, that's me.")))
        pieces, after = reply_of(socket)
        assert "".join(pieces) == "Great. How many people are on your team?"
        assert after is None

        fake_llm.reply(tools=[("end_call", {"outcome": "interested", "final_words": "Thanks Alex, goodbye!"})])
        socket.send(json.dumps(prompt("About twelve.")))
        pieces, after = reply_of(socket)

    assert "".join(pieces) == "Thanks Alex, goodbye!"
    assert after["type"] == "end"
    assert json.loads(after["handoffData"]) == {"then": "hangup", "notice": "The agent would hang up here."}
    session.refresh_from_db()
    assert session.ended and session.outcome == "interested" and session.llm_turns_charged == 2
    assert balance(user) == STARTER - Decimal("1.0")
    assert not CreditHold.objects.filter(
        account__workspace=user.personal_workspace, status=CreditHold.Status.ACTIVE
    ).exists()


def test_without_credit_an_ai_turn_is_refused_in_words_and_nothing_is_recorded(asgi_server, logged_in, user, fake_llm):
    agent = make_agent(user, name="Sam")  # the LLM engine: a model is configured
    session = playground_start(user.personal_workspace, agent)
    ledger.credit_adjust(workspace=user.personal_workspace, amount=-STARTER, memo="Spent on calls", by=None)
    before = list(PlaygroundSession.objects.get(pk=session.pk).transcript)

    with open_talk(asgi_server, talk_path(logged_in, session)) as socket:
        socket.send(json.dumps(prompt("Yes, that's me.")))
        pieces, after = reply_of(socket)

    assert pieces == []
    assert after["type"] == "end" and "add credits" in json.loads(after["handoffData"])["error"]
    assert PlaygroundSession.objects.get(pk=session.pk).transcript == before
    assert fake_llm.calls == 0


def test_talking_over_the_agent_keeps_only_what_was_heard(asgi_server, logged_in, user, fake_llm):
    agent = make_agent(user, name="Sam")  # the LLM engine: a model is configured
    session = playground_start(user.personal_workspace, agent)
    fake_llm.reply("Great. Tell me, how many people are on your team, and where are they based?")

    with open_talk(asgi_server, talk_path(logged_in, session)) as socket:
        socket.send(json.dumps(prompt("Yes, that's me.")))
        reply_of(socket)
        socket.send(
            json.dumps(
                {"type": "interrupt", "utteranceUntilInterrupt": "Great. Tell me,", "durationUntilInterruptMs": 900}
            )
        )
        fake_llm.reply("Sure, about your team: how many people?")
        socket.send(json.dumps(prompt("Sorry, what was that?")))
        pieces, _ = reply_of(socket)

    session.refresh_from_db()
    agent_lines = [line for line in session.transcript if line["speaker"] == "agent"]
    assert agent_lines[-2]["text"] == "Great. Tell me," and agent_lines[-2]["interrupted"] is True
    assert agent_lines[-1]["text"] == "".join(pieces)
    assert session.transcript[-2] == {"speaker": "callee", "text": "Sorry, what was that?", "passages": []}


def test_only_the_owner_from_our_own_pages_can_open_the_socket(asgi_server, logged_in, user, client, settings):
    agent = make_agent(user, name="Sam")
    session = playground_start(user.personal_workspace, agent)
    path = talk_path(logged_in, session)

    refused = [
        path.replace(f"/talk/{session.pk}/", f"/talk/{session.pk + 1}/"),  # another conversation
        path.split("?")[0] + "?token=forged",
        path.split("?")[0],  # no token
    ]
    for wrong in refused:
        with pytest.raises(InvalidStatus):
            open_talk(asgi_server, wrong)
    with pytest.raises(InvalidStatus):
        open_talk(asgi_server, path, origin="https://evil.example")

    token = parse_qs(urlsplit(path).query)["token"][0]
    settings.RELAY_TOKEN_MAX_AGE_SECONDS = 0
    with pytest.raises(InvalidStatus):  # expired
        open_talk(asgi_server, path)
    assert signing.TimestampSigner(salt=playground_talk.TALK_SALT).unsign(token)  # it was a real token

    # Someone else's page cannot even ask for a token.
    client.logout()
    assert client.post(reverse("playground_talk_token", args=[agent.pk, session.pk])).status_code == 302
    session.refresh_from_db()
    assert len(session.transcript) == 1  # nothing happened to the conversation
