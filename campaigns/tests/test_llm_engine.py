"""The LLM engine against a local fake OpenAI-compatible server: prompts, tools, guards, failures."""

import json
import time

import pytest

from campaigns.engine import ConversationContext, engine_for
from campaigns.engine.llm import GOODBYE_TECHNICAL, HOLDING, MAX_HISTORY, LLMEngine, limit_words
from campaigns.engine.scripted import GOODBYE_DNC, GOODBYE_SILENT, ScriptedEngine
from campaigns.models import Agent
from campaigns.tests.fake_llm import fake_llm_fixture  # noqa: F401 - the `fake_llm` fixture

Q1 = "Are you the person who handles scheduling?"
Q2 = "How many people are on your team?"
PRICE = "Plans start at 49 dollars a month."


def make_agent(**overrides) -> Agent:
    fields = {
        "name": "Sam",
        "language": "en-US",
        "opening_line": "Hi {{first_name}}, this is Sam from Acme.",
        "questions": f"{Q1}\n{Q2}",
        "answers": f"price, cost | {PRICE}",
        "closing_line": "Thanks {{first_name}}, we will send you the details. Goodbye!",
        "voicemail_message": "Hi {{first_name}}, Sam from Acme here.",
        "max_call_seconds": 120,
    }
    fields.update(overrides)
    return Agent(**fields)


@pytest.fixture
def ctx():
    return ConversationContext(agent=make_agent(), variables={"first_name": "Ann", "company": "Bolt"})


@pytest.fixture
def engine(fake_llm):
    return LLMEngine()


def started(engine, ctx):
    engine.start(ctx)
    return ctx


def test_opening_line_is_filled_and_spoken_without_a_model_call(engine, ctx, fake_llm):
    reply = engine.start(ctx)
    assert reply.say == "Hi Ann, this is Sam from Acme."
    assert not reply.end_call and reply.outcome == ""
    assert fake_llm.calls == 0
    assert ctx.state["messages"] == [{"role": "assistant", "content": "Hi Ann, this is Sam from Acme."}]


def test_a_normal_turn_says_the_models_words_and_sends_prompt_and_tools(engine, ctx, fake_llm):
    fake_llm.reply("Great. How many people are on your team?")
    started(engine, ctx)

    reply = engine.respond(ctx, "Yes, that's me.")

    assert reply.say == "Great. How many people are on your team?"
    assert not reply.end_call
    body = fake_llm.requests[0]
    assert body["model"] == "fake-model"
    assert {t["function"]["name"] for t in body["tools"]} == {"end_call", "set_outcome", "record_field", "do_not_call"}
    system = body["messages"][0]
    assert system["role"] == "system"
    for expected in ("You are Sam", "calling Ann", Q1, Q2, PRICE, "never invent prices", "English"):
        assert expected.lower() in system["content"].lower()
    assert "Thanks Ann, we will send you the details. Goodbye!" in system["content"]
    assert body["messages"][1:] == [
        {"role": "assistant", "content": "Hi Ann, this is Sam from Acme."},
        {"role": "user", "content": "Yes, that's me."},
    ]
    assert ctx.state["messages"][-1] == {"role": "assistant", "content": reply.say}


def test_record_field_goes_into_captured(engine, ctx, fake_llm):
    fake_llm.reply("Thanks! How many people are on your team?", tools=[("record_field", {"name": Q1, "value": "yes"})])
    reply = engine.respond(started(engine, ctx), "Yes I am.")
    assert reply.captured == {Q1: "yes"}
    assert reply.say == "Thanks! How many people are on your team?"


def test_record_field_without_words_asks_the_model_once_more(engine, ctx, fake_llm):
    fake_llm.reply(tools=[("record_field", {"name": Q2, "value": "12"})]).reply("Got it, twelve people.")
    reply = engine.respond(started(engine, ctx), "About twelve.")
    assert reply.captured == {Q2: "12"}
    assert reply.say == "Got it, twelve people."
    follow_up = fake_llm.requests[1]["messages"]
    assert follow_up[-1]["role"] == "tool" and follow_up[-2]["tool_calls"][0]["function"]["name"] == "record_field"


def test_end_call_ends_with_the_outcome_and_final_words(engine, ctx, fake_llm):
    fake_llm.reply(tools=[("end_call", {"outcome": "interested", "final_words": "Thanks Ann, goodbye!"})])
    reply = engine.respond(started(engine, ctx), "Twelve people.")
    assert reply.end_call and reply.outcome == "interested"
    assert reply.say == "Thanks Ann, goodbye!"


def test_set_outcome_keeps_the_call_going(engine, ctx, fake_llm):
    fake_llm.reply("Sure, when suits you?", tools=[("set_outcome", {"outcome": "call_back"})])
    reply = engine.respond(started(engine, ctx), "Maybe later this week.")
    assert reply.outcome == "call_back" and not reply.end_call


def test_an_invalid_outcome_is_ignored(engine, ctx, fake_llm):
    fake_llm.reply("Okay.", tools=[("set_outcome", {"outcome": "sold_a_yacht"})])
    fake_llm.reply(tools=[("end_call", {"outcome": "technical_failure", "final_words": "Bye now."})])
    started(engine, ctx)
    first = engine.respond(ctx, "Hmm.")
    assert first.outcome == "" and first.say == "Okay."
    second = engine.respond(ctx, "Bye.")
    assert second.end_call and second.outcome == "" and second.say == "Bye now."


def test_model_do_not_call_tool_lists_the_number(engine, ctx, fake_llm):
    fake_llm.reply("Sure thing!", tools=[("do_not_call", {})])
    reply = engine.respond(started(engine, ctx), "I'd rather you didn't ring again.")
    assert reply.do_not_call and reply.end_call and reply.outcome == "do_not_call"
    assert reply.say == GOODBYE_DNC


def test_stop_calling_ends_with_dnc_without_asking_the_model(engine, ctx, fake_llm):
    fake_llm.reply("Oh, but we have a great offer for you!")
    reply = engine.respond(started(engine, ctx), "Please stop calling me.")
    assert reply.do_not_call and reply.end_call and reply.outcome == "do_not_call"
    assert reply.say == GOODBYE_DNC
    assert fake_llm.calls == 0


def test_two_silences_in_a_row_end_the_call(engine, ctx, fake_llm):
    fake_llm.reply("Are you still there?")
    started(engine, ctx)
    first = engine.respond(ctx, "")
    assert first.say == "Are you still there?" and not first.end_call
    second = engine.respond(ctx, "")
    assert second.end_call and second.outcome == "no_response" and second.say == GOODBYE_SILENT
    assert fake_llm.calls == 1


def test_a_timeout_is_retried_once(engine, ctx, fake_llm):
    fake_llm.reply("Too late.", delay=1.5).reply("Sorry for the wait. Is that you?")
    reply = engine.respond(started(engine, ctx), "Hello?")
    assert reply.say == "Sorry for the wait. Is that you?" and not reply.end_call
    assert fake_llm.calls == 2


def test_a_server_error_is_retried_once(engine, ctx, fake_llm):
    fake_llm.fail(500).reply("Here I am.")
    reply = engine.respond(started(engine, ctx), "Hello?")
    assert reply.say == "Here I am."


def test_two_failures_end_the_call_politely(engine, ctx, fake_llm):
    fake_llm.fail(503).reply("Too late.", delay=1.5)
    t0 = time.monotonic()
    reply = engine.respond(started(engine, ctx), "Hello?")
    assert time.monotonic() - t0 < 3
    assert reply.end_call and reply.say == GOODBYE_TECHNICAL
    assert reply.outcome == "technical_failure"
    assert fake_llm.calls == 2


def test_an_unreachable_server_ends_the_call_politely(settings, ctx):
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    settings.LLM_MODEL = "fake-model"
    settings.LLM_TIMEOUT_SECONDS = 0.5
    engine = LLMEngine()
    reply = engine.respond(started(engine, ctx), "Hello?")
    assert reply.end_call and reply.say == GOODBYE_TECHNICAL and reply.outcome == "technical_failure"


def test_an_empty_answer_gets_a_holding_line(engine, ctx, fake_llm):
    fake_llm.reply(None).reply("", tools=[("unknown_tool", {})])
    started(engine, ctx)
    assert engine.respond(ctx, "What?").say == HOLDING
    assert engine.respond(ctx, "What?").say == HOLDING


def test_long_replies_are_cut_at_a_sentence_boundary(engine, ctx, fake_llm):
    sentence = "This sentence has exactly ten words in it, I promise."
    fake_llm.reply(" ".join([sentence] * 6))
    reply = engine.respond(started(engine, ctx), "Tell me everything.")
    assert reply.say == " ".join([sentence] * 4)
    assert limit_words("word " * 60).count(" ") == 39


def test_history_is_bounded_and_json_serialisable(engine, ctx, fake_llm):
    started(engine, ctx)
    for i in range(30):
        fake_llm.reply(f"Answer {i}.")
        engine.respond(ctx, f"Question {i}?")
    messages = ctx.state["messages"]
    assert len(messages) == MAX_HISTORY
    assert messages[-1] == {"role": "assistant", "content": "Answer 29."}
    assert json.loads(json.dumps(ctx.state)) == ctx.state
    assert len(fake_llm.requests[-1]["messages"]) == 1 + MAX_HISTORY  # the system prompt + the bounded history


def test_engine_for_picks_the_llm_engine_only_when_a_model_is_set(settings):
    settings.LLM_MODEL = ""
    assert isinstance(engine_for(make_agent()), ScriptedEngine)
    settings.LLM_MODEL = "some-model"
    assert isinstance(engine_for(make_agent()), LLMEngine)


def test_voicemail_needs_no_model(engine, ctx, fake_llm):
    reply = engine.voicemail(ctx)
    assert reply.say == "Hi Ann, Sam from Acme here." and reply.outcome == "voicemail"
    assert fake_llm.calls == 0


# --- End to end ------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_simulated_campaign_with_the_llm_engine(live_server, settings, user, run_jobs, fake_llm):
    from campaigns import services
    from campaigns.models import Call, Campaign
    from campaigns.tests.factories import make_campaign

    settings.PUBLIC_BASE_URL = live_server.url
    fake_llm.reply(
        "Great to hear. How many people are on your team?", tools=[("record_field", {"name": Q1, "value": "yes"})]
    )
    fake_llm.reply(
        tools=[("end_call", {"outcome": "interested", "final_words": "Lovely, Person0, details follow. Bye!"})]
    )
    campaign = make_campaign(user, ["+12025550101"], concurrency=1)  # a fictional, interested callee

    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    call = Call.objects.get(campaign=campaign)
    assert call.outcome == Call.Outcome.INTERESTED
    turns = list(call.turns.values_list("speaker", "text"))
    assert turns[0] == ("agent", "Hi Person0, this is Sam from Acme.")
    assert [s for s, _ in turns] == ["agent", "callee", "agent", "callee", "agent"]
    assert turns[2][1] == "Great to hear. How many people are on your team?"
    assert turns[-1][1] == "Lovely, Person0, details follow. Bye!"
    assert call.captured == [[Q1, "yes"]]
    assert fake_llm.calls == 2
