"""A turn of a call has one hard deadline, and nothing is locked while the model thinks.

Twilio waits 15 s for a turn webhook's answer and then gives up on the call. A turn may ask the
model twice (a tool call, then its words), and a streamed answer can stall between chunks: each
request's own timeout is not enough. Every turn therefore has one deadline across all its model
requests and its knowledge search (TURN_DEADLINE_SECONDS), after which the callee hears the
holding line (or, on the retry after it, the polite goodbye).

While the model thinks, no transaction is open and the call row is not locked: the callee's
hang-up is applied at once, and a repeated webhook for the same turn waits for the answer
instead of asking the model a second time.
"""

import threading
import time

import pytest
from django.db import connection, transaction
from django.db.utils import OperationalError

from campaigns.calls.services import call_turn
from campaigns.conversation.engine import ConversationContext
from campaigns.conversation.engine.llm import GOODBYE_TECHNICAL, WAIT, LLMEngine
from campaigns.models import Call, CallTurn, DoNotCall
from campaigns.tests.fake_llm import fake_llm_fixture  # noqa: F401 - the `fake_llm` fixture
from campaigns.tests.test_llm_engine import make_agent
from telephony.providers.base import TurnInput
from telephony.tests.test_webhooks import PUBLIC, answer, make_call, say_turn, status, twiml

# Generous margins: the machine may be busy; the behaviour (holding line vs. the late words) is
# what these tests check, the clock only bounds how long the test may take.
SLACK = 0.6


@pytest.fixture(autouse=True)
def signed_webhooks(settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.SIMULATED_SIGNING_SECRET = "simulated-test-secret"


@pytest.fixture
def deadline(settings):
    settings.TURN_DEADLINE_SECONDS = 1.0
    settings.LLM_TIMEOUT_SECONDS = 3.0  # each request alone would be allowed far longer than the turn
    return 1.0


def started_context():
    engine = LLMEngine()
    ctx = ConversationContext(agent=make_agent(), variables={"first_name": "Ann"})
    engine.start(ctx)
    return engine, ctx


def timed(fn):
    began = time.monotonic()
    result = fn()
    return result, time.monotonic() - began


def test_a_tool_call_and_its_slow_follow_up_share_one_deadline(fake_llm, deadline):
    fake_llm.reply(tools=[("record_field", {"name": "team size", "value": "12"})], delay=0.6)
    fake_llm.reply("Twelve people, lovely. Do mornings suit you?", delay=0.7)
    engine, ctx = started_context()

    reply, took = timed(lambda: engine.respond(ctx, "We are twelve."))

    assert reply.say == WAIT and reply.hold  # not the late words
    assert reply.captured == {"team size": "12"}  # what the first answer recorded is kept
    assert took < deadline + SLACK


def test_a_stream_that_stalls_is_cut_off_at_the_deadline(settings, fake_llm, deadline):
    settings.LLM_STREAM = True
    fake_llm.reply("Sure, I can tell you all about our opening hours today.", stall=4)
    engine, ctx = started_context()

    reply, took = timed(lambda: engine.respond(ctx, "When are you open?"))

    assert reply.say == WAIT and reply.hold
    assert took < deadline + SLACK


def test_the_retry_after_the_holding_line_ends_politely_at_its_deadline(settings, fake_llm, deadline):
    settings.LLM_STREAM = True
    fake_llm.reply("late", stall=4).reply("late again", stall=4)
    engine, ctx = started_context()
    assert engine.respond(ctx, "When are you open?").hold

    reply, took = timed(lambda: engine.respond(ctx, ""))

    assert reply.say == GOODBYE_TECHNICAL and reply.end_call
    assert took < deadline + SLACK


def test_a_turn_webhook_answers_within_the_deadline_with_a_slow_model(client, user, fake_llm, deadline, db):
    call = make_call(user)
    fake_llm.reply(tools=[("set_outcome", {"outcome": "not_interested"})], delay=0.7)
    fake_llm.reply("Words that come too late.", delay=0.7)
    twiml(answer(client, call))

    root, took = timed(lambda: twiml(say_turn(client, call, 1, "Not really interested.")))

    assert [verb.tag for verb in root] == ["Say", "Redirect"] and root[0].text == WAIT
    assert took < deadline + SLACK


# --- no lock while the model thinks ---------------------------------------------------------------


def think_in_background(call, speech: str, turn: int = 1):
    """Run the turn in another thread (with its own database connection); returns (thread, box)."""
    box = {}

    def run():
        try:
            box["step"] = call_turn(turn=TurnInput(call_id=call.pk, turn=turn, speech=speech))
        except Exception as exc:  # surfaced by the test
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def call_row_is_free(call) -> bool:
    try:
        with transaction.atomic():
            Call.objects.select_for_update(nowait=True).get(pk=call.pk)
        return True
    except OperationalError:
        return False


def no_open_transaction_but_ours() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_nothing_is_locked_while_the_model_thinks_and_a_hang_up_is_applied_at_once(client, user, fake_llm, settings):
    settings.TURN_DEADLINE_SECONDS = 10
    settings.LLM_TIMEOUT_SECONDS = 10
    gate = threading.Event()
    fake_llm.reply("Great, the team is twelve then.", gate=gate)
    call = make_call(user)
    twiml(answer(client, call))

    thread, box = think_in_background(call, "We are twelve.")
    try:
        assert fake_llm.arrived.wait(5), "the model was never asked"
        assert call_row_is_free(call)
        assert no_open_transaction_but_ours()
        # The callee hangs up while the model thinks: applied at once, not after the model.
        response, took = timed(lambda: status(client, call, "completed", CallDuration="9"))
        assert response.status_code in (200, 204) and took < 2
        assert Call.objects.get(pk=call.pk).status == Call.Status.COMPLETED
    finally:
        gate.set()
        thread.join(10)
    assert "error" not in box, box.get("error")
    assert box["step"].then == "hangup"  # nobody left to say it to
    texts = list(CallTurn.objects.filter(call=call).values_list("speaker", "text"))
    assert ("callee", "We are twelve.") in texts
    assert ("agent", "Great, the team is twelve then.") not in texts  # never said, so not in the transcript


@pytest.mark.django_db(transaction=True)
def test_a_stop_request_the_model_heard_is_kept_even_if_the_callee_hung_up_meanwhile(client, user, fake_llm, settings):
    settings.TURN_DEADLINE_SECONDS = 10
    settings.LLM_TIMEOUT_SECONDS = 10
    gate = threading.Event()
    fake_llm.reply(tools=[("do_not_call", {})], gate=gate)
    call = make_call(user)
    twiml(answer(client, call))

    thread, box = think_in_background(call, "My wife handles all that, and she would hate this.")
    try:
        assert fake_llm.arrived.wait(5)
        assert status(client, call, "completed", CallDuration="9").status_code in (200, 204)
    finally:
        gate.set()
        thread.join(10)
    assert "error" not in box, box.get("error")
    assert DoNotCall.objects.filter(workspace=user.personal_workspace, phone_number=call.to_number).exists()
    assert Call.objects.get(pk=call.pk).outcome == "do_not_call"


@pytest.mark.django_db(transaction=True)
def test_a_repeated_turn_webhook_waits_for_the_answer_and_the_model_is_asked_once(client, user, fake_llm, settings):
    settings.TURN_DEADLINE_SECONDS = 10
    settings.LLM_TIMEOUT_SECONDS = 10
    gate = threading.Event()
    fake_llm.reply("Twelve, noted. Do mornings suit you?", gate=gate)
    call = make_call(user)
    twiml(answer(client, call))

    first, first_box = think_in_background(call, "We are twelve.")
    assert fake_llm.arrived.wait(5)
    second, second_box = think_in_background(call, "We are twelve.")
    time.sleep(0.3)
    gate.set()
    first.join(10)
    second.join(10)

    assert "error" not in first_box and "error" not in second_box
    assert first_box["step"].say == second_box["step"].say == "Twelve, noted. Do mornings suit you?"
    assert second_box["step"].replayed
    assert fake_llm.calls == 1
    callee_lines = CallTurn.objects.filter(call=call, speaker="callee").values_list("text", flat=True)
    assert list(callee_lines) == ["We are twelve."]  # recorded once


@pytest.mark.django_db(transaction=True)
def test_a_machine_verdict_while_the_model_thinks_wins_and_the_late_reply_is_dropped(client, user, fake_llm, settings):
    from campaigns.calls.services import call_machine_detected

    settings.TURN_DEADLINE_SECONDS = 10
    settings.LLM_TIMEOUT_SECONDS = 10
    gate = threading.Event()
    fake_llm.reply("Sorry, could you say that again?", gate=gate)
    call = make_call(user)
    twiml(answer(client, call))

    # The speech recogniser heard the greeting as words, and the model is asked about them...
    thread, box = think_in_background(call, "You have reached the Smiths, leave a message.")
    try:
        assert fake_llm.arrived.wait(5)
        # ...when the carrier says it was a machine whose greeting has ended.
        with transaction.atomic():
            voicemail = call_machine_detected(call_id=call.pk, answered_by="machine", greeting_ended=True)
    finally:
        gate.set()
        thread.join(10)
    assert "error" not in box, box.get("error")
    assert box["step"].say == voicemail.say and box["step"].then == "hangup"
    call.refresh_from_db()
    assert call.engine_state["last_step"]["say"] == voicemail.say
    agent_lines = list(CallTurn.objects.filter(call=call, speaker="agent").values_list("text", flat=True))
    assert "Sorry, could you say that again?" not in agent_lines
