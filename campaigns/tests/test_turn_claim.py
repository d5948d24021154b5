"""A turn's claim: one short statement locks the call and reads what the step needs, and the
agent comes from a cache of the process that a change to the agent never outlives.

What a person notices: an agent edited during a call speaks its new lines from the next turn on;
a knowledge base filled during a call is searched from the next turn on; a contact removed
during a call does not break it. What an operator notices: a turn costs a fixed, small number of
round trips to PostgreSQL (see docs/benchmarks.md for what each costs).
"""

import threading
import time

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from campaigns.calls.services import call_answered, call_turn
from campaigns.conversation.knowledge import knowledge_add_text
from campaigns.models import Agent, Call, CallTurn
from campaigns.tests.fake_llm import fake_llm_fixture  # noqa: F401 - the `fake_llm` fixture
from telephony.providers.base import TurnInput
from telephony.tests.test_webhook_connections import pooled_fixture  # noqa: F401 - the `pooled` fixture
from telephony.tests.test_webhooks import make_call

Q1 = "Are you the person who handles scheduling?"
Q2 = "How many people are on your team?"


def say(call, turn: int, speech: str):
    return call_turn(turn=TurnInput(call_id=call.pk, turn=turn, speech=speech))


@pytest.fixture
def call(user):
    call = make_call(user, questions=f"{Q1}\n{Q2}\nWhat do you use today?")
    assert call_answered(call_id=call.pk, answered_by="human").then == "listen"
    return call


@pytest.mark.django_db(transaction=True)
def test_a_scripted_turn_is_one_lock_one_insert_one_update(call):
    """BEGIN, the lock (call, contact and the agent's version in one SELECT), both lines in one
    INSERT, the call's state in one UPDATE, COMMIT: nothing else, the agent being known."""
    with CaptureQueriesContext(connection) as queries:
        step = say(call, 1, "Yes, that's me.")
    assert step.say.endswith(Q2)
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["BEGIN", "SELECT", "INSERT", "UPDATE", "COMMIT"]
    assert "FOR UPDATE" in queries.captured_queries[1]["sql"]
    assert list(call.turns.order_by("sequence").values_list("speaker", "text"))[1:] == [
        ("callee", "Yes, that's me."),
        ("agent", step.say),
    ]


@pytest.mark.django_db(transaction=True)
def test_an_agent_edited_during_a_call_speaks_its_new_lines_from_the_next_turn(call):
    say(call, 1, "Yes, that's me.")  # the agent is now in this process's cache
    agent = Agent.objects.get(pk=call.agent_id)
    agent.questions = f"{Q1}\n{Q2}\nWhich calendar do you use?"
    agent.save()
    step = say(call, 2, "About twenty people.")
    assert step.say.endswith("Which calendar do you use?")


@pytest.mark.django_db(transaction=True)
def test_a_knowledge_base_filled_during_a_call_is_searched_from_the_next_turn(call):
    say(call, 1, "Yes, that's me.")  # cached while the agent had no passages
    agent = Agent.objects.get(pk=call.agent_id)
    knowledge_add_text(agent, "Pricing", "## Parking\n\nVisitors park free in the garage on Elm Street.")
    say(call, 2, "Where do visitors park, by the way?")
    line = CallTurn.objects.filter(call=call, speaker=CallTurn.Speaker.AGENT).order_by("-sequence").first()
    assert [p["source"] for p in line.passages] == ["Pricing"]
    assert "garage on Elm Street" in line.passages[0]["text"]


@pytest.mark.django_db(transaction=True)
def test_a_call_whose_contact_was_removed_goes_on(call):
    call.contact.delete()
    step = say(call, 1, "Yes, that's me.")
    assert step.then == "listen" and step.say.endswith(Q2)
    assert Call.objects.get(pk=call.pk).engine_state["turn"] == 2


@pytest.mark.django_db(transaction=True)
def test_while_the_model_thinks_the_turn_holds_no_database_connection(pooled, user, fake_llm, settings):
    """With a pool of one connection, another request is served while a turn waits for the
    model: the turn gave its connection back for the thinking and takes one again to answer."""
    settings.LLM_TIMEOUT_SECONDS = 5.0
    connections.settings["default"]["OPTIONS"]["pool"].update(min_size=1, max_size=1, timeout=3)
    connection.close_pool()  # made again with those sizes
    call = make_call(user)
    assert call_answered(call_id=call.pk, answered_by="human").then == "listen"
    thinking = threading.Event()
    fake_llm.reply("Twenty people, lovely. Do mornings suit you?", gate=thinking)
    connection.close()  # the test's own connection back in the pool
    box = {}

    def turn():
        try:
            box["step"] = say(call, 1, "About twenty people.")
        finally:
            connection.close()

    thread = threading.Thread(target=turn)
    thread.start()
    try:
        assert fake_llm.arrived.wait(5) and wait_until(lambda: fake_llm.calls == 1)
        # The pool's one connection serves this thread while the model thinks.
        assert Call.objects.get(pk=call.pk).engine_state["thinking"]["turn"] == 1
        connection.close()
    finally:
        thinking.set()
        thread.join(10)
    assert box["step"].say == "Twenty people, lovely. Do mornings suit you?"


def wait_until(condition, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
