"""An agent's knowledge base: sources cut into passages, uploads refused with a reason, the
passages found for what a caller says (PostgreSQL full-text search in the agent's language, and
the word-overlap fallback), the pages that manage it, and a real call answered from it."""

import html
import xml.etree.ElementTree as ET
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import account_created
from campaigns.conversation import knowledge, knowledge_text
from campaigns.conversation.knowledge import (
    KnowledgeError,
    knowledge_add_file,
    knowledge_add_text,
    knowledge_delete,
    passages_for,
)
from campaigns.conversation.knowledge_text import passage_answer, rank_by_overlap, split_passages, word_count
from campaigns.models import CallTurn, KnowledgePassage, KnowledgeSource
from campaigns.tests.factories import make_agent
from telephony.tests.test_webhooks import answer, make_call, say_turn

PUBLIC = "https://clozit.example.com"
HOURS = "We are open Monday to Friday from 8 am to 6 pm, and on Saturdays from 9 am to 1 pm."
CLINIC = f"""# Demo Dental

## Opening hours
{HOURS}
We are closed on Sundays and public holidays.

## Prices
A check-up with a cleaning costs 95 dollars. Teeth whitening costs 250 dollars.
We accept all major insurance plans and you can pay by card.

## Parking
Parking is free behind the building at any time of day. The number 12 bus stops right outside.
"""
CLINICA = """# Clínica Dental Sonrisa

## Horario
Abrimos de lunes a viernes de 9 a 20 h y los sábados de 10 a 14 h. Los domingos cerramos.

## Precios
Una revisión con limpieza cuesta 60 euros. El blanqueamiento cuesta 200 euros.

## Aparcamiento
Hay aparcamiento gratuito detrás del edificio y una parada de autobús en la puerta.
"""


def sentences(n: int, start: int = 0) -> str:
    """n distinct sentences of ten words each."""
    return " ".join(f"Sentence {i} tells the caller one more useful fact today." for i in range(start, start + n))


def pdf_with_lines(lines: list[str]) -> bytes:
    """A real one-page PDF with a Helvetica text object per line (offsets in the xref are exact)."""
    text_ops = "".join(f"1 0 0 1 72 {720 - 16 * i} Tm ({line}) Tj\n" for i, line in enumerate(lines))
    content = zlib.compress(f"BT /F1 12 Tf\n{text_ops}ET".encode("latin-1"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def agent(user):
    return make_agent(user, answers="")


@pytest.fixture
def other(db):
    other = User.objects.create_user(
        email="rival@example.com",
        password="another secret pass",
        mobile_number="+14155550199",
        mobile_verified_at=timezone.now(),
    )
    account_created(user=other)
    return other


# --- Splitting ----------------------------------------------------------------------------
def test_each_heading_starts_new_passages_that_carry_the_heading_path():
    passages = split_passages(CLINIC)

    assert len(passages) == 3
    hours, prices, parking = passages
    assert hours.startswith("Demo Dental › Opening hours\n\nWe are open Monday")
    assert HOURS in hours and "closed on Sundays" in hours
    assert prices.startswith("Demo Dental › Prices\n\n") and "95 dollars" in prices and "Parking" not in prices
    assert parking.startswith("Demo Dental › Parking\n\n")


def test_short_paragraphs_merge_up_to_the_passage_size_and_never_across_headings():
    paragraphs = "\n\n".join(sentences(3, start=10 * i) for i in range(10))  # ten paragraphs of 30 words
    passages = split_passages(f"Overview\n{sentences(2, 500)}\n\n{paragraphs}\n\n## Next topic\n{sentences(1, 900)}")

    *overview, last = passages
    assert last == f"Next topic\n\n{sentences(1, 900)}"
    bodies = [knowledge_text.passage_body(p) for p in overview]
    assert all(p.startswith("Overview\n\n") for p in overview)
    assert all(knowledge_text.MIN_WORDS <= word_count(b) <= knowledge_text.MAX_WORDS for b in bodies)
    # Nothing is lost or repeated: the paragraphs follow one another, one per line.
    assert "\n".join(bodies) == "\n".join([sentences(2, 500), *paragraphs.split("\n\n")])


def test_a_long_paragraph_is_cut_at_sentence_ends_into_even_parts():
    passages = split_passages(sentences(45))  # 450 words, no heading

    assert [word_count(p) for p in passages] == [150, 150, 150]
    assert all(p.endswith("today.") for p in passages)
    assert " ".join(passages) == sentences(45)


def test_a_sentence_longer_than_a_passage_is_cut_between_words():
    endless = " ".join(f"item{i}" for i in range(450))

    passages = split_passages(endless)

    assert all(word_count(p) <= knowledge_text.MAX_WORDS for p in passages)
    assert " ".join(passages) == endless


def test_plain_text_headings_lists_and_labels():
    text = (
        "Opening hours\nWe are open every weekday from 9.\n\n"
        "Demo Dental\n123 Main Street\nSpringfield\n\n"  # an address: short lines, not headings
        "Prices:\n- Cleaning: 95 dollars\n- Whitening: 250 dollars\n\n"
        "Insurance\n=========\nWe accept all major plans.\n\n---\n\n"
        "Paragraph lines wrapped by an editor\nare joined back into one line."
    )

    passages = split_passages(text)

    assert passages[0] == "Opening hours\n\nWe are open every weekday from 9.\nDemo Dental 123 Main Street Springfield"
    assert passages[1] == "Prices\n\n- Cleaning: 95 dollars\n- Whitening: 250 dollars"
    assert passages[2] == (
        "Insurance\n\nWe accept all major plans.\nParagraph lines wrapped by an editor are joined back into one line."
    )


def test_markdown_decoration_that_nobody_says_aloud_is_dropped():
    [passage] = split_passages("Book **online** at [our site](https://example.com) or call `555-0100`.")

    assert passage == "Book online at our site or call 555-0100."


# --- Adding sources -----------------------------------------------------------------------
@pytest.mark.django_db
def test_text_source_is_stored_with_its_passages_in_order(agent):
    source = knowledge_add_text(agent, "  Clinic facts ", CLINIC)

    assert source.title == "Clinic facts" and source.kind == KnowledgeSource.Kind.TEXT and source.filename == ""
    rows = list(source.passages.order_by("position").values_list("position", "agent_id", "text"))
    assert [(position, agent_id) for position, agent_id, _ in rows] == [(0, agent.pk), (1, agent.pk), (2, agent.pk)]
    assert [text for *_, text in rows] == split_passages(CLINIC)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("title", "text", "message"),
    [
        ("", CLINIC, "Give the text a title"),
        ("Empty", "  \n\n -- \n", "has no words"),
        ("Huge", "word " * (knowledge.MAX_TEXT_CHARS // 5 + 1), "too long"),
    ],
)
def test_text_source_refused_with_a_reason(agent, title, text, message):
    with pytest.raises(KnowledgeError, match=message):
        knowledge_add_text(agent, title, text)

    assert not KnowledgeSource.objects.exists()


@pytest.mark.django_db
def test_txt_with_a_byte_order_mark_and_markdown_files_are_read(agent):
    txt = knowledge_add_file(agent, upload("hours.txt", "\ufeffOpening hours\n".encode() + HOURS.encode()))
    md = knowledge_add_file(agent, upload("prices.md", "## Précios\nLimpieza: 60 €.".encode()), title="Precios")

    assert (txt.title, txt.kind, txt.filename) == ("hours", KnowledgeSource.Kind.FILE, "hours.txt")
    assert txt.passages.get().text == f"Opening hours\n\n{HOURS}"
    assert md.title == "Precios"
    assert md.passages.get().text == "Précios\n\nLimpieza: 60 €."


@pytest.mark.django_db
def test_pdf_text_is_extracted(agent):
    data = pdf_with_lines(["Opening hours", HOURS, "Parking is free behind the building."])

    source = knowledge_add_file(agent, upload("Clinic Guide.PDF", data))

    assert source.title == "Clinic Guide" and source.filename == "Clinic Guide.PDF"
    assert "Saturdays from 9 am to 1 pm" in source.text
    [passage] = source.passages.all()
    assert passage.text.startswith("Opening hours\n\nWe are open Monday")
    assert "Parking is free" in passage.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.docx", b"PK\x03\x04 a word document", "Upload a .txt, .md or .pdf file"),
        ("setup.exe", b"MZ\x90\x00 a program", "Upload a .txt, .md or .pdf file"),
        ("noextension", b"Plain words", "Upload a .txt, .md or .pdf file"),
        ("empty.txt", b"", "is empty"),
        ("blank.md", b" \n\n\t \n", "is empty"),
        ("latin1.txt", "Horario: sábados de 10 a 14 h".encode("cp1252"), "is not UTF-8 text"),
        ("binary.txt", b"abc\x00\x01\x02def", "binary file"),
        ("fake.pdf", b"%PDF-1.4 this is not really a pdf", "not a readable PDF"),
        ("scanned.pdf", pdf_with_lines([]), "no text we can read"),
    ],
)
def test_files_refused_with_a_reason_a_person_can_act_on(agent, name, data, message):
    with pytest.raises(KnowledgeError, match=message):
        knowledge_add_file(agent, upload(name, data))

    assert not KnowledgeSource.objects.exists()


@pytest.mark.django_db
def test_files_over_the_size_limit_are_refused(agent, settings):
    data = b"word " * (knowledge.MAX_FILE_BYTES // 5 + 1)

    with pytest.raises(KnowledgeError, match="larger than 5 MB"):
        knowledge_add_file(agent, upload("big.txt", data))


@pytest.mark.django_db
def test_an_agent_holds_a_limited_number_of_passages(agent, monkeypatch):
    monkeypatch.setattr(knowledge, "MAX_PASSAGES_PER_AGENT", 4)
    knowledge_add_text(agent, "Clinic", CLINIC)  # 3 passages

    with pytest.raises(KnowledgeError, match="at most 4 \\(it has 3\\)"):
        knowledge_add_text(agent, "More", CLINIC)

    assert agent.knowledge_sources.count() == 1
    assert KnowledgePassage.objects.filter(agent=agent).count() == 3


@pytest.mark.django_db
def test_deleting_a_source_removes_its_passages(agent):
    source = knowledge_add_text(agent, "Clinic", CLINIC)
    kept = knowledge_add_text(agent, "Other", "We also sell toothbrushes.")

    knowledge_delete(source)

    assert list(KnowledgePassage.objects.values_list("source_id", flat=True)) == [kept.pk]
    assert passages_for(agent, "when do you open on saturday") == []


# --- Retrieval on PostgreSQL ------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("what time do you open on saturday", "Opening hours"),
        ("How much does a cleaning cost?", "Prices"),
        ("is there somewhere to park my car", "Parking"),
        ("do you take insurance", "Prices"),
    ],
)
def test_the_passage_that_answers_comes_first(agent, question, expected):
    knowledge_add_text(agent, "Demo Dental", CLINIC)

    found = passages_for(agent, question)

    assert found, question
    assert found[0].text.startswith(f"Demo Dental › {expected}\n\n")
    assert found[0].source == "Demo Dental"
    assert found[0].id in set(KnowledgePassage.objects.values_list("pk", flat=True))


@pytest.mark.django_db
def test_one_matching_word_is_enough_and_the_best_match_ranks_higher(agent):
    knowledge_add_text(agent, "Demo Dental", CLINIC)

    # "time" is only in the parking passage; "open" and "saturday" are in the hours passage.
    found = passages_for(agent, "what time do you open on saturday")

    assert [p.text.split("\n")[0] for p in found] == ["Demo Dental › Opening hours", "Demo Dental › Parking"]


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "   ", "what is the", "quantum chromodynamics", "¿?!"])
def test_nothing_is_returned_when_nothing_matches(agent, query):
    knowledge_add_text(agent, "Demo Dental", CLINIC)

    assert passages_for(agent, query) == []


@pytest.mark.django_db
def test_limit_caps_the_passages_returned(agent):
    knowledge_add_text(agent, "Demo Dental", CLINIC)

    assert len(passages_for(agent, "open saturday parking cleaning", limit=3)) == 3
    assert len(passages_for(agent, "open saturday parking cleaning", limit=1)) == 1


@pytest.mark.django_db
def test_spanish_agent_searches_spanish_text_with_spanish_stemming(user):
    agent = make_agent(user, language="es-ES", answers="")
    knowledge_add_text(agent, "Clínica", CLINICA)

    found = passages_for(agent, "¿A qué hora abren los sábados?")
    prices = passages_for(agent, "¿Cuánto cuesta el blanqueamiento?")

    assert found and found[0].text.startswith("Clínica Dental Sonrisa › Horario\n\n")
    assert prices and prices[0].text.startswith("Clínica Dental Sonrisa › Precios\n\n")


@pytest.mark.django_db
def test_search_configuration_follows_the_agent_language():
    assert [knowledge.search_config(lang) for lang in ("en-US", "en-GB", "es-ES", "fr-FR", "de-DE", "it-IT", "")] == [
        "english",
        "english",
        "spanish",
        "french",
        "german",
        "simple",
        "simple",
    ]


@pytest.mark.django_db
def test_only_the_agents_own_passages_are_found(user, agent):
    other_agent = make_agent(user, name="Other clinic")
    knowledge_add_text(other_agent, "Other clinic", "Parking costs 5 dollars an hour in our garage.")
    knowledge_add_text(agent, "Menu", "We sell coffee and cake.")

    assert passages_for(agent, "where can I park") == []
    assert [p.source for p in passages_for(other_agent, "where can I park")] == ["Other clinic"]


@pytest.mark.django_db
def test_without_postgresql_the_word_overlap_fallback_finds_the_passage(agent, monkeypatch):
    knowledge_add_text(agent, "Demo Dental", CLINIC)
    monkeypatch.setattr(knowledge, "_full_text_search_available", lambda: False)

    found = passages_for(agent, "what time do you open on saturday")

    assert found[0].text.startswith("Demo Dental › Opening hours")
    assert passages_for(agent, "what is the") == []


# --- The fallback's scoring, and picking the sentence to say (pure functions) -------------------
def test_overlap_ranking_ignores_stop_words_and_weights_rare_words():
    texts = [
        "Appointments: book an appointment online or by phone.",
        "Parking for appointments is free behind the building.",
        "Appointments on Saturdays start at 9.",
    ]

    assert rank_by_overlap("what is the", texts) == []
    assert rank_by_overlap("", texts) == []
    # "appointment" is in every text, "parking" in one: the parking text wins.
    ranked = rank_by_overlap("is there parking for my appointment", texts)
    assert [index for index, _ in ranked] == [1, 0, 2]
    assert ranked[0][1] > ranked[1][1] > 0
    # Crude stems: "opening"/"open", "saturday"/"Saturdays".
    texts = ["We open late on Saturdays.", *texts]
    assert [i for i, _ in rank_by_overlap("are you opening on saturday", texts)] == [0, 3]


def test_overlap_ranking_uses_the_agent_languages_stop_words_and_ignores_accents():
    texts = ["Abrimos los sábados de 10 a 14 h.", "Los precios de la limpieza: 60 euros."]

    assert [i for i, _ in rank_by_overlap("¿Qué horario tienen los sabados?", texts, language="es-ES")] == [0]
    assert rank_by_overlap("¿de los la?", texts, language="es-ES") == []


def test_the_sentence_that_answers_is_picked_from_the_passage():
    passage = split_passages(CLINIC)[0]

    assert passage_answer(passage, "what time do you open on saturday") == HOURS
    assert passage_answer(passage, "are you closed on sunday?") == "We are closed on Sundays and public holidays."
    # No word in common: the passage was found by the database's stemming, so its first sentence.
    assert passage_answer(passage, "hmm?") == HOURS


def test_a_following_sentence_that_also_answers_is_added_when_it_fits():
    passage = "Prices\n\nA cleaning costs 95 dollars. Whitening costs 250 dollars. We take cards."

    assert passage_answer(passage, "what do cleaning and whitening cost") == (
        "A cleaning costs 95 dollars. Whitening costs 250 dollars."
    )


def test_answers_are_at_most_forty_words():
    long_sentence = "Our clinic opens at 9, " + ", ".join(f"then room {i} opens" for i in range(30)) + "."

    said = passage_answer(long_sentence, "when does the clinic open")

    assert len(said.split()) <= knowledge_text.ANSWER_MAX_WORDS
    assert said.startswith("Our clinic opens at 9,") and said.endswith("…")


def test_list_items_are_said_without_their_bullets():
    passage = "Prices\n\n- Cleaning: 95 dollars\n- Whitening: 250 dollars"

    assert passage_answer(passage, "how much is whitening") == "Whitening: 250 dollars."


# --- Pages -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_agent_list_links_to_each_agents_knowledge(logged_in, agent):
    response = logged_in.get(reverse("agent_list"))

    assert f'href="{reverse("knowledge", args=[agent.pk])}"' in response.content.decode()


@pytest.mark.django_db
def test_knowledge_page_lists_sources_with_their_passage_counts(logged_in, agent):
    knowledge_add_text(agent, "Clinic facts", CLINIC)
    knowledge_add_file(agent, upload("hours.txt", HOURS.encode()))

    response = logged_in.get(reverse("knowledge", args=[agent.pk]))

    body = page_text(response)
    assert response.status_code == 200
    assert "Clinic facts" in body and "hours.txt" in body
    assert "4 of 500 passages used" in body
    assert [s.passage_count for s in response.context["sources"]] == [3, 1]


@pytest.mark.django_db
def test_adding_text_from_the_page(logged_in, agent):
    response = logged_in.post(
        reverse("knowledge_text_add", args=[agent.pk]), {"text-title": "Clinic", "text-text": CLINIC}, follow=True
    )

    assert response.redirect_chain == [(reverse("knowledge", args=[agent.pk]), 302)]
    assert "Added “Clinic”: 3 passages." in page_text(response)
    assert agent.knowledge_sources.get().passages.count() == 3


@pytest.mark.django_db
def test_uploading_a_file_from_the_page(logged_in, agent):
    response = logged_in.post(
        reverse("knowledge_file_upload", args=[agent.pk]),
        {"upload-file": upload("guide.pdf", pdf_with_lines(["Opening hours", HOURS])), "upload-title": ""},
        follow=True,
    )

    assert "Added “guide”: 1 passages." in page_text(response)
    assert agent.knowledge_sources.get().filename == "guide.pdf"


@pytest.mark.django_db
def test_a_refused_upload_shows_why_and_stores_nothing(logged_in, agent):
    response = logged_in.post(
        reverse("knowledge_file_upload", args=[agent.pk]), {"upload-file": upload("notes.docx", b"PK\x03\x04")}
    )

    assert response.status_code == 200
    assert "“notes.docx” is not a file we can read. Upload a .txt, .md or .pdf file." in page_text(response)
    assert not KnowledgeSource.objects.exists()


@pytest.mark.django_db
def test_a_source_page_shows_its_passages(logged_in, agent):
    source = knowledge_add_text(agent, "Clinic", CLINIC)

    response = logged_in.get(reverse("knowledge_source", args=[agent.pk, source.pk]))

    body = page_text(response)
    assert "3 passages" in body
    assert HOURS in body and "Teeth whitening costs 250 dollars" in body


@pytest.mark.django_db
def test_deleting_a_source_asks_first(logged_in, agent):
    source = knowledge_add_text(agent, "Clinic", CLINIC)
    url = reverse("knowledge_source_delete", args=[agent.pk, source.pk])

    confirm = logged_in.get(url)
    assert "Delete “Clinic”?" in page_text(confirm)
    assert KnowledgeSource.objects.exists()

    response = logged_in.post(url, follow=True)
    assert "Removed “Clinic”" in page_text(response)
    assert not KnowledgeSource.objects.exists() and not KnowledgePassage.objects.exists()


@pytest.mark.django_db
def test_test_retrieval_shows_the_passages_and_the_scripted_answer(logged_in, agent):
    knowledge_add_text(agent, "Demo Dental", CLINIC)
    url = reverse("knowledge_search", args=[agent.pk])

    partial = logged_in.get(url, {"q": "What time do you open on Saturday?"}, headers={"HX-Request": "true"})

    body = page_text(partial)
    assert "<html" not in body  # the partial only
    assert "Without an AI model, the agent would answer:" in body and f"“{HOURS}”" in body
    assert body.index("Opening hours") < body.index("Parking")

    missing = logged_in.get(url, {"q": "quantum chromodynamics"}, headers={"HX-Request": "true"})
    assert "No passage matches" in page_text(missing)

    # Without JavaScript the same form shows the results on the page itself.
    plain = logged_in.get(url, {"q": "parking"}, follow=True)
    assert plain.redirect_chain[0][0].startswith(reverse("knowledge", args=[agent.pk]) + "?q=parking")
    assert "The number 12 bus stops right outside." in page_text(plain)


@pytest.mark.django_db
def test_another_users_agent_and_sources_are_not_found(client, other, user, agent):
    source = knowledge_add_text(agent, "Clinic", CLINIC)
    client.force_login(other)
    pk = agent.pk

    for response in (
        client.get(reverse("knowledge", args=[pk])),
        client.get(reverse("knowledge_search", args=[pk]), {"q": "parking"}, headers={"HX-Request": "true"}),
        client.post(reverse("knowledge_text_add", args=[pk]), {"text-title": "Mine", "text-text": "Hijacked."}),
        client.post(reverse("knowledge_file_upload", args=[pk]), {"upload-file": upload("x.txt", b"Hijacked.")}),
        client.get(reverse("knowledge_source", args=[pk, source.pk])),
        client.get(reverse("knowledge_source_delete", args=[pk, source.pk])),
        client.post(reverse("knowledge_source_delete", args=[pk, source.pk])),
    ):
        assert response.status_code == 404
    # Nor through one of their own agents.
    their_agent = make_agent(other)
    assert client.get(reverse("knowledge_source", args=[their_agent.pk, source.pk])).status_code == 404
    assert client.post(reverse("knowledge_source_delete", args=[their_agent.pk, source.pk])).status_code == 404
    assert KnowledgeSource.objects.get().passages.count() == 3
    assert agent.knowledge_sources.count() == 1


@pytest.mark.django_db
def test_pages_need_a_login(client, agent):
    response = client.get(reverse("knowledge", args=[agent.pk]))

    assert response.status_code == 302 and "login" in response["Location"]


# --- A call answered from the knowledge base ------------------------------------------------------
@pytest.fixture
def signed_webhooks(settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.SIMULATED_SIGNING_SECRET = "simulated-test-secret"


@pytest.mark.django_db
def test_a_question_on_a_call_is_answered_from_the_knowledge_base(client, user, signed_webhooks):
    call = make_call(user, answers="")
    knowledge_add_text(call.agent, "Demo Dental", CLINIC)
    answer(client, call)

    response = say_turn(client, call, 1, "Sorry, what time do you open on Saturday?")

    root = ET.fromstring(response.content)
    [gather] = list(root)
    said = gather[0].text
    assert said == f"{HOURS} Are you the person who handles scheduling?"
    agent_turn = call.turns.filter(speaker=CallTurn.Speaker.AGENT).order_by("-sequence").first()
    assert agent_turn.text == said
    # The reply was said from the opening hours alone (the parking was retrieved, not used).
    assert [p["text"].split("\n")[0] for p in agent_turn.passages] == ["Demo Dental › Opening hours"]
    assert agent_turn.passages[0]["source"] == "Demo Dental"
    callee_turn = call.turns.get(speaker=CallTurn.Speaker.CALLEE)
    assert callee_turn.passages == []
    call.refresh_from_db()
    assert call.captured == []  # the script's question is still open

    # The callee's answer to the script question is recorded as before.
    say_turn(client, call, 2, "Yes, that's me.")
    call.refresh_from_db()
    assert call.captured == [["Are you the person who handles scheduling?", "Yes, that's me."]]

    # The call page shows which passages the answer came from, under the agent's line.
    client.force_login(user)
    page = client.get(reverse("call_detail", args=[call.pk])).content.decode()
    assert page.count('data-testid="turn-passages"') == 1
    assert "Answered from 1 knowledge passage<" in page and "Demo Dental › Opening hours" in page
