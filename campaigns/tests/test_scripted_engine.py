"""The scripted conversation engine: what the agent says back, turn by turn, and how each call ends."""

import pytest

from campaigns.engine import ConversationContext, engine_for
from campaigns.engine.scripted import (
    GOODBYE_DNC,
    GOODBYE_LATER,
    GOODBYE_NOT_INTERESTED,
    GOODBYE_SILENT,
    ScriptedEngine,
    parse_answers,
    parse_questions,
)
from campaigns.models import Agent

Q1 = "Are you the person who handles scheduling?"
Q2 = "How many people are on your team?"
PRICE = "Plans start at 49 dollars a month."
TRIAL = "You can try it free for 14 days."


def make_agent(**overrides) -> Agent:
    """An unsaved agent: the engine only reads its text fields."""
    fields = {
        "name": "Sales assistant",
        "opening_line": "Hi {{first_name}}, this is Sam from Acme.",
        "questions": f"{Q1}\n\n  {Q2}  \n",
        "answers": f"price, cost, how much | {PRICE}\nfree trial, trial | {TRIAL}\nthis line has no separator",
        "closing_line": "Thanks {{first_name}}, we will send the details to {{company}}. Goodbye!",
        "voicemail_message": "Hi {{first_name}}, Sam from Acme here. Call us back at {{callback}}.",
        "max_call_seconds": 120,
    }
    fields.update(overrides)
    return Agent(**fields)


def context(agent=None, **variables) -> ConversationContext:
    return ConversationContext(agent=agent or make_agent(), variables=variables)


@pytest.fixture
def engine():
    return ScriptedEngine()


def test_engine_for_any_agent_is_the_scripted_engine():
    assert isinstance(engine_for(make_agent()), ScriptedEngine)


# --- Opening ---------------------------------------------------------------------------
def test_opening_line_fills_first_name_and_asks_the_first_question(engine):
    ctx = context(first_name="Ann")

    reply = engine.start(ctx)

    assert reply.say == f"Hi Ann, this is Sam from Acme. {Q1}"
    assert not reply.end_call
    assert reply.outcome == ""
    assert ctx.state == {"question": 0, "silences": 0}


def test_unknown_variables_become_empty_never_raw_braces(engine):
    agent = make_agent(opening_line="Hello {{ first_name }} from {{company}}, about {{no_such_column}} today.")
    ctx = context(agent, first_name="Ann")

    reply = engine.start(ctx)

    assert "{{" not in reply.say and "}}" not in reply.say
    assert reply.say.startswith("Hello Ann from , about today.")


def test_missing_first_name_leaves_no_braces(engine):
    reply = engine.start(context())

    assert "{" not in reply.say
    assert "this is Sam from Acme." in reply.say


def test_variables_from_extra_csv_columns_are_filled(engine):
    agent = make_agent(opening_line="Hi {{first_name}}, calling about {{company_name}}'s renewal.")

    reply = engine.start(context(agent, first_name="Ann", company_name="Acme Inc"))

    assert reply.say.startswith("Hi Ann, calling about Acme Inc's renewal.")


def test_agent_without_questions_just_opens(engine):
    agent = make_agent(questions="")

    reply = engine.start(context(agent, first_name="Ann"))

    assert reply.say == "Hi Ann, this is Sam from Acme."
    assert not reply.end_call


# --- Questions -------------------------------------------------------------------------
def test_questions_are_asked_in_order_and_answers_captured(engine):
    ctx = context(first_name="Ann", company="Acme Inc")
    engine.start(ctx)

    first = engine.respond(ctx, "Yes, that's me.")
    assert first.say == f"Thank you. {Q2}"
    assert first.captured == {Q1: "Yes, that's me."}
    assert not first.end_call

    second = engine.respond(ctx, "About twelve of us.")
    assert second.captured == {Q2: "About twelve of us."}
    assert second.end_call
    assert second.outcome == "interested"
    assert second.say == "Thanks Ann, we will send the details to Acme Inc. Goodbye!"
    assert not second.do_not_call


def test_engine_state_survives_a_round_trip(engine):
    """The state is saved on the call between turns; a fresh context with it continues the script."""
    ctx = context(first_name="Ann")
    engine.start(ctx)
    engine.respond(ctx, "Yes.")
    saved = dict(ctx.state)

    resumed = ConversationContext(agent=ctx.agent, variables={"first_name": "Ann"}, state=saved)
    reply = engine.respond(resumed, "Five people.")

    assert reply.captured == {Q2: "Five people."}
    assert reply.end_call and reply.outcome == "interested"


def test_parse_questions_skips_blank_lines():
    assert parse_questions(f"{Q1}\n\n   \n {Q2} \n") == [Q1, Q2]
    assert parse_questions("") == []


def test_parse_answers_ignores_lines_without_separator():
    pairs = parse_answers(f"Price, COST | {PRICE}\nno separator here\n | orphan answer\nempty answer |\n")

    assert pairs == [({"price", "cost"}, PRICE)]


# --- FAQ answers -----------------------------------------------------------------------
def test_faq_keyword_answers_then_repeats_the_current_question(engine):
    ctx = context(first_name="Ann")
    engine.start(ctx)

    reply = engine.respond(ctx, "Hang on, how much does it cost?")

    assert reply.say == f"{PRICE} {Q1}"
    assert not reply.end_call
    assert reply.captured == {}
    assert ctx.state["question"] == 0  # the question is still open

    answered = engine.respond(ctx, "Yes I do the scheduling.")
    assert answered.captured == {Q1: "Yes I do the scheduling."}


def test_faq_keywords_match_whole_words_and_phrases(engine):
    ctx = context()
    engine.start(ctx)

    assert engine.respond(ctx, "Is there a FREE TRIAL?").say.startswith(TRIAL)
    # "costume" contains "cost" but is not the word "cost": it answers the question instead.
    reply = engine.respond(ctx, "I'm wearing a costume")
    assert reply.captured == {Q1: "I'm wearing a costume"}


def test_faq_after_the_last_question_closes_the_call(engine):
    ctx = context(first_name="Ann", company="Acme")
    engine.start(ctx)
    engine.respond(ctx, "Yes.")
    engine.respond(ctx, "Ten.")  # script finished; a stray FAQ afterwards still ends politely

    reply = engine.respond(ctx, "What's the price again?")

    assert reply.end_call and reply.outcome == "interested"
    assert reply.say.startswith(PRICE)
    assert reply.say.endswith("Thanks Ann, we will send the details to Acme. Goodbye!")


# --- Ending intents --------------------------------------------------------------------
@pytest.mark.parametrize(
    "speech",
    [
        "Stop calling me",
        "Please remove me from your list",
        "Don't call this number again",
        "Put me on your do-not-call list",
        "take me off your list",
    ],
)
def test_asking_to_stop_ends_the_call_as_do_not_call(engine, speech):
    ctx = context(first_name="Ann")
    engine.start(ctx)

    reply = engine.respond(ctx, speech)

    assert reply.end_call
    assert reply.outcome == "do_not_call"
    assert reply.do_not_call is True
    assert reply.say == GOODBYE_DNC


def test_stop_request_wins_over_faq_keywords(engine):
    ctx = context()
    engine.start(ctx)

    reply = engine.respond(ctx, "I don't care what it costs, stop calling me")

    assert reply.outcome == "do_not_call" and reply.do_not_call


@pytest.mark.parametrize("speech", ["Not interested", "No thanks.", "Honestly, this is not for me"])
def test_not_interested_ends_politely(engine, speech):
    ctx = context()
    engine.start(ctx)

    reply = engine.respond(ctx, speech)

    assert reply.end_call
    assert reply.outcome == "not_interested"
    assert not reply.do_not_call
    assert reply.say == GOODBYE_NOT_INTERESTED


@pytest.mark.parametrize("speech", ["Call me back later", "It's a bad time, I'm in a meeting", "Call me tomorrow"])
def test_call_back_later_ends_as_call_back(engine, speech):
    ctx = context()
    engine.start(ctx)

    reply = engine.respond(ctx, speech)

    assert reply.end_call
    assert reply.outcome == "call_back"
    assert not reply.do_not_call
    assert reply.say == GOODBYE_LATER


def test_one_silence_repeats_the_question_two_end_the_call(engine):
    ctx = context()
    engine.start(ctx)

    first = engine.respond(ctx, "")
    assert not first.end_call
    assert first.say == f"Sorry, I didn't catch that. {Q1}"

    second = engine.respond(ctx, "")
    assert second.end_call
    assert second.outcome == "no_response"
    assert second.say == GOODBYE_SILENT
    assert not second.do_not_call


def test_only_silences_in_a_row_end_the_call(engine):
    ctx = context()
    engine.start(ctx)
    assert not engine.respond(ctx, "").end_call
    assert not engine.respond(ctx, "Yes, that's me").end_call
    assert not engine.respond(ctx, "").end_call


def test_silence_after_the_last_question_checks_the_callee_is_there(engine):
    agent = make_agent(questions="")
    ctx = context(agent)
    engine.start(ctx)

    reply = engine.respond(ctx, "")

    assert reply.say == "Sorry, I didn't catch that. Are you still there?"
    assert not reply.end_call


# --- Voicemail -------------------------------------------------------------------------
def test_voicemail_leaves_the_filled_in_message_and_ends(engine):
    reply = engine.voicemail(context(first_name="Ann"))

    assert reply.end_call
    assert reply.outcome == "voicemail"
    assert reply.say == "Hi Ann, Sam from Acme here. Call us back at ."
    assert "{" not in reply.say


def test_voicemail_hang_up_choice_says_nothing(engine):
    reply = engine.voicemail(context(make_agent(voicemail_action="hangup"), first_name="Ann"))

    assert reply.say == ""
    assert reply.end_call and reply.outcome == "voicemail"
