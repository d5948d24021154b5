"""Knowledge search that a call's turn can afford: each passage's tsvector stored in its agent's
language when it is added, one statement per search (its time limit included), and no statement
at all when the agent has no passages or the callee only acknowledged something."""

import contextlib
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.urls import reverse

from campaigns.conversation import knowledge
from campaigns.conversation.knowledge import knowledge_add_text, knowledge_delete, passages_for
from campaigns.models import Agent, KnowledgePassage
from campaigns.tests.factories import make_agent
from campaigns.tests.test_agent_builder import agent_data
from campaigns.tests.test_knowledge import CLINIC, CLINICA

ACKNOWLEDGEMENTS = ["yes", "okay", "uh huh", "Yeah, sure.", "Mm hmm", "ok thanks", "what is the", "", "¿?!"]


def stored_vector_is(passage_id: int, config: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT search = to_tsvector(%s::regconfig, text) FROM campaigns_knowledgepassage WHERE id = %s",
            [config, passage_id],
        )
        return cursor.fetchone()[0]


def headings(found) -> list[str]:
    return [p.text.split("\n")[0] for p in found]


@pytest.fixture
def agent(user):
    return make_agent(user, answers="")


# --- Stored vectors, in the agent's language --------------------------------------------------
@pytest.mark.django_db
def test_passages_are_stored_with_their_vector_in_the_agents_language(user):
    english = make_agent(user, name="English", language="en-GB")
    spanish = make_agent(user, name="Spanish", language="es-ES")
    knowledge_add_text(english, "Demo Dental", CLINIC)
    knowledge_add_text(spanish, "Clínica", CLINICA)

    for agent, config in ((english, "english"), (spanish, "spanish")):
        ids = list(KnowledgePassage.objects.filter(agent=agent).values_list("pk", flat=True))
        assert len(ids) == 3
        assert all(stored_vector_is(pk, config) for pk in ids), config
    # Spanish stemming, where English would keep the words apart: "sábados" is stored as "sab",
    # and "cuestan" (they cost) finds "cuesta" (it costs), "revisiones" finds "revisión".
    with connection.cursor() as cursor:
        cursor.execute("SELECT search::text FROM campaigns_knowledgepassage WHERE agent_id = %s", [spanish.pk])
        vectors = " ".join(row[0] for row in cursor.fetchall())
    assert "'sab'" in vectors and "'sábado'" not in vectors
    assert headings(passages_for(spanish, "¿Abren el sábado?"))[0] == "Clínica Dental Sonrisa › Horario"
    assert headings(passages_for(spanish, "¿Cuánto cuestan las revisiones?")) == ["Clínica Dental Sonrisa › Precios"]


@pytest.mark.django_db
def test_changing_the_agents_language_stores_the_vectors_in_the_new_one(client, user):
    agent = make_agent(user, language="en-US", voice="Polly.Joanna")
    knowledge_add_text(agent, "Clínica", CLINICA)
    ids = list(KnowledgePassage.objects.filter(agent=agent).values_list("pk", flat=True))
    assert all(stored_vector_is(pk, "english") for pk in ids)
    assert passages_for(agent, "¿Cuánto cuestan las revisiones?") == []  # English stems: no match
    client.force_login(user)

    response = client.post(reverse("agent_edit", args=[agent.pk]), agent_data(language="es-ES", voice="Polly.Lucia"))

    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.language == "es-ES"
    assert all(stored_vector_is(pk, "spanish") for pk in ids)
    assert headings(passages_for(agent, "¿Cuánto cuestan las revisiones?")) == ["Clínica Dental Sonrisa › Precios"]


@pytest.mark.django_db
def test_the_search_runs_on_the_stored_vectors_through_their_index(agent):
    """The search matches and ranks the stored vectors (no passage's text is parsed at search
    time), which a GIN index covers."""
    knowledge_add_text(agent, "Hours", "We open at nine on Saturdays and close at one.")
    captured = {}

    def explain(execute, sql, params, many, context):
        if "websearch_to_tsquery" in sql and "EXPLAIN" not in sql:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute("EXPLAIN " + sql, params)
                captured["plan"] = "\n".join(row[0] for row in cursor.fetchall())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain), transaction.atomic():
        assert passages_for(agent, "are you open on saturday")

    # Matched and ranked on the stored column, through the agent's index or the GIN index,
    # whichever the planner prefers for the agent's share of all passages.
    assert "search @@ " in captured["plan"] and "ts_rank(p.search," in captured["plan"], captured["plan"]
    assert "to_tsvector" not in captured["plan"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'knowledge_passage_search'")
        [(definition,)] = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'knowledge_passage_fts_%%'")
        assert cursor.fetchone()[0] == 0  # the expression indexes of 0011 are gone
    assert definition.endswith("USING gin (search)")


# --- Only when it can help ---------------------------------------------------------------------
@pytest.mark.django_db
def test_an_agent_without_passages_is_not_searched(agent, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert passages_for(agent, "what time do you open on saturday") == []
        assert passages_for(agent, "what time do you open on saturday", within=0.5) == []


@pytest.mark.django_db
@pytest.mark.parametrize("words", ACKNOWLEDGEMENTS)
def test_an_acknowledgement_is_not_searched(agent, words, django_assert_num_queries):
    knowledge_add_text(agent, "Demo Dental", CLINIC)

    with django_assert_num_queries(0):
        assert passages_for(agent, words) == []
        assert passages_for(agent, words, within=0.5) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "words"),
    [("es-ES", "Sí, vale, gracias"), ("fr-FR", "Oui, d'accord, merci"), ("de-DE", "Ja, genau, danke")],
)
def test_acknowledgements_in_the_agents_language_are_not_searched(user, language, words, django_assert_num_queries):
    agent = make_agent(user, language=language, answers="")
    knowledge_add_text(agent, "Clínica", CLINICA)

    with django_assert_num_queries(0):
        assert passages_for(agent, words) == []


@pytest.mark.django_db
def test_a_question_is_one_statement(agent, django_assert_num_queries):
    knowledge_add_text(agent, "Demo Dental", CLINIC)

    with django_assert_num_queries(1):
        found = passages_for(agent, "what time do you open on saturday")

    assert headings(found) == ["Demo Dental › Opening hours", "Demo Dental › Parking"]


@pytest.mark.django_db(transaction=True)
def test_a_question_with_a_time_limit_is_one_statement_too(agent, django_assert_num_queries):
    """The turn's search: the time limit travels with it, and does not outlive it."""
    knowledge_add_text(agent, "Demo Dental", CLINIC)

    with django_assert_num_queries(1) as captured:
        found = passages_for(agent, "what time do you open on saturday", within=0.5)

    assert headings(found) == ["Demo Dental › Opening hours", "Demo Dental › Parking"]
    assert "statement_timeout" in captured.captured_queries[0]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_transaction", [False, True])
def test_a_search_that_takes_too_long_finds_nothing_and_ends_at_its_time_limit(agent, in_transaction):
    """A search held up (here by a lock another connection holds on the passages) gives up at
    `within`; the connection, and a transaction the caller had open, go on working and keep no
    time limit."""
    knowledge_add_text(agent, "Demo Dental", CLINIC)
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with transaction.atomic(), connections["default"].cursor() as cursor:
                cursor.execute("LOCK TABLE campaigns_knowledgepassage IN ACCESS EXCLUSIVE MODE")
                locked.set()
                release.wait(10)
        finally:
            connections["default"].close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with transaction.atomic() if in_transaction else contextlib.nullcontext():
            started = time.monotonic()
            assert passages_for(agent, "what time do you open on saturday", within=0.2) == []
            assert 0.2 <= time.monotonic() - started < 2
            assert Agent.objects.get(pk=agent.pk).knowledge_passage_count == 3
            with connection.cursor() as cursor:
                cursor.execute("SHOW statement_timeout")
                assert cursor.fetchone()[0] == "0"
    finally:
        release.set()
        holder.join()
    assert headings(passages_for(agent, "parking", within=0.5)) == ["Demo Dental › Parking"]


@pytest.mark.django_db
def test_inside_a_transaction_the_time_limit_is_put_back(agent):
    knowledge_add_text(agent, "Demo Dental", CLINIC)

    with transaction.atomic():
        assert headings(passages_for(agent, "parking", within=0.5)) == ["Demo Dental › Parking"]
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "0"


# --- The agent's passage count, which spares the query -------------------------------------------
@pytest.mark.django_db
def test_the_passage_count_follows_adding_and_deleting(agent, django_assert_num_queries):
    first = knowledge_add_text(agent, "Demo Dental", CLINIC)
    second = knowledge_add_text(agent, "Other", "We also sell toothbrushes.")
    assert agent.knowledge_passage_count == 4
    assert Agent.objects.get(pk=agent.pk).knowledge_passage_count == 4

    knowledge_delete(first)
    assert Agent.objects.get(pk=agent.pk).knowledge_passage_count == 1
    knowledge_delete(second)

    agent = Agent.objects.get(pk=agent.pk)
    assert agent.knowledge_passage_count == 0
    with django_assert_num_queries(0):
        assert passages_for(agent, "do you sell toothbrushes") == []


@pytest.mark.django_db
def test_the_word_overlap_fallback_skips_the_same_lines(agent, monkeypatch, django_assert_num_queries):
    knowledge_add_text(agent, "Demo Dental", CLINIC)
    monkeypatch.setattr(knowledge, "_full_text_search_available", lambda: False)

    with django_assert_num_queries(0):
        assert passages_for(agent, "uh huh") == []
    with django_assert_num_queries(1):
        assert headings(passages_for(agent, "is there parking"))[0] == "Demo Dental › Parking"
