"""A policy's text as people read it, and what changed between two texts.

Staff write a version as plain text: paragraphs separated by a blank line, a line starting with
"## " is a heading and lines starting with "- " are list items. Nothing in it is HTML: every
piece is escaped when shown (templates), so a version's text can never inject markup.

The comparison works on those pieces (headings, paragraphs, list items), then word by word
inside a piece that changed, so a changed sentence shows the words added and removed instead of
a whole paragraph deleted and another inserted."""

import difflib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from django.conf import settings
from django.template.loader import render_to_string

HEADING, PARAGRAPH, ITEM = "heading", "paragraph", "item"


@dataclass(frozen=True)
class Block:
    kind: str  # HEADING, PARAGRAPH or ITEM
    text: str


@dataclass
class ChangedBlock:
    kind: str
    change: str  # "same", "added", "removed" or "changed"
    parts: list[tuple[str, str]] = field(default_factory=list)  # (same|added|removed, text)


def _clean(text: str) -> str:
    return " ".join(text.split())


def blocks_of(text: str) -> list[Block]:
    """The headings, paragraphs and list items of a plain-text policy, in order."""
    blocks: list[Block] = []
    paragraph: list[str] = []

    def end_paragraph():
        if paragraph:
            blocks.append(Block(PARAGRAPH, _clean(" ".join(paragraph))))
            paragraph.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            end_paragraph()
        elif line.startswith("#"):
            end_paragraph()
            blocks.append(Block(HEADING, _clean(line.lstrip("#"))))
        elif line.startswith(("- ", "* ", "• ")):
            end_paragraph()
            blocks.append(Block(ITEM, _clean(line[2:])))
        elif blocks and blocks[-1].kind == ITEM and not paragraph and raw[:1].isspace():
            # An indented line goes on with the list item above it.
            blocks[-1] = Block(ITEM, _clean(blocks[-1].text + " " + line))
        else:
            paragraph.append(line)
    end_paragraph()
    return blocks


def grouped(blocks: list[Block]) -> list[dict]:
    """Blocks for a template: consecutive list items become one list."""
    out: list[dict] = []
    for block in blocks:
        if block.kind == ITEM:
            if out and out[-1]["kind"] == "list":
                out[-1]["items"].append(block.text)
            else:
                out.append({"kind": "list", "items": [block.text]})
        else:
            out.append({"kind": block.kind, "text": block.text})
    return out


_WORDS = re.compile(r"\s+|[^\s]+")


def _word_diff(old: str, new: str) -> list[tuple[str, str]]:
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    parts: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("removed", "".join(a[i1:i2])))
        if j2 > j1:
            parts.append(("added", "".join(b[j1:j2])))
    return parts


def compared(old: list[Block], new: list[Block]) -> list[ChangedBlock]:
    """`new`'s blocks in order, with `old`'s removed ones where they were, each marked."""
    out: list[ChangedBlock] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out += [ChangedBlock(b.kind, "same", [("same", b.text)]) for b in new[j1:j2]]
            continue
        olds, news = old[i1:i2], new[j1:j2]
        # Pieces replaced one for one, of the same kind, are shown word by word.
        paired = 0
        if op == "replace":
            for before, after in zip(olds, news, strict=False):
                if before.kind != after.kind:
                    break
                out.append(ChangedBlock(after.kind, "changed", _word_diff(before.text, after.text)))
                paired += 1
        out += [ChangedBlock(b.kind, "removed", [("removed", b.text)]) for b in olds[paired:]]
        out += [ChangedBlock(b.kind, "added", [("added", b.text)]) for b in news[paired:]]
    return out


class _PageText(HTMLParser):
    """The built-in page's policy text (between <!--policy-text--> and <!--/policy-text-->) as
    blocks: <h2>/<h3> headings, <p> paragraphs, <li> list items."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.blocks: list[Block] = []
        self.kind: str | None = None
        self.buffer: list[str] = []

    def handle_comment(self, data):
        if data.strip() == "policy-text":
            self.inside = True
        elif data.strip() == "/policy-text":
            self._end()
            self.inside = False

    def handle_starttag(self, tag, attrs):
        if not self.inside:
            return
        kind = {"h2": HEADING, "h3": HEADING, "p": PARAGRAPH, "li": ITEM}.get(tag)
        if kind:
            self._end()
            self.kind = kind

    def handle_endtag(self, tag):
        if self.inside and tag in ("h2", "h3", "p", "li", "ul", "ol"):
            self._end()

    def handle_data(self, data):
        if self.inside and self.kind:
            self.buffer.append(data)

    def _end(self):
        text = _clean("".join(self.buffer))
        if self.kind and text:
            self.blocks.append(Block(self.kind, text))
        self.kind, self.buffer = None, []


def builtin_blocks(policy: str) -> list[Block]:
    """The built-in page of `policy` (templates/pages/<policy>.html, as shown before any version
    was published) as blocks."""
    # As the page shows it, without a request: the same words a visitor reads.
    html = render_to_string(
        f"pages/{policy}.html", {"policy_page": {"builtin": True}, "support_email": settings.SUPPORT_EMAIL}
    )
    parser = _PageText()
    parser.feed(html)
    parser.close()
    return parser.blocks


def blocks_as_text(blocks: list[Block]) -> str:
    """Blocks written back as plain text (the built-in page as a starting point for staff)."""
    lines = []
    for block in blocks:
        if block.kind == HEADING:
            lines += ["", f"## {block.text}", ""]
        elif block.kind == ITEM:
            lines.append(f"- {block.text}")
        else:
            lines += ["", block.text, ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
