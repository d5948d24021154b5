"""An agent's knowledge base: sources split into passages, and retrieval of the passages most
relevant to what the callee said (the passages' text itself is knowledge_text.py's).

Retrieval is PostgreSQL full-text search in the agent's language, against each passage's tsvector
stored when it was added (one statement per search, at most); on other databases (SQLite for
`make run`) a word-overlap score stands in, so a demo works without PostgreSQL. Nothing is asked of
the database when the agent has no passages or the callee said nothing to search for ("yes",
"okay", "uh huh").
"""

import contextlib
import io
import logging
import os

from django.contrib.postgres.search import SearchVector
from django.db import OperationalError, connections, transaction
from django.db.models import Value
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from ..errors import CampaignError
from ..models import Agent, KnowledgePassage, KnowledgeSource
from .engine.base import Passage
from .knowledge_text import WORD, content_terms, normalise_text, rank_by_overlap, split_passages

logger = logging.getLogger(__name__)


MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TEXT_CHARS = 500_000
MAX_PASSAGES_PER_AGENT = 500
# Passages of about this many words: long enough to carry an answer with its context, short
# enough that three of them fit a model's prompt and a phone answer can be picked from one.
MIN_WORDS, MAX_WORDS = 80, 200
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
    if not _full_text_search_available():
        return None
    return SearchVector(Value(text), config=search_config(agent.language))


def _store_vectors(passages, config: str) -> None:
    """One UPDATE: the passages' tsvectors, from their text."""
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
