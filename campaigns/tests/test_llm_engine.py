"""The LLM engine against a local fake OpenAI-compatible server: prompts, tools, guards, failures."""

import json
import time

import pytest

from campaigns.conversation.engine import ConversationContext, engine_for
from campaigns.conversation.engine.base import Passage
from campaigns.conversation.engine.llm import (
    GOODBYE_TECHNICAL,
    HOLDING,
    MAX_HISTORY,
    WAIT,
    LLMEngine,
    limit_words,
    tools,
)
from campaigns.conversation.engine.scripted import GOODBYE_DNC, GOODBYE_END, GOODBYE_SILENT, ScriptedEngine
from campaigns.conversation.engine.wording import line
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
    assert {t["function"]["name"] for t in body["tools"]} == {
        "end_call",
        "set_outcome",
        "record_field",
        "schedule_callback",
        "do_not_call",
    }  # no transfer_call: this agent has no number to transfer to
    assert "stream" not in body
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
    assert reply.used_model is True


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


def test_a_timeout_says_a_holding_line_then_the_retry_answers(engine, ctx, fake_llm):
    fake_llm.reply("Too late.", delay=1.5).reply("Sorry for the wait. Is that you?")
    started(engine, ctx)

    held = engine.respond(ctx, "Hello?")

    assert held.say == WAIT == "One moment, please."
    assert held.hold and not held.end_call and held.outcome == ""
    assert held.used_model is False  # a holding line is not AI work: never charged
    assert fake_llm.calls == 1

    # The platform says the holding line and asks again at once, with no new speech.
    answered = engine.respond(ctx, "")

    assert answered.say == "Sorry for the wait. Is that you?" and not answered.hold and not answered.end_call
    assert answered.used_model is True
    assert fake_llm.calls == 2
    first, retry = fake_llm.requests
    assert retry["messages"] == first["messages"]  # the same question, not a silence
    assert retry["messages"][-1] == {"role": "user", "content": "Hello?"}
    assert [m["content"] for m in ctx.state["messages"]] == [
        "Hi Ann, this is Sam from Acme.",
        "Hello?",
        "Sorry for the wait. Is that you?",
    ]
    assert "retry" not in ctx.state and ctx.state["silences"] == 0


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_server_error_says_a_holding_line_then_the_retry_answers(engine, ctx, fake_llm, status):
    fake_llm.fail(status).reply("Here I am.")
    started(engine, ctx)
    assert engine.respond(ctx, "Hello?").hold
    reply = engine.respond(ctx, "")
    assert reply.say == "Here I am." and reply.used_model is True


def test_a_second_failure_ends_the_call_politely_as_a_technical_failure(engine, ctx, fake_llm):
    fake_llm.fail(503).reply("Too late.", delay=1.5)
    started(engine, ctx)
    t0 = time.monotonic()

    held = engine.respond(ctx, "Hello?")
    reply = engine.respond(ctx, "")

    assert time.monotonic() - t0 < 3
    assert held.hold and held.say == WAIT
    assert reply.end_call and not reply.hold and reply.say == GOODBYE_TECHNICAL
    assert reply.outcome == "technical_failure" and reply.used_model is False
    assert fake_llm.calls == 2


def test_an_unreachable_server_holds_once_then_ends_politely(settings, ctx):
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    settings.LLM_MODEL = "fake-model"
    settings.LLM_TIMEOUT_SECONDS = 0.5
    engine = LLMEngine()
    started(engine, ctx)
    assert engine.respond(ctx, "Hello?").hold
    reply = engine.respond(ctx, "")
    assert reply.end_call and reply.say == GOODBYE_TECHNICAL and reply.outcome == "technical_failure"


@pytest.mark.parametrize("status", [400, 401, 404])
def test_a_refused_request_ends_at_once_without_a_pointless_retry(engine, ctx, fake_llm, status):
    fake_llm.fail(status).reply("Never asked.")
    reply = engine.respond(started(engine, ctx), "Hello?")
    assert reply.end_call and not reply.hold and reply.outcome == "technical_failure"
    assert reply.used_model is False and fake_llm.calls == 1


def test_the_callee_speaking_again_after_a_holding_line_is_a_new_turn(engine, ctx, fake_llm):
    fake_llm.fail(500).reply("Yes, we open at nine.")
    started(engine, ctx)
    engine.respond(ctx, "Hello?")

    reply = engine.respond(ctx, "When do you open?")

    assert reply.say == "Yes, we open at nine."
    assert fake_llm.requests[-1]["messages"][-2:] == [
        {"role": "user", "content": "Hello?"},
        {"role": "user", "content": "When do you open?"},
    ]


def test_the_retry_still_gets_the_turns_knowledge_passages(engine, ctx, fake_llm):
    fake_llm.fail(500).reply("We open at nine.")
    started(engine, ctx)
    ctx.knowledge = [Passage(id=7, source="Clinic", text="Opening hours\n\nWe open at nine on Saturdays.")]
    engine.respond(ctx, "When do you open on Saturday?")

    retry_ctx = ConversationContext(agent=ctx.agent, variables=ctx.variables, state=ctx.state)  # as the platform
    engine.respond(retry_ctx, "")

    assert "(Clinic) Opening hours: We open at nine on Saturdays." in fake_llm.requests[1]["messages"][0]["content"]
    # The holding line used no passage; the answer on the retry used the one it repeats.
    assert ctx.knowledge == []
    assert [p.id for p in retry_ctx.knowledge] == [7]


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


@pytest.mark.parametrize(
    ("model", "choice", "expected"),
    [
        ("some-model", "", LLMEngine),
        ("some-model", "llm", LLMEngine),
        ("some-model", "scripted", ScriptedEngine),  # the agent overrides the deployment default
        ("", "", ScriptedEngine),
        ("", "scripted", ScriptedEngine),
        ("", "llm", ScriptedEngine),  # no model on this deployment: the agent runs scripted
    ],
)
def test_an_agent_can_override_the_deployment_engine(settings, model, choice, expected):
    settings.LLM_MODEL = model
    engine = engine_for(make_agent(engine=choice))
    assert type(engine) is expected
    assert engine.uses_model is (expected is LLMEngine)


def test_voicemail_needs_no_model(engine, ctx, fake_llm):
    reply = engine.voicemail(ctx)
    assert reply.say == "Hi Ann, Sam from Acme here." and reply.outcome == "voicemail"
    assert fake_llm.calls == 0


# --- The agent builder's settings in the prompt and the tools -------------------------------
def tool(body: dict, name: str) -> dict:
    return next(t["function"] for t in body["tools"] if t["function"]["name"] == name)


def builder_agent(**overrides) -> Agent:
    fields = {
        "persona": "You are Riley from Demo Dental, calling {{first_name}}. Be brief and warm.",
        "goal": "book a free check-up",
        "outcomes": [
            {"name": "booked", "description": "Agreed to a check-up date."},
            {"name": "not_interested", "description": "Said no to a check-up."},
        ],
        "capture_fields": [
            {"name": "preferred_time", "description": "When they would like to come in."},
            {"name": "budget", "description": "What they are ready to spend."},
        ],
        "transfer_number": "+14155550199",
        "transfer_when": "the callee wants to book today",
        "end_call_phrases": "Goodbye\nI have to go",
    }
    fields.update(overrides)
    return make_agent(**fields)


def test_the_prompt_carries_persona_goal_outcomes_fields_transfer_and_end_phrases(engine, fake_llm):
    ctx = ConversationContext(agent=builder_agent(), variables={"first_name": "Ann"})
    fake_llm.reply("Hello Ann!")
    engine.respond(started(engine, ctx), "Hi, who is this?")

    system = fake_llm.requests[0]["messages"][0]["content"]
    for expected in (
        "You are Riley from Demo Dental, calling Ann. Be brief and warm.",
        "The goal of this call: book a free check-up.",
        "- booked: Agreed to a check-up date.",
        "- not_interested: Said no to a check-up.",
        "- preferred_time: When they would like to come in.",
        "- budget: What they are ready to spend.",
        "when the callee wants to book today, use transfer_call",
        '"goodbye", "i have to go"',
        "at most 40 words",
    ):
        assert expected in system


def test_the_outcome_enum_is_the_agents_outcomes_and_the_general_ones(engine, fake_llm):
    ctx = ConversationContext(agent=builder_agent(), variables={})
    fake_llm.reply("Hello!")
    engine.respond(started(engine, ctx), "Hi")

    body = fake_llm.requests[0]
    enum = tool(body, "set_outcome")["parameters"]["properties"]["outcome"]["enum"]
    assert enum == ["booked", "not_interested", "call_back", "wrong_person", "do_not_call"]
    assert tool(body, "end_call")["parameters"]["properties"]["outcome"]["enum"] == enum
    assert (
        "booked = Agreed to a check-up date."
        in tool(body, "set_outcome")["parameters"]["properties"]["outcome"]["description"]
    )
    record = tool(body, "record_field")["parameters"]["properties"]["name"]
    assert record["enum"] == ["preferred_time", "budget"]
    transfer = tool(body, "transfer_call")
    assert "the callee wants to book today" in transfer["description"]


def test_an_agent_defined_outcome_is_recorded_and_an_unknown_one_refused(engine, fake_llm):
    ctx = started(engine, ConversationContext(agent=builder_agent(), variables={}))
    fake_llm.reply("Wonderful.", tools=[("set_outcome", {"outcome": "booked"})])
    fake_llm.reply("Okay.", tools=[("set_outcome", {"outcome": "interested"})])  # not one of this agent's
    fake_llm.reply(tools=[("end_call", {"outcome": "voicemail", "final_words": "Bye."})])  # the platform's only

    assert engine.respond(ctx, "Tuesday works.").outcome == "booked"
    assert engine.respond(ctx, "Sounds good.").outcome == ""
    last = engine.respond(ctx, "Bye.")
    assert last.end_call and last.outcome == ""
    assert ctx.state["outcome"] == "booked"  # what the call keeps


def test_record_field_uses_the_agents_capture_fields(engine, fake_llm):
    ctx = started(engine, ConversationContext(agent=builder_agent(), variables={}))
    fake_llm.reply(
        "Noted.",
        tools=[
            ("record_field", {"name": "preferred_time", "value": "Tuesday morning"}),
            ("record_field", {"name": "Budget", "value": "about 100 dollars"}),  # the model's own spelling
            ("record_field", {"name": "shoe_size", "value": "42"}),  # not a field of this agent
        ],
    )
    reply = engine.respond(ctx, "Tuesday morning, and about a hundred dollars.")
    assert reply.captured == {"preferred_time": "Tuesday morning", "budget": "about 100 dollars"}


def test_schedule_callback_records_when_and_sets_call_back(engine, ctx, fake_llm):
    fake_llm.reply(
        "Sure, I'll call you Tuesday at three.",
        tools=[
            (
                "schedule_callback",
                {"when": "Tuesday at 3 pm", "iso_time": "2026-12-01T15:00:00", "note": "Ask for the manager"},
            )
        ],
    )
    fake_llm.reply(tools=[("schedule_callback", {"when": "sometime next week", "iso_time": "next week-ish"})])
    fake_llm.reply("Talk then, goodbye!")
    started(engine, ctx)

    reply = engine.respond(ctx, "Can you call me back Tuesday at 3?")
    assert reply.outcome == "call_back" and not reply.end_call
    assert reply.captured == {
        "callback_time": "Tuesday at 3 pm",
        "callback_at": "2026-12-01T15:00",
        "callback_note": "Ask for the manager",
    }
    assert reply.say == "Sure, I'll call you Tuesday at three."

    # No exact time (the model's guess is not a date): only the callee's words; words asked for after.
    vague = engine.respond(ctx, "Actually, sometime next week.")
    assert vague.captured == {"callback_time": "sometime next week"} and vague.say == "Talk then, goodbye!"


def test_transfer_call_hands_over_to_the_agents_number(engine, fake_llm):
    ctx = started(engine, ConversationContext(agent=builder_agent(), variables={}))
    fake_llm.reply(tools=[("transfer_call", {"final_words": "Let me get a colleague for you."})])
    reply = engine.respond(ctx, "I want to book right now.")
    assert reply.transfer and reply.end_call and reply.outcome == "transferred"
    assert reply.say == "Let me get a colleague for you." and reply.used_model is True


def test_transfer_call_is_neither_offered_nor_obeyed_without_a_number(engine, ctx, fake_llm):
    fake_llm.reply("Someone will call you back.", tools=[("transfer_call", {"final_words": "Transferring."})])
    reply = engine.respond(started(engine, ctx), "Let me talk to a person.")
    assert not reply.transfer and not reply.end_call and reply.say == "Someone will call you back."
    assert "transfer_call" not in {t["function"]["name"] for t in fake_llm.requests[0]["tools"]}
    assert "You cannot transfer the call" in fake_llm.requests[0]["messages"][0]["content"]


def test_knowledge_passages_are_the_facts_the_model_may_use(engine, ctx, fake_llm):
    fake_llm.reply("We open at nine on Saturdays.")
    started(engine, ctx)
    ctx.knowledge = [
        Passage(
            id=1,
            source="Clinic facts",
            text="Clinic > Opening hours\n\nWe open at nine on Saturdays.\nClosed on Sundays.",
        ),
        Passage(id=2, source="Clinic facts", text="Parking is free behind the building."),
    ]
    engine.respond(ctx, "When do you open on Saturday?")

    system = fake_llm.requests[0]["messages"][0]["content"]
    facts = system.split("Facts you may use.")[1]
    assert "the ONLY facts you may state: never invent prices" in facts
    assert f"- {PRICE}" in facts
    assert "- (Clinic facts) Clinic > Opening hours: We open at nine on Saturdays. Closed on Sundays." in facts
    assert "- (Clinic facts) Parking is free behind the building." in facts


OPENING_HOURS = Passage(id=1, source="Clinic", text="Opening hours\n\nWe are open at nine on Saturdays.")
PARKING = Passage(id=2, source="Clinic", text="Parking\n\nParking is free behind the building.")


@pytest.mark.parametrize(
    ("said", "used"),
    [
        ("We open at nine on Saturdays.", [1]),
        ("Yes, from nine. And parking is free out back.", [1, 2]),
        ("I'm not sure about Saturdays, a colleague will follow up.", []),  # only the callee's own words
        ("Thanks! Are you the person who handles scheduling?", []),
    ],
)
def test_a_model_reply_keeps_only_the_passages_whose_words_it_repeats(engine, ctx, fake_llm, said, used):
    fake_llm.reply(said)
    started(engine, ctx)
    ctx.knowledge = [OPENING_HOURS, PARKING]

    engine.respond(ctx, "Are you open on Saturday?")

    assert [p.id for p in ctx.knowledge] == used


def test_the_platforms_own_lines_use_no_passage(engine, ctx, fake_llm):
    fake_llm.fail(500)
    started(engine, ctx)

    ctx.knowledge = [OPENING_HOURS]
    assert engine.respond(ctx, "Are you open at nine?").hold  # the holding line
    assert ctx.knowledge == []

    ctx.knowledge = [OPENING_HOURS]
    assert engine.respond(ctx, "Stop calling me, I said nine on Saturdays.").do_not_call
    assert ctx.knowledge == []


def test_the_prompt_asks_for_the_agents_language(engine, fake_llm):
    ctx = ConversationContext(agent=make_agent(language="de-DE"), variables={})
    fake_llm.reply("Guten Tag!")
    engine.respond(started(engine, ctx), "Hallo?")
    assert "Speak German only." in fake_llm.requests[0]["messages"][0]["content"]


# --- Stop-calling and end-call phrases: decided before the model is asked ---------------------
@pytest.mark.parametrize(
    ("language", "speech"),
    [
        ("en-US", "Please stop calling me."),
        ("en-US", "Don’t call this number again."),  # the apostrophe speech-to-text often writes
        ("en-GB", "Take me off your list, please."),
        ("es-ES", "Por favor, no me vuelva a llamar."),
        ("es-ES", "Deje de llamarme, gracias."),
        ("fr-FR", "Ne m'appelez plus, s'il vous plaît."),
        ("fr-FR", "Arrêtez de m’appeler !"),
        ("de-DE", "Bitte rufen Sie mich nicht mehr an."),
        ("de-DE", "Hören Sie auf, mich anzurufen."),
    ],
)
def test_stop_calling_in_every_language_lists_the_number_whatever_the_model_says(engine, fake_llm, language, speech):
    ctx = ConversationContext(agent=make_agent(language=language), variables={})
    fake_llm.reply("But we have a great offer!", tools=[("set_outcome", {"outcome": "interested"})])

    reply = engine.respond(started(engine, ctx), speech)

    assert reply.do_not_call and reply.end_call and reply.outcome == "do_not_call"
    assert reply.say == line("dnc", language)
    assert reply.used_model is False and fake_llm.calls == 0


def test_the_model_asked_to_continue_after_a_stop_request_is_never_asked(engine, ctx, fake_llm):
    fake_llm.reply("Sure, let's keep going!")
    started(engine, ctx)
    engine.respond(ctx, "Hmm, what is this about?")

    reply = engine.respond(ctx, "Whatever it is, remove me from your list.")

    assert reply.do_not_call and reply.say == GOODBYE_DNC
    assert fake_llm.calls == 1


def test_an_end_call_phrase_ends_politely_without_the_model(engine, fake_llm):
    ctx = started(engine, ConversationContext(agent=builder_agent(), variables={}))
    fake_llm.reply("Great, shall we book?", tools=[("set_outcome", {"outcome": "booked"})])
    engine.respond(ctx, "Sounds nice.")

    reply = engine.respond(ctx, "Sorry, I have to go now.")

    assert reply.end_call and reply.say == GOODBYE_END and reply.used_model is False
    assert reply.outcome == "booked"  # the outcome the call had reached stays
    assert fake_llm.calls == 1


@pytest.mark.parametrize(
    ("speech", "outcome"),
    [
        ("Okay, goodbye.", "call_back"),  # left before the goal, without declining it
        ("Not interested. Goodbye!", "not_interested"),
        ("Call me back later, goodbye.", "call_back"),
    ],
)
def test_the_outcome_of_an_end_call_phrase(engine, fake_llm, speech, outcome):
    ctx = started(engine, ConversationContext(agent=builder_agent(), variables={}))
    reply = engine.respond(ctx, speech)
    assert reply.end_call and reply.outcome == outcome and fake_llm.calls == 0


def test_end_call_phrases_match_whole_words_only(engine, fake_llm):
    ctx = started(engine, ConversationContext(agent=make_agent(end_call_phrases="bye"), variables={}))
    fake_llm.reply("Let bygones be bygones.")
    assert not engine.respond(ctx, "Let bygones be bygones.").end_call
    assert fake_llm.calls == 1


# --- Streaming --------------------------------------------------------------------------------
@pytest.fixture
def streaming(settings, fake_llm):
    settings.LLM_STREAM = True
    return fake_llm


def test_streamed_text_is_assembled(engine, ctx, streaming):
    streaming.reply("Great. How many people are on your team?")
    reply = engine.respond(started(engine, ctx), "Yes, that's me.")
    assert reply.say == "Great. How many people are on your team?" and reply.used_model is True
    assert streaming.requests[0]["stream"] is True


def test_streamed_tool_calls_are_assembled_from_their_pieces(engine, streaming):
    ctx = started(engine, ConversationContext(agent=builder_agent(), variables={}))
    streaming.reply(
        "Noted, Tuesday it is.",
        tools=[
            ("record_field", {"name": "preferred_time", "value": "Tuesday morning, before ten"}),
            ("set_outcome", {"outcome": "booked"}),
            ("schedule_callback", {"when": "Monday to confirm", "note": "Confirm the slot"}),
        ],
        interleave=True,  # argument pieces of the three calls arrive in turns
    )

    reply = engine.respond(ctx, "Tuesday morning, before ten.")

    assert reply.say == "Noted, Tuesday it is."
    assert reply.captured == {
        "preferred_time": "Tuesday morning, before ten",
        "callback_time": "Monday to confirm",
        "callback_note": "Confirm the slot",
    }
    assert reply.outcome == "call_back"  # the last outcome the model gave


def test_a_streamed_tool_call_without_words_gets_a_streamed_follow_up(engine, ctx, streaming):
    streaming.reply(tools=[("record_field", {"name": Q2, "value": "12"})]).reply("Got it, twelve people.")
    reply = engine.respond(started(engine, ctx), "About twelve.")
    assert reply.captured == {Q2: "12"} and reply.say == "Got it, twelve people."
    follow_up = streaming.requests[1]
    assert follow_up["stream"] is True and follow_up["tool_choice"] == "none"
    assert follow_up["messages"][-2]["tool_calls"][0]["function"] == {
        "name": "record_field",
        "arguments": json.dumps({"name": Q2, "value": "12"}),
    }


def test_a_streamed_end_call_ends_the_call(engine, ctx, streaming):
    streaming.reply(tools=[("end_call", {"outcome": "interested", "final_words": "Thanks Ann, goodbye!"})])
    reply = engine.respond(started(engine, ctx), "Twelve people.")
    assert reply.end_call and reply.outcome == "interested" and reply.say == "Thanks Ann, goodbye!"


def test_a_stream_too_slow_to_finish_holds_then_retries(engine, ctx, streaming):
    # Each chunk comes quickly enough for the read timeout, but the whole answer does not.
    streaming.reply("This answer trickles in far too slowly to be spoken.", chunk_delay=0.15)
    streaming.reply("Here I am.")
    started(engine, ctx)
    assert engine.respond(ctx, "Hello?").hold
    assert engine.respond(ctx, "").say == "Here I am."


def test_a_stream_that_breaks_off_holds_then_retries(engine, ctx, streaming):
    streaming.reply("Half an ans", stream_error=True).reply("Here I am.")
    started(engine, ctx)
    held = engine.respond(ctx, "Hello?")
    assert held.hold and held.say == WAIT
    assert engine.respond(ctx, "").say == "Here I am."


def test_a_stream_that_times_out_twice_ends_as_a_technical_failure(engine, ctx, streaming):
    streaming.reply("Late.", delay=1).reply("Late again.", delay=1)
    started(engine, ctx)
    assert engine.respond(ctx, "Hello?").hold
    reply = engine.respond(ctx, "")
    assert reply.end_call and reply.outcome == "technical_failure" and reply.used_model is False


def test_tools_without_an_agent_still_describe_every_function():
    assert [t["function"]["name"] for t in tools()] == [
        "end_call",
        "set_outcome",
        "record_field",
        "schedule_callback",
        "do_not_call",
    ]


# --- End to end ------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_simulated_campaign_with_the_llm_engine(live_server, settings, user, run_jobs, fake_llm):
    from campaigns.lifecycle import services
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


@pytest.mark.django_db
def test_a_slow_model_on_a_call_says_the_holding_line_and_redirects_then_answers_from_the_knowledge_base(
    client, settings, user, fake_llm
):
    """Through the carrier's webhooks (the simulated carrier speaks Twilio's wire format)."""
    from campaigns.conversation.knowledge import knowledge_add_text
    from campaigns.models import CallTurn
    from telephony.tests.test_webhooks import PUBLIC, answer, make_call, params, post, say_turn, turn_path, twiml

    settings.PUBLIC_BASE_URL = PUBLIC
    settings.SIMULATED_SIGNING_SECRET = "simulated-test-secret"
    call = make_call(user)
    knowledge_add_text(call.agent, "Opening hours", "We are open on Saturdays from 9 am to 1 pm.")
    knowledge_add_text(call.agent, "Parking", "Parking is free behind the building.")
    fake_llm.reply("Too late.", delay=1.5)  # slower than LLM_TIMEOUT_SECONDS (0.5)
    fake_llm.reply("We are open on Saturdays from 9 to 1.")
    twiml(answer(client, call))

    root = twiml(say_turn(client, call, 1, "Are you open on Saturdays?"))

    assert [verb.tag for verb in root] == ["Say", "Redirect"]
    assert root[0].text == WAIT
    assert root[1].text == PUBLIC + turn_path(call.pk, 2)

    # Twilio follows the redirect at once, with no speech.
    root = twiml(post(client, turn_path(call.pk, 2), params(CallStatus="in-progress")))

    [gather] = list(root)
    assert gather.tag == "Gather" and gather.get("action") == PUBLIC + turn_path(call.pk, 3)
    assert gather[0].text == "We are open on Saturdays from 9 to 1."
    assert fake_llm.calls == 2
    for request in fake_llm.requests:  # the right passage, on the first try and on the retry
        assert "(Opening hours) We are open on Saturdays from 9 am to 1 pm." in request["messages"][0]["content"]
    turns = list(call.turns.values_list("speaker", "text"))
    assert turns[1:] == [
        ("callee", "Are you open on Saturdays?"),
        ("agent", WAIT),
        ("agent", "We are open on Saturdays from 9 to 1."),
    ]  # no silence recorded for the redirect
    answer_turn = CallTurn.objects.get(call=call, text="We are open on Saturdays from 9 to 1.")
    assert answer_turn.passages[0]["source"] == "Opening hours"
    call.refresh_from_db()
    assert not call.engine_state["holding"] and call.is_live


@pytest.mark.django_db
def test_a_model_failing_twice_on_a_call_ends_it_as_a_technical_failure(client, settings, user, fake_llm):
    from campaigns.models import Call
    from telephony.tests.test_webhooks import PUBLIC, answer, make_call, params, post, say_turn, turn_path, twiml

    settings.PUBLIC_BASE_URL = PUBLIC
    settings.SIMULATED_SIGNING_SECRET = "simulated-test-secret"
    call = make_call(user)
    fake_llm.fail(503).fail(503)
    twiml(answer(client, call))

    assert [v.tag for v in twiml(say_turn(client, call, 1, "Hello?"))] == ["Say", "Redirect"]
    root = twiml(post(client, turn_path(call.pk, 2), params(CallStatus="in-progress")))

    assert [v.tag for v in root] == ["Say", "Hangup"] and root[0].text == GOODBYE_TECHNICAL
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.TECHNICAL_FAILURE
