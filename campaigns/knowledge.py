"""An agent's knowledge base: sources split into passages, and retrieval of the passages most
relevant to what the callee said.

A passage's text is its section heading (when it has one), a blank line, then its body; body
paragraphs and list items are separated by single newlines. Engines may rely on that shape
(`passage_body` strips the heading).

Retrieval is PostgreSQL full-text search in the agent's language, against each passage's tsvector
stored when it was added (one statement per search, at most); on other databases (SQLite for
`make run`) a word-overlap score stands in, so a demo works without PostgreSQL. Nothing is asked of
the database when the agent has no passages or the callee said nothing to search for ("yes",
"okay", "uh huh").
"""

import contextlib
import functools
import io
import logging
import math
import os
import re
import unicodedata

from django.db import OperationalError, connections, transaction
from django.db.models import Value

from .engine.base import Passage
from .errors import CampaignError
from .models import Agent, KnowledgePassage, KnowledgeSource

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TEXT_CHARS = 500_000
MAX_PASSAGES_PER_AGENT = 500
# Passages of about this many words: long enough to carry an answer with its context, short
# enough that three of them fit a model's prompt and a phone answer can be picked from one.
MIN_WORDS, MAX_WORDS = 80, 200
ANSWER_MAX_WORDS = 40
FILE_KINDS = {".txt": "text", ".md": "text", ".pdf": "pdf"}
# More query words than this add nothing but cost (a callee rambling for a minute).
MAX_QUERY_TERMS = 32


class KnowledgeError(CampaignError):
    """A source the knowledge base refuses; the message is written for the user."""


# --- Adding and deleting sources --------------------------------------------------------
def knowledge_add_text(agent: Agent, title: str, text: str) -> KnowledgeSource:
    """Store `text` as one of the agent's sources, split into passages."""
    title = (title or "").strip()
    if not title:
        raise KnowledgeError("Give the text a title, e.g. “Opening hours”.")
    if len(text or "") > MAX_TEXT_CHARS:
        raise KnowledgeError(f"The text is too long: at most {MAX_TEXT_CHARS:,} characters. Split it into parts.")
    return _add(agent, title=title, kind=KnowledgeSource.Kind.TEXT, filename="", text=text or "")


def knowledge_add_file(agent: Agent, uploaded_file, title: str = "") -> KnowledgeSource:
    """Store a .txt, .md (UTF-8) or .pdf upload as one of the agent's sources; `title`
    defaults to the file's name."""
    name = os.path.basename(uploaded_file.name or "") or "upload"
    extension = os.path.splitext(name)[1].lower()
    if extension not in FILE_KINDS:
        raise KnowledgeError(f"“{name}” is not a file we can read. Upload a .txt, .md or .pdf file.")
    size = uploaded_file.size or 0
    if size > MAX_FILE_BYTES:
        raise KnowledgeError(f"“{name}” is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB. Split it into parts.")
    data = uploaded_file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise KnowledgeError(f"“{name}” is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB. Split it into parts.")
    if not data.strip():
        raise KnowledgeError(f"“{name}” is empty.")
    text = _pdf_text(data, name) if FILE_KINDS[extension] == "pdf" else _decode(data, name)
    title = (title or "").strip() or os.path.splitext(name)[0][:200]
    return _add(agent, title=title, kind=KnowledgeSource.Kind.FILE, filename=name[:255], text=text)


def knowledge_delete(source: KnowledgeSource) -> None:
    """Remove a source and its passages; calls stop being given them at once."""
    with transaction.atomic():
        Agent.objects.select_for_update().filter(pk=source.agent_id).first()
        source.delete()
        remaining = KnowledgePassage.objects.filter(agent_id=source.agent_id).count()
        Agent.objects.filter(pk=source.agent_id).update(knowledge_passage_count=remaining)


def knowledge_reindex(agent: Agent) -> None:
    """Write the agent's passages' search vectors again, in its language as it is now: call it
    when the language changes, or the callee's words are stemmed one way and the passages another."""
    if _full_text_search_available():
        _store_vectors(KnowledgePassage.objects.filter(agent=agent), search_config(agent.language))


def _add(agent: Agent, *, title: str, kind: str, filename: str, text: str) -> KnowledgeSource:
    text = normalise_text(text)
    passages = split_passages(text)
    if not passages:
        what = f"“{filename}”" if filename else "The text"
        raise KnowledgeError(f"{what} has no words to answer from.")
    with transaction.atomic():
        # Locking the agent serialises uploads, so two at once cannot pass the limit together.
        Agent.objects.select_for_update().filter(pk=agent.pk).first()
        existing = KnowledgePassage.objects.filter(agent=agent).count()
        if existing + len(passages) > MAX_PASSAGES_PER_AGENT:
            raise KnowledgeError(
                f"This would give the agent {existing + len(passages)} passages; an agent holds at most "
                f"{MAX_PASSAGES_PER_AGENT} (it has {existing}). Remove a source or upload a shorter one."
            )
        source = KnowledgeSource.objects.create(agent=agent, title=title[:200], kind=kind, filename=filename, text=text)
        KnowledgePassage.objects.bulk_create(
            KnowledgePassage(source=source, agent=agent, position=i, text=passage, search=_vector(passage, agent))
            for i, passage in enumerate(passages)
        )
        agent.knowledge_passage_count = existing + len(passages)
        Agent.objects.filter(pk=agent.pk).update(knowledge_passage_count=agent.knowledge_passage_count)
    return source


def _vector(text: str, agent: Agent):
    """A new passage's tsvector in the agent's language, computed by the INSERT itself: parsed
    once here rather than on every search (and not written twice, as an UPDATE after it would)."""
    from django.contrib.postgres.search import SearchVector

    if not _full_text_search_available():
        return None
    return SearchVector(Value(text), config=search_config(agent.language))


def _store_vectors(passages, config: str) -> None:
    """One UPDATE: the passages' tsvectors, from their text."""
    from django.contrib.postgres.search import SearchVector

    passages.update(search=SearchVector("text", config=config))


def _decode(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KnowledgeError(
            f"“{name}” is not UTF-8 text. Save it as UTF-8 (or paste its text) and try again."
        ) from None
    if "\x00" in text:
        raise KnowledgeError(f"“{name}” looks like a binary file, not text. Upload a .txt, .md or .pdf file.")
    return text


def _pdf_text(data: bytes, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise KnowledgeError(f"“{name}” is password-protected. Upload a copy without a password.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except KnowledgeError:
        raise
    except PdfReadError:
        raise KnowledgeError(f"“{name}” is not a readable PDF.") from None
    except Exception:  # pypdf raises many kinds of errors on damaged files; none is the user's to read
        logger.warning("could not extract text from PDF %s", name, exc_info=True)
        raise KnowledgeError(f"“{name}” is not a readable PDF.") from None
    text = "\n\n".join(pages).replace("\x00", "")
    if not WORD.search(text):
        raise KnowledgeError(
            f"“{name}” has no text we can read: it may be scanned pages (images). "
            "Upload a PDF with text, or a .txt file."
        )
    return text


# --- Splitting into passages -------------------------------------------------------------
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)[\s#]*$")
UNDERLINE = re.compile(r"^(=+|-+)$")
BULLET = re.compile(r"^([-*+•·–]|\d{1,3}[.)])\s+")
MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*$")
HEADING_LEVEL_PLAIN = 7  # a heading guessed from plain text nests under any Markdown heading


def normalise_text(text: str) -> str:
    """Line endings, odd spaces and Markdown decoration that nobody would say aloud."""
    text = (text or "").replace("\ufeff", "").replace("\x00", "")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = text.replace("\u00a0", " ").replace("\t", " ")
    text = MD_LINK.sub(r"\1", text)
    text = re.sub(r"(\*\*|__|`)", "", text)
    text = re.sub(r"[ \u2000-\u200b]+", " ", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def word_count(text: str) -> int:
    return len(WORD.findall(text))


def _is_heading_like(line: str) -> bool:
    """A short line without sentence punctuation, e.g. 'Opening hours' or 'Prices:'."""
    if BULLET.match(line) or len(line) > 80 or not WORD.search(line):
        return False
    words = word_count(line)
    if line.endswith(":"):
        return words <= 6
    return words <= 8 and not re.search(r"[.!?,;…]$", line)


def _introduces_text(line: str) -> bool:
    """The line after a heading: a sentence or a list item, not another short label nor the
    rest of a wrapped sentence (which starts in lower case)."""
    if BULLET.match(line):
        return True
    return not line[0].islower() and (bool(SENTENCE_END.search(line)) or word_count(line) > 8)


def _join_lines(lines: list[str]) -> str:
    """A paragraph's lines: wrapped lines join with spaces, list items keep their own line."""
    out = ""
    for line in lines:
        if not out:
            out = line
        elif BULLET.match(line):
            out += "\n" + line
        else:
            out += " " + line
    return out


def _items(text: str) -> list[tuple[int, str]]:
    """(level, heading) for headings and (0, paragraph) for paragraphs, in order."""
    lines = [line.strip() for line in text.split("\n")]
    following = [""] * len(lines)  # the next non-blank line after each line
    upcoming = ""
    for i in range(len(lines) - 1, -1, -1):
        following[i] = upcoming
        if lines[i]:
            upcoming = lines[i]
    items: list[tuple[int, str]] = []
    paragraph: list[str] = []

    def flush():
        if paragraph:
            items.append((0, _join_lines(paragraph)))
            paragraph.clear()

    for i, line in enumerate(lines):
        if not line:
            flush()
            continue
        markdown = MD_HEADING.match(line)
        if markdown:
            flush()
            if markdown.group(2):
                items.append((len(markdown.group(1)), markdown.group(2)))
            continue
        if UNDERLINE.match(line):
            # "Title\n=====" is a heading; a lone "---" is a rule between paragraphs.
            if len(paragraph) == 1 and _is_heading_like(paragraph[0]):
                items.append((1 if line[0] == "=" else 2, paragraph.pop().rstrip(":")))
            flush()
            continue
        starts_block = not paragraph or SENTENCE_END.search(paragraph[-1])
        nxt = following[i]
        if starts_block and _is_heading_like(line) and nxt and not UNDERLINE.match(nxt) and _introduces_text(nxt):
            flush()
            items.append((HEADING_LEVEL_PLAIN, line.rstrip(":").strip()))
            continue
        paragraph.append(line)
    flush()
    return items


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph; a break needs end punctuation, a space and a capital (or digit) next."""
    sentences, start = [], 0
    for match in re.finditer(r"[.!?…]+[\"'”’»)\]]*\s+", text):
        following = text[match.end() : match.end() + 1]
        if following and (following.isupper() or following.isdigit() or following in "¿¡\"'“«("):
            sentences.append(text[start : match.end()].strip())
            start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def _pieces(paragraph: str) -> list[str]:
    """A paragraph as it is, or cut at sentence ends into near-equal parts of at most MAX_WORDS."""
    total = word_count(paragraph)
    if total <= MAX_WORDS:
        return [paragraph]
    sentences = []
    for sentence in split_sentences(paragraph):
        words = sentence.split()
        if word_count(sentence) <= MAX_WORDS:
            sentences.append(sentence)
        else:  # one endless "sentence" (a table, a list without punctuation): cut between words
            sentences.extend(" ".join(words[i : i + MAX_WORDS]) for i in range(0, len(words), MAX_WORDS))
    parts = math.ceil(total / MAX_WORDS)
    target = total / parts
    pieces, current, count = [], [], 0
    for sentence in sentences:
        n = word_count(sentence)
        if current and (count >= target or count + n > MAX_WORDS):
            pieces.append(" ".join(current))
            current, count = [], 0
        current.append(sentence)
        count += n
    if current:
        pieces.append(" ".join(current))
    return pieces


def _chunks(paragraphs: list[str]) -> list[str]:
    """A section's paragraphs merged into passages of MIN_WORDS..MAX_WORDS where they allow."""
    chunks: list[list[str]] = []
    current: list[str] = []
    count = 0
    for piece in (p for paragraph in paragraphs for p in _pieces(paragraph)):
        n = word_count(piece)
        if current and (count >= MIN_WORDS or count + n > MAX_WORDS):
            chunks.append(current)
            current, count = [], 0
        current.append(piece)
        count += n
    if current:
        # A short tail joins the passage before it rather than standing alone.
        if chunks and count < MIN_WORDS and word_count("\n".join(chunks[-1])) + count <= MAX_WORDS:
            chunks[-1].extend(current)
        else:
            chunks.append(current)
    return ["\n".join(chunk) for chunk in chunks]


def split_passages(text: str) -> list[str]:
    """`text` cut into passages: never across a heading, merged to about MIN..MAX_WORDS words,
    cut at sentence ends when a paragraph is longer. Each passage starts with its heading path
    ("Prices › Cleaning") and a blank line, when there is one."""
    passages: list[str] = []
    headings: list[tuple[int, str]] = []
    paragraphs: list[str] = []

    def flush():
        path = " › ".join(title for _, title in headings)
        for chunk in _chunks(paragraphs):
            passages.append(f"{path}\n\n{chunk}" if path else chunk)
        paragraphs.clear()

    for level, content in _items(normalise_text(text)):
        if level == 0:
            if WORD.search(content):
                paragraphs.append(content)
            continue
        flush()
        while headings and headings[-1][0] >= level:
            headings.pop()
        headings.append((level, content))
    flush()
    return passages


def passage_body(text: str) -> str:
    """A passage's text without its heading line."""
    head, sep, body = text.partition("\n\n")
    return body if sep and "\n" not in head else text


# --- Retrieval ------------------------------------------------------------------------------
SEARCH_CONFIGS = {"en": "english", "es": "spanish", "fr": "french", "de": "german"}


def search_config(language: str) -> str:
    """PostgreSQL's text search configuration for an agent language such as "es-ES"."""
    return SEARCH_CONFIGS.get((language or "").split("-")[0].lower(), "simple")


def passages_for(agent, query: str, *, limit: int = 3, within: float | None = None) -> list[Passage]:
    """The agent's passages that best match `query`, best first; only passages sharing at
    least one meaningful word with it (an empty list when none does). `within`: seconds the
    search may take (on PostgreSQL a statement timeout); a search that takes longer finds nothing,
    so a call's turn is never late for its knowledge.

    Costs no query at all when the agent holds no passages (`Agent.knowledge_passage_count`) or
    `query` has no word worth searching for in the agent's language ("yes", "okay", "uh huh", "what
    is the"), and one statement otherwise (its time limit included)."""
    if agent is None or getattr(agent, "pk", None) is None or limit <= 0:
        return []
    if not agent.knowledge_passage_count or not content_terms(query, language=agent.language):
        return []
    if not _full_text_search_available():
        rows = _search_overlap(agent, query, limit)
    elif within is not None and within <= 0:
        return []
    else:
        # The callee's own words, not `content_terms`' crude stems: PostgreSQL stems them in the
        # agent's language and drops its stop words itself. "or" would read as websearch's operator.
        terms = [w for w in dict.fromkeys(word.lower() for word in WORD.findall(query)) if w != "or"]
        terms = terms[:MAX_QUERY_TERMS]
        if within is None:
            rows = _search_postgres(agent, terms, limit)
        else:
            try:
                rows = _search_postgres(agent, terms, limit, within=within)
            except OperationalError as exc:  # cancelled at the statement timeout
                logger.warning("knowledge search for agent %s gave up: %s", agent.pk, exc)
                return []
    return [Passage(id=pk, source=title, text=text) for pk, title, text in rows]


def _full_text_search_available() -> bool:
    return connections[KnowledgePassage.objects.db].vendor == "postgresql"


def _search_postgres(agent, terms: list[str], limit: int, *, within: float | None = None) -> list[tuple]:
    """(id, source title, text) of the best `limit` passages, in one statement: the stored vectors
    matched through their GIN index and ranked as they are (no passage's text is parsed here)."""
    passage, source = KnowledgePassage._meta.db_table, KnowledgeSource._meta.db_table
    # Any word is enough: a caller asking "what time do you open on saturday" must find "Open
    # Saturdays 9 to 1" all the same (plain and websearch queries AND their words).
    search = (
        f"SELECT p.id, s.title, p.text FROM {passage} p JOIN {source} s ON s.id = p.source_id, "
        "websearch_to_tsquery(%s::regconfig, %s) q "
        "WHERE p.agent_id = %s AND p.search @@ q "
        "ORDER BY ts_rank(p.search, q) DESC, p.source_id, p.position LIMIT %s"
    )
    params = [search_config(agent.language), " or ".join(terms), agent.pk, limit]
    connection = connections[KnowledgePassage.objects.db]
    if within is None:
        with connection.cursor() as cursor:
            cursor.execute(search, params)
            return cursor.fetchall()
    # The time limit travels in the same round trip, as a first statement: the statements of one
    # message run in one transaction (an implicit one, outside a caller's), which `set_config(...,
    # true)` lasts for; inside a caller's transaction the last statement puts the limit back, and a
    # savepoint keeps a search cancelled there from aborting the caller's work. (Django's psycopg
    # cursors bind parameters client-side, which lets one execute carry several statements.)
    timeout = f"{max(1, int(within * 1000))}ms"
    statements = f"SELECT set_config('statement_timeout', %s, true); {search}; SET LOCAL statement_timeout TO DEFAULT"
    savepoint = transaction.atomic(using=connection.alias) if connection.in_atomic_block else contextlib.nullcontext()
    with savepoint, connection.cursor() as cursor:
        cursor.execute(statements, [timeout, *params])
        cursor.nextset()  # past set_config's row, to the search's
        return cursor.fetchall()


def _search_overlap(agent, query: str, limit: int) -> list[tuple]:
    passages = list(KnowledgePassage.objects.filter(agent=agent).values_list("pk", "source__title", "text"))
    ranked = rank_by_overlap(query, [text for *_, text in passages], language=agent.language)
    return [passages[index] for index, _ in ranked[:limit]]


# --- Word overlap: the fallback ranking, and picking the sentence that answers ---------------
# Space-separated, per language: words too common to say what a question is about, and the
# fillers of an acknowledgement ("uh huh", "okay, thanks"), which `passages_for` does not search for.
STOP_WORDS = {
    "en": (
        "a about above after again all also am an and any are as at be because been before being below between "
        "both but by can could did do does doing don't down during each few for from further get got had has have "
        "having he her here hers him his how i i'd i'm if in into is it it's its just let's me more most my no nor "
        "not now of off on once only or other our ours out over own please same she should so some such than that "
        "that's the their theirs them then there there's these they this those through to too under until up us "
        "very was we we're were what what's when where which while who whom why will with would you you're your "
        "yours tell know like want need hi hello okay ok yes yeah um uh huh hmm mhm mm oh ah sure thanks thank alright"
    ),
    "es": (
        "a al algo ante antes como con contra cual cuando de del desde donde durante el ella ellos en entre era es "
        "esa ese eso esta este esto estoy está están fue ha hay hasta la las le les lo los me mi mis muy más nada "
        "ni no nos o os para pero por porque que qué quien se sea ser si sin sobre son su sus también te tengo "
        "tiene tienen tu tus un una uno unos usted ustedes y ya yo cómo cuándo dónde cuál hola vale bueno sí "
        "claro gracias ajá eh mmm okay ok"
    ),
    "fr": (
        "a au aux avec avez ce ces c'est comme comment dans de des du elle en est et etes êtes il ils je la le les "
        "leur lui ma mais me mes moi mon ne nos notre nous on ou où par pas pour qu'est que quel quelle qui sa se "
        "ses son sont sur ta te tes toi ton tu un une vos votre vous y bonjour oui est-ce ouais d'accord merci "
        "non euh ah bon okay ok"
    ),
    "de": (
        "aber als am an auch auf aus bei bin bis bitte da das dass dem den der des die dir du ein eine einem einen "
        "einer er es für gibt habe haben hat ich ihr ihre im in ist ja kann können man mich mir mit nach nicht noch "
        "nur oder sie sind so um und uns von vor war was wann warum welche wer wie wir wo zu zum zur hallo "
        "nein genau danke äh ähm hm mhm okay ok"
    ),
}


def _fold(word: str) -> str:
    word = unicodedata.normalize("NFKD", word.lower().replace("’", "'"))
    return "".join(c for c in word if not unicodedata.combining(c))


@functools.cache
def _stop_words(language: str) -> frozenset[str]:
    return frozenset(_fold(word) for word in STOP_WORDS.get(language, STOP_WORDS["en"]).split())


def _stem(word: str) -> str:
    """A crude stem, the same for query and passage: "opening"/"opens" -> "open", "prices" -> "pric"."""
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) >= 4:
        word = word[:-1]
    return word


def content_terms(text: str, *, language: str = "en-US") -> set[str]:
    """The stems of the meaningful words of `text` (stop words of its language left out)."""
    stop = _stop_words((language or "").split("-")[0].lower())
    terms = set()
    for word in WORD.findall(text or ""):
        folded = _fold(word)
        if folded in stop or (len(folded) < 2 and not folded.isdigit()):
            continue
        terms.add(_stem(folded.removesuffix("'s")))
    return terms


def rank_by_overlap(query: str, texts: list[str], *, language: str = "en-US") -> list[tuple[int, float]]:
    """(index, score) of the texts that share a meaningful word with `query`, best first.

    A word counts more the fewer texts contain it (a rare word like "parking" says more than
    "appointment" in a dental clinic's notes); ties go to the shorter text, then the earlier one.
    """
    wanted = content_terms(query, language=language)
    if not wanted or not texts:
        return []
    terms = [content_terms(text, language=language) for text in texts]
    frequency = {term: sum(term in t for t in terms) for term in wanted}
    scored = []
    for index, text_terms in enumerate(terms):
        matched = wanted & text_terms
        if matched:
            score = sum(math.log(1 + len(texts) / frequency[term]) for term in matched)
            scored.append((index, score, len(text_terms)))
    scored.sort(key=lambda item: (-item[1], item[2], item[0]))
    return [(index, score) for index, score, _ in scored]


def passage_answer(text: str, query: str, *, language: str = "en-US", max_words: int = ANSWER_MAX_WORDS) -> str:
    """The sentence(s) of a passage that best answer `query`, at most `max_words` words, to be
    said aloud: the sentence sharing most words with the question (the first one when none
    does), and the one after it too when it also matches and fits."""
    sentences = [
        BULLET.sub("", sentence)
        for line in passage_body(text).split("\n")
        for sentence in split_sentences(line.strip())
    ]
    sentences = [s for s in sentences if WORD.search(s)]
    if not sentences:
        return ""
    wanted = content_terms(query, language=language)
    scores = [len(wanted & content_terms(s, language=language)) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i))
    chosen = [sentences[best]]
    following = best + 1
    if (
        following < len(sentences)
        and scores[following] > 0
        and word_count(chosen[0]) + word_count(sentences[following]) <= max_words
    ):
        chosen.append(sentences[following])
    return _clip(" ".join(_as_sentence(s) for s in chosen), max_words)


def _as_sentence(text: str) -> str:
    text = text.strip().rstrip(":;,")
    return text if SENTENCE_END.search(text) else text + "."


def _clip(text: str, max_words: int) -> str:
    """At most `max_words` words, cut after a comma or semicolon when there is one late enough."""
    words = text.split()
    if len(words) <= max_words:
        return text
    words = words[:max_words]
    for i in range(len(words) - 1, max_words // 3, -1):
        if words[i].endswith((",", ";", ":")):
            words = words[: i + 1]
            break
    return " ".join(words).rstrip(",;:") + "…"
