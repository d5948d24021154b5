"""The text of knowledge passages, with no database: a source split into passages of 80–200 words
under their headings, the words of a text that say what it is about (stop words out, crudely
stemmed), the ranking by shared words that stands in for full-text search, and the sentences of a
passage that answer a question.

A passage's text is its section heading (when it has one), a blank line, then its body; body
paragraphs and list items are separated by single newlines. Engines may rely on that shape
(`passage_body` strips the heading).
"""

import functools
import math
import re
import unicodedata

# Passages of about this many words: long enough to carry an answer with its context, short
# enough that three of them fit a model's prompt and a phone answer can be picked from one.
MIN_WORDS, MAX_WORDS = 80, 200
ANSWER_MAX_WORDS = 40


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
