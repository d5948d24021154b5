"""The scripted conversation engine: what the agent says back, turn by turn, and how each call ends."""

import pytest

from campaigns.conversation.engine import ConversationContext, engine_for
from campaigns.conversation.engine.scripted import (
    GOODBYE_DNC,
    GOODBYE_END,
    GOODBYE_LATER,
    GOODBYE_NOT_INTERESTED,
    GOODBYE_SILENT,
    ScriptedEngine,
    parse_answers,
    parse_questions,
)
from campaigns.conversation.engine.wording import line
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
    assert reply.say.startswith("Hello Ann from, about today.")  # no stray space before the comma


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
    assert reply.say == "Hi Ann, Sam from Acme here. Call us back at."
    assert "{" not in reply.say


def test_voicemail_hang_up_choice_says_nothing(engine):
    reply = engine.voicemail(context(make_agent(voicemail_action="hangup"), first_name="Ann"))

    assert reply.say == ""
    assert reply.end_call and reply.outcome == "voicemail"


# --- Knowledge-base answers ----------------------------------------------------------------------
HOURS = "We are open Monday to Friday from 8 am to 6 pm, and on Saturdays from 9 am to 1 pm."
HOURS_PASSAGE = f"Opening hours\n\n{HOURS} We are closed on Sundays."
PARKING_PASSAGE = "Parking\n\nParking is free behind the building at any time."


def knowing(ctx: ConversationContext, *texts: str) -> ConversationContext:
    """`ctx` as the platform builds it for a turn: the passages retrieved for it, best first."""
    from campaigns.conversation.engine.base import Passage

    ctx.knowledge = [Passage(id=i, source="Clinic", text=text) for i, text in enumerate(texts, start=1)]
    return ctx


def test_a_question_the_faq_does_not_cover_is_answered_from_the_best_passage(engine):
    ctx = context(first_name="Ann")
    engine.start(ctx)

    reply = engine.respond(knowing(ctx, HOURS_PASSAGE, PARKING_PASSAGE), "What time do you open on Saturday?")

    assert reply.say == f"{HOURS} {Q1}"
    assert not reply.end_call and reply.captured == {}
    assert ctx.state["question"] == 0  # the script's question is still open


def test_the_faq_answer_wins_over_the_knowledge_base(engine):
    ctx = context()
    engine.start(ctx)

    reply = engine.respond(knowing(ctx, HOURS_PASSAGE), "How much does it cost?")

    assert reply.say == f"{PRICE} {Q1}"


@pytest.mark.parametrize("speech", ["Saturday mornings suit me best", "I do the scheduling, yes"])
def test_an_answer_that_is_not_a_question_still_answers_the_script(engine, speech):
    ctx = context()
    engine.start(ctx)

    reply = engine.respond(knowing(ctx, HOURS_PASSAGE), speech)

    assert reply.say == f"Thank you. {Q2}"
    assert reply.captured == {Q1: speech}


def test_a_question_nobody_can_answer_is_not_an_answer_the_question_is_asked_again(engine):
    ctx = context()
    engine.start(ctx)

    reply = engine.respond(ctx, "Who is this?")

    assert reply.say == f"{line('cannot_answer')} {Q1}"
    assert reply.captured == {} and not reply.end_call
    assert ctx.state["question"] == 0


# --- Answers belong to the question that was asked -------------------------------------------------
OWN, BILL, VISIT = (
    "Do you own your home?",
    "About how much is your monthly electricity bill?",
    "When would be a good time for a visit?",
)
ANSWERS = {OWN: "Yes, we own it.", BILL: "About 180 dollars a month.", VISIT: "Tuesday afternoon."}


def solar_agent(**overrides) -> Agent:
    fields = {
        "questions": "\n".join([OWN, BILL, VISIT]),
        "capture_fields": [{"name": "owns_home"}, {"name": "monthly_bill"}, {"name": "visit_time"}],
        "closing_line": "Thanks, we'll be in touch.",
    }
    return make_agent(**(fields | overrides))


def talk(engine, ctx, off_script: dict[int, list[str]]) -> tuple[dict, list[str]]:
    """A callee who answers the question they last heard, but before their n-th answer first asks
    the off-script questions `off_script[n]`. Returns what was captured and all the agent said."""
    said = [engine.start(ctx).say]
    captured, answered = {}, 0
    pending = {n: list(questions) for n, questions in off_script.items()}
    for _ in range(12):
        if pending.get(answered + 1):
            speech = pending[answered + 1].pop(0)
        else:
            speech = next(answer for question, answer in ANSWERS.items() if said[-1].endswith(question))
            answered += 1
        reply = engine.respond(ctx, speech)
        captured.update(reply.captured)
        said.append(reply.say)
        if reply.end_call:
            break
    return captured, said


@pytest.mark.parametrize(
    "off_script",
    [
        {1: ["Sorry, who is this?"]},  # nobody can answer it
        {1: ["How much does it cost?"]},  # the FAQ answers it
        {2: ["Wait, is this about solar panels?"]},  # after the first answer
        {1: ["How much does it cost?", "Who is this?"], 3: ["Where did you get my number?"]},
    ],
)
def test_after_an_off_script_question_every_answer_belongs_to_the_question_asked(engine, off_script):
    ctx = context(solar_agent())

    captured, said = talk(engine, ctx, off_script)

    assert captured == {
        "owns_home": "Yes, we own it.",
        "monthly_bill": "About 180 dollars a month.",
        "visit_time": "Tuesday afternoon.",
    }
    assert said[-1] == "Thanks, we'll be in touch."


def test_a_second_question_nobody_can_answer_moves_on_without_recording_one(engine):
    ctx = context(solar_agent())
    engine.start(ctx)

    first = engine.respond(ctx, "Who is this?")
    second = engine.respond(ctx, "How did you get my number?")

    assert first.say == f"{line('cannot_answer')} {OWN}"
    assert second.say == f"{line('cannot_answer')} {BILL}"  # the script goes on, no loop
    assert first.captured == second.captured == {}
    assert engine.respond(ctx, "About 180 dollars.").captured == {"monthly_bill": "About 180 dollars."}


@pytest.mark.parametrize("speech", ["How about Tuesday afternoon?", "Um, would Thursday at ten work?", "Is Friday ok?"])
def test_a_proposal_put_as_a_question_is_an_answer(engine, speech):
    ctx = context(solar_agent())
    engine.start(ctx)
    engine.respond(ctx, "Yes.")
    engine.respond(knowing(ctx, HOURS_PASSAGE), "200 dollars.")

    reply = engine.respond(knowing(ctx, HOURS_PASSAGE), speech)

    assert reply.captured == {"visit_time": speech}
    assert reply.end_call


def test_an_unanswerable_question_after_the_script_closes_the_call_honestly(engine):
    ctx = context(make_agent(questions=""))
    engine.start(ctx)

    reply = engine.respond(ctx, "Who gave you my number?")

    assert reply.end_call and reply.captured == {}
    assert reply.say.startswith(line("cannot_answer"))


def test_a_knowledge_answer_after_the_last_question_closes_the_call(engine):
    ctx = context(first_name="Ann", company="Acme")
    engine.start(ctx)
    engine.respond(ctx, "Yes.")
    engine.respond(ctx, "Ten.")

    reply = engine.respond(knowing(ctx, PARKING_PASSAGE), "where do I park")

    assert reply.end_call and reply.outcome == "interested"
    assert (
        reply.say
        == "Parking is free behind the building at any time. Thanks Ann, we will send the details to Acme. Goodbye!"
    )


def test_a_reply_keeps_only_the_passage_it_was_answered_from(engine):
    """The platform stores `ctx.knowledge` with the reply: the call page says "Answered from N
    knowledge passages" for exactly those."""
    ctx = context()
    engine.start(ctx)

    engine.respond(knowing(ctx, HOURS_PASSAGE, PARKING_PASSAGE), "What time do you open on Saturday?")
    assert [p.text for p in ctx.knowledge] == [HOURS_PASSAGE]

    engine.respond(knowing(ctx, HOURS_PASSAGE), "How much does it cost?")  # the FAQ answers it
    assert ctx.knowledge == []

    engine.respond(knowing(ctx, HOURS_PASSAGE), "I do the scheduling on Saturdays")  # an answer to the script
    assert ctx.knowledge == []

    engine.respond(knowing(ctx, HOURS_PASSAGE), "")  # silence
    assert ctx.knowledge == []


@pytest.mark.parametrize(
    ("speech", "question"),
    [
        ("Is there parking?", True),
        ("so where do I park", True),
        ("Um, what's the price for whitening", True),
        ("¿A qué hora abren?", True),
        ("cuánto cuesta la limpieza", True),
        ("Quand êtes-vous ouverts", True),
        ("wann haben Sie am Samstag geöffnet", True),
        ("Yes, that's me.", False),
        ("About twelve of us", False),
        ("so", False),
        ("", False),
    ],
)
def test_what_counts_as_a_question(speech, question):
    from campaigns.conversation.engine.scripted import looks_like_question

    assert looks_like_question(speech) is question


# --- Every agent language ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "speech"),
    [
        ("en-US", "Don’t call me again."),
        ("es-ES", "Deje de llamarme, por favor."),
        ("es-ES", "Quíteme de su lista."),
        ("fr-FR", "Ne m'appelez plus jamais."),
        ("fr-FR", "Supprimez mon numéro, merci."),
        ("de-DE", "Rufen Sie mich nie wieder an!"),
        ("de-DE", "Bitte löschen Sie meine Nummer."),
    ],
)
def test_stop_calling_in_every_agent_language_ends_as_do_not_call_in_that_language(engine, language, speech):
    ctx = context(make_agent(language=language))
    engine.start(ctx)

    reply = engine.respond(ctx, speech)

    assert reply.do_not_call and reply.end_call and reply.outcome == "do_not_call"
    assert reply.say == line("dnc", language)
    assert reply.used_model is False


@pytest.mark.parametrize(
    "speech",
    [
        "Call me before noon, please",  # a time, not a refusal
        "Me llamo Ana y sí, soy yo",
        "Je ne suis plus à Paris",
        "Ich bin nicht mehr an dem Projekt beteiligt",
    ],
)
def test_everyday_answers_are_not_stop_requests(engine, speech):
    ctx = context()
    engine.start(ctx)
    assert not engine.respond(ctx, speech).do_not_call


def test_a_spanish_agent_says_the_platforms_lines_in_spanish(engine):
    ctx = context(make_agent(language="es-ES"))
    engine.start(ctx)
    assert engine.respond(ctx, "").say == f"Perdone, no le he entendido. {Q1}"
    assert engine.respond(ctx, "Sí, soy yo.").say == f"Gracias. {Q2}"


# --- End-call phrases --------------------------------------------------------------------
@pytest.mark.parametrize("speech", ["Okay, GOODBYE.", "sorry I have to go", "I’ve got to run"])
def test_an_end_call_phrase_says_goodbye_and_ends(engine, speech):
    agent = make_agent(end_call_phrases="goodbye\n  I have to go \nI've got to run")
    ctx = context(agent)
    engine.start(ctx)

    reply = engine.respond(ctx, speech)

    assert reply.end_call and reply.say == GOODBYE_END
    assert reply.outcome == "call_back"  # left before the script's end, without declining
    assert reply.captured == {}


def test_end_call_phrases_match_whole_words_and_intents_come_first(engine):
    ctx = context(make_agent(end_call_phrases="bye"))
    engine.start(ctx)
    assert engine.respond(ctx, "Let bygones be bygones").captured == {Q1: "Let bygones be bygones"}
    reply = engine.respond(ctx, "Not interested, bye")
    assert reply.outcome == "not_interested" and reply.say == GOODBYE_NOT_INTERESTED


def test_an_agent_without_end_call_phrases_takes_goodbye_as_an_answer(engine):
    ctx = context()
    engine.start(ctx)
    assert engine.respond(ctx, "goodbye").captured == {Q1: "goodbye"}


# --- Outcomes and capture fields from the agent builder -------------------------------------
def test_answers_go_under_the_capture_fields_when_there_is_one_per_question(engine):
    agent = make_agent(
        capture_fields=[{"name": "is_scheduler", "description": ""}, {"name": "team_size", "description": ""}]
    )
    ctx = context(agent)
    engine.start(ctx)
    assert engine.respond(ctx, "Yes.").captured == {"is_scheduler": "Yes."}
    assert engine.respond(ctx, "Twelve.").captured == {"team_size": "Twelve."}


def test_answers_stay_under_the_questions_when_fields_and_questions_differ(engine):
    ctx = context(make_agent(capture_fields=[{"name": "team_size", "description": ""}]))
    engine.start(ctx)
    assert engine.respond(ctx, "Yes.").captured == {Q1: "Yes."}


def test_the_end_of_the_script_is_the_agents_own_success_outcome(engine):
    agent = make_agent(
        outcomes=[{"name": "not_interested", "description": ""}, {"name": "booked", "description": "A date is set."}]
    )
    ctx = context(agent)
    engine.start(ctx)
    engine.respond(ctx, "Yes.")
    assert engine.respond(ctx, "Ten.").outcome == "booked"


def test_scripted_replies_never_count_as_model_work(engine):
    ctx = context()
    engine.start(ctx)
    assert engine.respond(ctx, "Yes.").used_model is False
    assert ScriptedEngine.uses_model is False


def test_an_agent_set_to_scripted_runs_scripted_even_with_a_model_configured(settings):
    settings.LLM_MODEL = "some-model"
    assert isinstance(engine_for(make_agent(engine="scripted")), ScriptedEngine)
