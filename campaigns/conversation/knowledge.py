"""An agent's knowledge base: sources split into passages, and retrieval of the passages most
relevant to what the callee said.

A passage's text is its section heading (when it has one), a blank line, then its body; body
paragraphs and list items are separated by single newlines. Engines may rely on that shape
(`passage_body` strips the heading).

Retrieval is PostgreSQL full-text search in the agent's language; on other databases (SQLite
for `make run`) a word-overlap score stands in, so a demo works without PostgreSQL.
"""

import functools
import io
import logging
import operator
import os

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import OperationalError, connections, transaction
from django.db.models import F, Func, Value
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from ..errors import CampaignError
from ..models import Agent, KnowledgePassage, KnowledgeSource
from .engine.base import Passage
from .knowledge_text import WORD, normalise_text, rank_by_overlap, split_passages

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TEXT_CHARS = 500_000
MAX_PASSAGES_PER_AGENT = 500
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
    source.delete()


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
            KnowledgePassage(source=source, agent=agent, position=position, text=passage)
            for position, passage in enumerate(passages)
        )
    return source


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
    so a call's turn is never late for its knowledge."""
    if agent is None or getattr(agent, "pk", None) is None or limit <= 0:
        return []
    terms = list(dict.fromkeys(word.lower() for word in WORD.findall(query or "")))[:MAX_QUERY_TERMS]
    if not terms or not KnowledgePassage.objects.filter(agent=agent).exists():
        return []  # most agents have no knowledge base: skip building the search
    if not _full_text_search_available():
        rows = _search_overlap(agent, " ".join(terms), limit)
    elif within is None:
        rows = _search_postgres(agent, terms, limit)
    elif within <= 0:
        return []
    else:
        try:
            with transaction.atomic(), connections[KnowledgePassage.objects.db].cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{max(1, int(within * 1000))}ms"])
                rows = _search_postgres(agent, terms, limit)
        except OperationalError as exc:  # cancelled at the statement timeout
            logger.warning("knowledge search for agent %s gave up: %s", agent.pk, exc)
            return []
    return [Passage(id=row.pk, source=row.source.title, text=row.text) for row in rows]


def _full_text_search_available() -> bool:
    return connections[KnowledgePassage.objects.db].vendor == "postgresql"


def _search_postgres(agent, terms: list[str], limit: int) -> list[KnowledgePassage]:
    config = search_config(agent.language)
    # One query per word, OR-ed: plain and websearch queries AND their words, and a caller
    # asking "what time do you open on saturday" must find "Open Saturdays 9 to 1" all the same.
    # Stop words become empty queries, which PostgreSQL drops from the OR.
    query = functools.reduce(operator.or_, (SearchQuery(term, config=config, search_type="plain") for term in terms))
    # Exactly the expression of the GIN indexes (migration 0011), so `@@` finds matches through
    # the index instead of parsing every passage on every turn.
    vector = Func(Value(config), F("text"), function="to_tsvector", output_field=SearchVectorField())
    return list(
        KnowledgePassage.objects.filter(agent=agent)
        .annotate(vector=vector)
        .filter(vector=query)
        .annotate(rank=SearchRank(F("vector"), query))
        .select_related("source")
        .order_by("-rank", "source_id", "position")[:limit]
    )


def _search_overlap(agent, query: str, limit: int) -> list[KnowledgePassage]:
    passages = list(KnowledgePassage.objects.filter(agent=agent).select_related("source"))
    ranked = rank_by_overlap(query, [p.text for p in passages], language=agent.language)
    return [passages[index] for index, _ in ranked[:limit]]
