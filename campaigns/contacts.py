"""Contact lists and the do-not-call list: CSV files in, E.164 numbers stored, bad rows reported by line.

Two ways in, one row-processing core (`RowProcessor` over a `CsvSource`):
- `contacts_import`: small files, synchronously, columns found by their header names (tests, demo data);
- the upload flow: `contact_upload_create` stores the file, the user maps its columns and confirms
  consent (`contact_list_import_start`), and the RQ job `contact_list_import` imports it in batches
  while the page shows its progress. That is the path for real files, up to `MAX_UPLOAD_BYTES`.

Reading files people actually have:
- The file is never decoded whole: `csv` reads an `io.TextIOWrapper` over the stored bytes, and
  progress is the wrapper's position in them.
- Encoding (`detect_encoding`): a byte-order mark decides (UTF-8 or UTF-16, as Excel writes them).
  Otherwise the bytes are checked as UTF-8 in 1 MiB chunks (nothing kept). Valid: UTF-8. Mostly
  valid (more bytes in well-formed multi-byte characters than bad ones): UTF-8, and each row with
  bad bytes is rejected with its line number, never silently mangled. No well-formed multi-byte
  character at all: a legacy single-byte file, read as Windows-1252 (what Excel on Western
  Windows writes, a superset of Latin-1 in practice); its five undefined bytes reject their rows
  the same way. The encoding used is shown with the result, so a file in another code page (names
  that look wrong) is noticed; the advice is to save it as "CSV UTF-8".
- Separator: `csv.Sniffer` on the first lines picks `,`, `;`, tab or `|`; when it cannot tell, the
  candidate that occurs most in the header line wins (a one-column file: `,`). The quote character
  is always `"`: the sniffer would take the apostrophe our exports once put before "+1…" (and
  spreadsheets users type before numbers) for one.
- Quoted fields may hold separators and newlines; a row is reported at its first line, as a
  spreadsheet shows it. Blank lines and rows of empty cells are skipped, and keep later lines'
  numbers right. A quote left open swallows the lines after it: such a row is rejected by line.
- Hostile or broken files cost little: no row is read past `CSV_MAX_ROW_LENGTH` characters (the
  lines are read with a bounded `readline`, so a 10 MB line is never held whole), and no row may
  use more than `CSV_MAX_COLUMNS` columns. Either fails the whole file with the line to look at:
  the header at upload, the first rows on the mapping page, any later row in the import job.

Duplicates: a number appears once per list (the database's unique constraint); the same number may
be in several lists of an account (a segment, a follow-up list). The background import skips a
row that repeats a number of the same list and numbers on the account's or the platform's
do-not-call list, each reported with the line it repeats or the list it is on. The checks run once
per batch of rows against the database (no query per row, no set of every number in memory).

Variables: every column the user ticks becomes a variable the agent's lines use as {{name}}. The
name is suggested from the header ("Company (Org)" → company), shown and editable at mapping, and
must be a name the lines can use (`variable_name_problem`). Cells our own exports guarded against
spreadsheet formulas are read back without the guard (`clozit.csvsafe.spreadsheet_text`), so a
list's export imports again to the same contacts, variables and tags.
"""

import codecs
import csv
import functools
import gc
import io
import json
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePath

from django.conf import settings
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.functional import cached_property

from clozit.csvsafe import safe_row, spreadsheet_text
from clozit.phones import normalise_number
from clozit.queueing import enqueue

from .errors import CampaignError
from .models import Contact, ContactList, ContactUpload, DoNotCall, ImportRejection

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # contacts_import: synchronous, in a request
MAX_BACKGROUND_UPLOAD_BYTES = 50 * 1024 * 1024  # the upload flow: stored, then imported by a job
MAX_DNC_IMPORT_LINES = 10_000
MAX_DNC_IMPORT_BYTES = 2 * 1024 * 1024
BATCH_ROWS = 2000
IMPORT_JOB_TIMEOUT_SECONDS = 1800
# A quoted value spanning more lines than this is a quote left open, not a note with line breaks.
MAX_LINES_PER_ROW = 50
MAX_VARIABLE_LENGTH = 1000
MAX_TAGS = 20
MAX_TAG_LENGTH = 40
ALLOWED_EXTENSIONS = {".csv", ".txt", ".tsv"}
SPREADSHEET_EXTENSIONS = {".xlsx", ".xlsm", ".xls", ".ods", ".numbers"}

PHONE_HEADERS = {"phone", "phone_number", "phonenumber", "number", "mobile", "mobile_number", "telephone", "tel"}
FIRST_NAME_HEADERS = {"first_name", "firstname", "first", "given_name"}
LAST_NAME_HEADERS = {"last_name", "lastname", "last", "surname", "family_name"}
# "Name" alone is usually "Ann Lee"; beside a last-name column it is the first name.
FULL_NAME_HEADERS = {"full_name", "fullname", "name", "contact_name", "customer_name", "client_name", "display_name"}
TIME_ZONE_HEADERS = {"time_zone", "timezone", "tz", "zone"}
TAG_HEADERS = {"tags", "tag", "labels"}
REASON_HEADERS = {"reason", "note", "notes", "comment"}
MAPPED_FIELDS = ("phone", "full_name", "first_name", "last_name", "time_zone", "tags")

# Variable names: what {{name}} in an agent's line can use (campaigns.engine.base.VARIABLE), in lower case.
VARIABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
MAX_VARIABLE_NAME_LENGTH = 40
# Names a column cannot take: the contact's own fields (which a call fills in, whatever a column
# says) and the columns of a list's export (so an export imports again to the same variables).
RESERVED_VARIABLES = {
    "first_name": "the contact's first name",
    "last_name": "the contact's last name",
    "phone_number": "the contact's phone number",
    "phone": "the phone number column of exports",
    "time_zone": "the contact's time zone",
    "tags": "the contact's tags",
}

# Full names: titles dropped before the split, suffixes kept with the last name, and the particles
# that start a last name ("Ludwig van Beethoven": Ludwig, van Beethoven).
NAME_TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof"}
NAME_SUFFIXES = {"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"}
NAME_PARTICLES = {
    "van", "von", "de", "del", "della", "der", "den", "di", "da", "du", "la", "le", "dos", "das", "do", "ter", "ten",
    "bin", "ibn", "al", "el", "st", "st.",
}  # fmt: skip

# Magic numbers of files people upload by mistake, with what to tell them.
BINARY_SIGNATURES = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a spreadsheet or ZIP archive (an .xlsx or .ods workbook is one)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls) or another Office file"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"{\\rtf", "an RTF document"),
]
SAVE_AS_CSV = "Open it in your spreadsheet, choose File › Save As › “CSV UTF-8 (Comma delimited)” and upload that file."
CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
REPLACEMENT = "\ufffd"
DECODE_CHUNK = 1024 * 1024


# --- Small normalisers ---------------------------------------------------------------
def normalise_header(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", (name or "").strip().lower()).strip("_")


def suggest_variable_name(header: str) -> str:
    """A name for {{…}} from a column header: "Company (Org)" → company, "Société" → societe,
    "2nd address" → column_2nd_address. Not checked for clashes (see `suggest_variable_names`)."""
    ascii_header = unicodedata.normalize("NFKD", header or "").encode("ascii", "ignore").decode()
    without_note = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", ascii_header)
    name = normalise_header(without_note) or normalise_header(ascii_header)
    if name and not name[0].isalpha():
        name = f"column_{name}"
    return name[:MAX_VARIABLE_NAME_LENGTH].rstrip("_")


def suggest_variable_names(columns: list[str]) -> dict[str, str]:
    """A distinct, usable name per column: a clash with a reserved name or another column gets the
    header's bracketed part back ("Phone (work)" → phone_work), else a number ("company_2")."""
    names: dict[str, str] = {}
    taken = set(RESERVED_VARIABLES)
    for position, column in enumerate(columns, start=1):
        ascii_column = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode()
        base = suggest_variable_name(column) or f"column_{position}"  # "電話" has no letters to keep
        candidates = [base, normalise_header(ascii_column)]
        name = next((c for c in candidates if c and VARIABLE_NAME.fullmatch(c) and c not in taken), "")
        number = 2
        while not name:
            candidate = f"{base[: MAX_VARIABLE_NAME_LENGTH - 4]}_{number}"
            name = candidate if candidate not in taken else ""
            number += 1
        names[column] = name
        taken.add(name)
    return names


def variable_name_problem(name: str, *, column: str = "", taken: dict[str, str] | None = None) -> str:
    """Why `name` cannot be a variable ("" when it can); `taken` maps names already given to the
    columns that have them."""
    label = f"“{column}”" if column else "This column"
    if not name:
        return f"Give {label} a variable name, or untick it."
    if len(name) > MAX_VARIABLE_NAME_LENGTH:
        return f"Keep variable names to {MAX_VARIABLE_NAME_LENGTH} characters."
    if not VARIABLE_NAME.fullmatch(name):
        hint = suggest_variable_name(name) or "company"
        return (
            f"“{name}” cannot be a variable name: use lower-case letters, digits and _, starting with a letter "
            f"(such as {hint})."
        )
    if name in RESERVED_VARIABLES:
        return f"{{{{{name}}}}} is {RESERVED_VARIABLES[name]}: choose another name, such as {name}_2."
    if taken and name in taken:
        return f"{{{{{name}}}}} is already the name of “{taken[name]}”: give each column its own name."
    return ""


def split_full_name(text: str) -> tuple[str, str]:
    """(first name, last name) from one cell: "Ann Lee", "Lee, Ann", "Dr. Mary Ann van der Berg Jr."
    (→ "Mary Ann", "van der Berg Jr."). One word is a first name. Titles are dropped; nothing else is."""
    text = " ".join((text or "").split())
    if text.count(",") == 1:
        last, first = (part.strip() for part in text.split(","))
        if first and last and first.lower().rstrip(".") not in NAME_SUFFIXES:
            return first[:100], last[:100]
    words = text.replace(",", " ").split()
    while len(words) > 1 and words[0].lower().rstrip(".") in NAME_TITLES:
        words = words[1:]
    suffixes = []
    while len(words) > 2 and words[-1].lower().rstrip(".") in NAME_SUFFIXES:
        suffixes.insert(0, words.pop())
    if len(words) <= 1:
        return " ".join(words + suffixes)[:100], ""
    start = len(words) - 1
    while start > 1 and words[start - 1].lower() in NAME_PARTICLES:
        start -= 1
    return " ".join(words[:start])[:100], " ".join(words[start:] + suffixes)[:100]


@functools.cache
def _time_zones() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def normalise_time_zone(raw: str) -> str:
    """The IANA name for `raw` ("" stays ""), matched without regard to case; ValueError otherwise."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    name = _time_zones().get(raw.lower())
    if name is None:
        raise ValueError(f"'{raw[:60]}' is not a time zone (use a name such as America/New_York)")
    return name


def parse_tags(raw: str | Iterable[str]) -> list[str]:
    """Tags from "vip, spring; 2026" (or a list): trimmed, at most 40 characters, no repeats
    (ignoring case), at most 20."""
    parts = re.split(r"[,;|]", raw) if isinstance(raw, str) else list(raw)
    tags, seen = [], set()
    for part in parts:
        tag = " ".join(str(part).split())[:MAX_TAG_LENGTH]
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            tags.append(tag)
    return tags[:MAX_TAGS]


def parse_variables(text: str) -> dict[str, str]:
    """{"company": "Acme"} from lines of "company: Acme" (or "company = Acme"); ValueError names the line."""
    variables = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        match = re.match(r"\s*([^:=]+?)\s*[:=]\s*(.*?)\s*$", line)
        key = normalise_header(match.group(1)) if match else ""
        if not key:
            raise ValueError(f"line {number} needs the form 'name: value'")
        variables[key] = match.group(2)[:MAX_VARIABLE_LENGTH]
    return variables


# --- Reading CSV files -------------------------------------------------------------------
@dataclass(frozen=True)
class TextEncoding:
    codec: str  # for io.TextIOWrapper
    label: str  # for people
    has_errors: bool = False  # some bytes are not characters in it: their rows are rejected


def _count_undecodable(data: bytes, codec: str) -> tuple[int, int]:
    """(characters that could not be decoded, bytes saved by well-formed multi-byte characters), read
    in chunks so the text of the whole file never exists at once."""
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    bad = multibyte = 0
    view = memoryview(data)
    for start in range(0, len(data), DECODE_CHUNK):
        chunk = view[start : start + DECODE_CHUNK]
        text = decoder.decode(chunk, final=start + DECODE_CHUNK >= len(data))
        bad += text.count(REPLACEMENT)
        multibyte += len(chunk) - len(text)
    return bad, multibyte


def detect_encoding(data: bytes) -> TextEncoding:
    """How to read `data` as text (see the module docstring); CampaignError for binary files."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        bad, _ = _count_undecodable(data, "utf-16")
        return TextEncoding("utf-16", "UTF-16", has_errors=bad > 0)
    if b"\x00" in data[:8192]:
        raise CampaignError(f"The file is not text (it contains binary data), so it is not a CSV file. {SAVE_AS_CSV}")
    if data.startswith(codecs.BOM_UTF8):
        bad, _ = _count_undecodable(data, "utf-8-sig")
        return TextEncoding("utf-8-sig", "UTF-8", has_errors=bad > 0)
    bad, multibyte = _count_undecodable(data, "utf-8")
    if not bad:
        return TextEncoding("utf-8", "UTF-8")
    # Windows-1252 text almost never forms valid UTF-8 sequences by chance (an accented capital
    # followed by a symbol); a few of them among many bad bytes are such chances, not UTF-8.
    if multibyte * 20 >= bad:
        return TextEncoding("utf-8", "UTF-8", has_errors=True)
    undefined = sum(data.count(byte) for byte in CP1252_UNDEFINED)
    non_ascii = len(data) - len(data.translate(None, bytes(range(128, 256))))
    if undefined >= 5 and undefined * 4 > non_ascii:
        raise CampaignError(f"The file is not readable text, so it is not a CSV file. {SAVE_AS_CSV}")
    return TextEncoding("cp1252", "Windows-1252", has_errors=undefined > 0)


def refuse_if_not_csv(*, filename: str, data: bytes) -> None:
    """CampaignError with a message that says what the file is and what to do, for files that are
    not CSV by their name or their first bytes."""
    name = PurePath(filename or "").name or "The file"
    extension = PurePath(name).suffix.lower()
    if not data:
        raise CampaignError(f"“{name}” is empty.")
    for signature, what in BINARY_SIGNATURES:
        if data.startswith(signature):
            raise CampaignError(f"“{name}” is {what}, not a CSV file. {SAVE_AS_CSV}")
    if extension in SPREADSHEET_EXTENSIONS:
        raise CampaignError(f"“{name}” is a spreadsheet workbook, not a CSV file. {SAVE_AS_CSV}")
    if extension not in ALLOWED_EXTENSIONS:
        raise CampaignError(f"“{name}” is not a CSV file: upload a file whose name ends in .csv. {SAVE_AS_CSV}")
    head = data[:512].lstrip().lower()
    if head.startswith((b"<?xml", b"<html", b"<!doctype html", b"<table")):
        raise CampaignError(f"“{name}” is an XML or HTML file, not a CSV file. {SAVE_AS_CSV}")


def _delimiter(sample: str) -> str:
    candidates = ",;\t|"
    lines = [line for line in sample.splitlines() if line.strip()]
    header = lines[0] if lines else ""
    by_count = max(candidates, key=header.count) if any(c in header for c in candidates) else ","
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=candidates).delimiter
    except csv.Error:
        return by_count
    # The sniffer sometimes picks a character the header does not even contain.
    return sniffed if sniffed in header or by_count not in header else by_count


def header_names(values: list[str]) -> list[str]:
    """Unique display names for a header row: blanks become "Column 3", repeats "Name (2)"."""
    names, seen = [], {}
    for index, value in enumerate(values, start=1):
        name = " ".join(value.split())[:100] or f"Column {index}"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return names


class _RowTooLong(Exception):
    pass


class _BoundedLines:
    """The lines of `text` for csv.reader, never more than `limit` characters for one row.

    csv.reader asks for one more line for as long as a quote is open, and reads a line whole
    however long it is; `readline(size)` stops after the characters a row may still have, so a
    giant line or a quote left open costs at most `limit` characters. `row_chars` counts the
    row being read; the reader's consumer resets it after each row.
    """

    def __init__(self, text: io.TextIOBase, limit: int):
        self._readline = text.readline
        self.limit = limit
        self.row_chars = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self._readline(self.limit - self.row_chars + 1)
        if not line:
            raise StopIteration
        self.row_chars += len(line)
        if self.row_chars > self.limit:
            raise _RowTooLong
        return line


def _used_width(values: list[str]) -> int:
    """Columns up to the last non-empty cell (spreadsheets pad rows with empty ones)."""
    width = len(values)
    while width and not values[width - 1]:
        width -= 1
    return width


class CsvSource:
    """A CSV file read as a stream of (line, cells), with its header.

    `rows()` yields the first line of each non-blank row and its cells, or a str saying why the
    row cannot be used (a quote left open). `bytes_read` is how far into the file reading is.
    A row longer than `max_row_length` characters or wider than `max_columns` columns (by default
    the CSV_MAX_* settings) is a CampaignError naming its line, found before it is read whole.
    """

    def __init__(self, data: bytes, *, max_columns: int | None = None, max_row_length: int | None = None):
        self.max_columns = max_columns or settings.CSV_MAX_COLUMNS
        self.max_row_length = max_row_length or settings.CSV_MAX_ROW_LENGTH
        self.size = len(data)
        self.encoding = detect_encoding(data)
        sample = bytes(data[:16384]).decode(self.encoding.codec, errors="replace")
        if len(data) > 16384 and "\n" in sample:
            sample = sample[: sample.rindex("\n") + 1]  # whole lines only
        self.delimiter = _delimiter(sample.lstrip("\ufeff"))
        self._raw = io.BytesIO(data)
        self._text = io.TextIOWrapper(self._raw, encoding=self.encoding.codec, errors="replace", newline="")
        self._bounded = _BoundedLines(self._text, self.max_row_length)
        dialect = type("Dialect", (csv.excel,), {"delimiter": self.delimiter, "strict": False})
        self._reader = csv.reader(self._bounded, dialect=dialect)
        self.header: list[str] = []
        self.header_line = 0
        for line, values in self._lines():
            if isinstance(values, list) and any(v.strip() for v in values):
                self.header, self.header_line = [v.strip().lstrip("\ufeff") for v in values], line
                break
        self.names = header_names(self.header)

    @property
    def bytes_read(self) -> int:
        return self._raw.tell()

    @property
    def line_num(self) -> int:
        return self._reader.line_num

    def _lines(self) -> Iterator[tuple[int, list[str] | str]]:
        reader, bounded, max_columns = self._reader, self._bounded, self.max_columns
        previous_line = reader.line_num
        try:
            for values in reader:
                bounded.row_chars = 0
                line, previous_line = previous_line + 1, reader.line_num
                if len(values) > max_columns and _used_width(values) > max_columns:
                    raise CampaignError(
                        f"Line {line} has {_used_width(values):,} columns; at most {max_columns:,} can be imported. "
                        "Remove the columns you do not need and upload the file again."
                    )
                if previous_line - line >= MAX_LINES_PER_ROW:
                    yield line, f'a quote (") opened on this line is not closed until line {previous_line}'
                    continue
                yield line, values
        except _RowTooLong:
            start, at = previous_line + 1, reader.line_num + 1
            if at == start:
                why = f"the line is longer than {self.max_row_length:,} characters. Check that this is your list."
            else:
                why = (
                    f"the row is longer than {self.max_row_length:,} characters by line {at}. "
                    'Often a quote (") that is never closed.'
                )
            raise CampaignError(f"The file could not be read as CSV from line {start}: {why}") from None
        except csv.Error as exc:
            hint = ' Often a quote (") that is never closed.' if "field limit" in str(exc) else ""
            raise CampaignError(
                f"The file could not be read as CSV from line {previous_line + 1}: {exc}.{hint}"
            ) from None

    def rows(self) -> Iterator[tuple[int, list[str] | str]]:
        for line, values in self._lines():
            # Blank lines and rows of empty cells are no rows at all.
            if isinstance(values, str) or "".join(values).strip():
                yield line, values

    def preview(self, count: int = 5) -> list[list[str]]:
        """The first `count` rows, padded to the header's width (for the mapping page)."""
        rows = []
        if count <= 0:
            return rows
        for _, values in self.rows():
            if isinstance(values, list):
                rows.append((values + [""] * len(self.header))[: max(len(self.header), len(values))])
            if len(rows) >= count:
                break
        return rows


# --- Columns -------------------------------------------------------------------------------
def guess_mapping(names: list[str], *, header: list[str] | None = None, extended: bool = True) -> dict:
    """Column names for each field, guessed from the header (the mapping page's starting point):
    phone and names (a full name when the file has no first- or last-name column), with `extended`
    time zone and tags too; every other named column is a variable, with a suggested name in
    "variable_names". Columns whose header cell is blank (`header`) are left out."""
    unnamed = {name for name, raw in zip(names, header or names, strict=False) if not raw.strip()}
    by_key = {}
    for name in names:
        by_key.setdefault(normalise_header(name), name)

    def find(aliases):
        return next((by_key[key] for key in by_key if key in aliases), "")

    first_name, last_name = find(FIRST_NAME_HEADERS), find(LAST_NAME_HEADERS)
    full_name = ""
    if not first_name and not last_name:
        full_name = find(FULL_NAME_HEADERS)
    elif not first_name:
        first_name = find({"name"})
    mapping = {
        "phone": find(PHONE_HEADERS),
        "full_name": full_name,
        "first_name": first_name,
        "last_name": last_name,
        "time_zone": find(TIME_ZONE_HEADERS) if extended else "",
        "tags": find(TAG_HEADERS) if extended else "",
    }
    used = set(mapping.values())
    mapping["variables"] = [name for name in names if name not in used and name not in unnamed]
    mapping["variable_names"] = suggest_variable_names([name for name in names if name not in unnamed])
    return mapping


def mapping_variables(mapping: dict) -> list[tuple[str, str]]:
    """(column, variable name) for each ticked column. A mapping saved before names could be
    chosen (no "variable_names") names variables as the import then did: the header normalised."""
    names = mapping.get("variable_names")
    columns = mapping.get("variables") or []
    if not isinstance(names, dict):
        return [(column, normalise_header(column)) for column in columns]
    return [(column, str(names.get(column, suggest_variable_name(column))).strip()) for column in columns]


def variables_check(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Problems with the chosen variable names, by column ({} when every name can be used)."""
    problems, taken = {}, {}
    for column, name in pairs:
        problem = variable_name_problem(name, column=column, taken=taken)
        if problem:
            problems[column] = problem
        else:
            taken[name] = column
    return problems


@dataclass(frozen=True)
class Columns:
    """A mapping resolved against a header: column indexes, -1 for a field not taken from the file."""

    phone: int
    full_name: int = -1
    first_name: int = -1
    last_name: int = -1
    time_zone: int = -1
    tags: int = -1
    variables: tuple[tuple[int, str], ...] = ()

    @classmethod
    def resolve(cls, mapping: dict, names: list[str]) -> "Columns":
        index = {name: i for i, name in enumerate(names)}
        phone = mapping.get("phone") or ""
        if phone not in index:
            if phone:
                raise CampaignError(f"The file has no column “{phone}” for the phone number. Map the columns again.")
            raise CampaignError("Choose the column that holds the phone numbers.")
        columns = {f: index.get(mapping.get(f) or "", -1) for f in MAPPED_FIELDS}
        if columns["full_name"] >= 0 and (columns["first_name"] >= 0 or columns["last_name"] >= 0):
            raise CampaignError(
                "Choose a full-name column or first- and last-name columns, not both: "
                "the full name is split into first and last name."
            )
        taken = {i for i in columns.values() if i >= 0}
        pairs = [(column, name) for column, name in mapping_variables(mapping) if column in index]
        pairs = [(column, name) for column, name in pairs if index[column] not in taken]
        if isinstance(mapping.get("variable_names"), dict):
            problems = variables_check(pairs)
            if problems:
                raise CampaignError(next(iter(problems.values())))
        variables = tuple((index[column], name) for column, name in pairs if name)
        return cls(variables=variables, **columns)


# --- The row-processing core -------------------------------------------------------------------
@dataclass
class RowProblem:
    line: int
    message: str
    value: str = ""
    duplicate: bool = False


# (phone, first name, last name, time zone, tags, variables, line)
ContactRow = tuple[str, str, str, str, list, dict, int]


class RowProcessor:
    """Turns (line, cells) into a ContactRow or a RowProblem. Numbers are parsed once per distinct
    spelling (a bounded cache), and nothing here touches the database."""

    CACHE_LIMIT = 100_000

    def __init__(self, columns: Columns, *, width: int, default_country: str, encoding: TextEncoding, delimiter=","):
        self.columns = columns
        self.width = width
        self.default_country = default_country or "US"
        self.check_decoding = encoding.has_errors
        self.encoding_label = encoding.label
        self.delimiter = delimiter
        self._numbers: dict[str, str | ValueError] = {}

    def number(self, raw: str) -> str:
        cached = self._numbers.get(raw)
        if cached is None:
            try:
                cached = normalise_number(raw, default_country=self.default_country)
            except ValueError as exc:
                cached = exc
            if len(self._numbers) >= self.CACHE_LIMIT:
                self._numbers.clear()
            self._numbers[raw] = cached
        if cached.__class__ is str:
            return cached
        raise cached

    def row(self, line: int, values: list[str] | str) -> ContactRow | RowProblem:
        if values.__class__ is str:
            return RowProblem(line, values)
        c = self.columns
        n = len(values)
        if self.check_decoding and REPLACEMENT in "".join(values):
            return RowProblem(
                line,
                f"the line has bytes that are not {self.encoding_label} text (shown as {REPLACEMENT}); "
                "save the file as CSV UTF-8",
                self.delimiter.join(values)[:200],
            )
        if n > self.width and "".join(values[self.width :]).strip():
            return RowProblem(line, "the row has more columns than the header", self.delimiter.join(values)[:200])
        raw = values[c.phone] if c.phone < n else ""
        try:
            number = self.number(raw)
        except ValueError as exc:
            return RowProblem(line, str(exc), raw.strip()[:200])
        time_zone = ""
        if 0 <= c.time_zone < n:
            try:
                time_zone = normalise_time_zone(values[c.time_zone])
            except ValueError as exc:
                return RowProblem(line, str(exc), values[c.time_zone].strip()[:200])
        if 0 <= c.full_name < n:
            first_name, last_name = split_full_name(_cell(values[c.full_name]))
        else:
            first_name = _cell(values[c.first_name])[:100] if 0 <= c.first_name < n else ""
            last_name = _cell(values[c.last_name])[:100] if 0 <= c.last_name < n else ""
        return (
            number,
            first_name,
            last_name,
            time_zone,
            parse_tags(_cell(values[c.tags])) if 0 <= c.tags < n and values[c.tags] else [],
            {key: (_cell(values[i])[:MAX_VARIABLE_LENGTH] if i < n else "") for i, key in c.variables},
            line,
        )


def _cell(value: str) -> str:
    """A cell's text, trimmed; a cell our exports guarded against spreadsheet formulas ("'=…") is
    read as the value it stands for, so an export imports again to the same contacts."""
    value = value.strip()
    return spreadsheet_text(value).strip() if value.startswith("'") else value


# --- Synchronous import (small files) ------------------------------------------------------------
@dataclass
class ImportReport:
    contact_list: ContactList | None
    imported: int = 0
    duplicates: list[RowProblem] = field(default_factory=list)
    errors: list[RowProblem] = field(default_factory=list)


def contacts_import(*, owner, name: str, filename: str, data: bytes, consent_by=None) -> ImportReport:
    """Create a contact list from CSV bytes, in this request. Columns are found by their header
    ('phone', 'first_name', 'last_name'; every other column becomes a variable). Valid rows are
    kept even when other rows fail; a file without one valid row creates nothing. `consent_by`
    records who confirmed consent to call these people; without it the list cannot be called
    until someone confirms on its page."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise CampaignError("The file is larger than 10 MB. Split it into smaller lists.")
    source = CsvSource(data)
    mapping = guess_mapping(source.names, header=source.header, extended=False)
    if not mapping["phone"]:
        raise CampaignError("The file needs a column named 'phone' (or 'phone_number', 'mobile', 'number').")
    processor = RowProcessor(
        Columns.resolve(mapping, source.names),
        width=len(source.header),
        default_country=owner.default_country,
        encoding=source.encoding,
        delimiter=source.delimiter,
    )
    report = ImportReport(contact_list=None)
    seen: dict[str, int] = {}
    contacts: list[Contact] = []
    for line, values in source.rows():
        result = processor.row(line, values)
        if isinstance(result, RowProblem):
            report.errors.append(result)
            continue
        number, first_name, last_name, time_zone, tags, variables, line = result
        if number in seen:
            report.duplicates.append(RowProblem(line, f"{number} already appears on line {seen[number]}", number, True))
            continue
        seen[number] = line
        contacts.append(
            Contact(
                phone_number=number,
                first_name=first_name,
                last_name=last_name,
                time_zone=time_zone,
                tags=tags,
                variables=variables,
                source_line=line,
            )
        )
    if not contacts:
        detail = f" Line {report.errors[0].line}: {report.errors[0].message}." if report.errors else ""
        raise CampaignError("No valid contacts were found in the file." + detail)
    with transaction.atomic():
        contact_list = ContactList.objects.create(
            owner=owner,
            name=name,
            source_filename=filename[:255],
            default_country=owner.default_country or "",
            rows_imported=len(contacts),
            rows_rejected=len(report.errors) + len(report.duplicates),
            import_bytes_total=len(data),
            import_bytes_done=len(data),
            import_problems={
                "errors": [[p.line, p.message] for p in report.errors],
                "duplicates": [[p.line, p.message] for p in report.duplicates],
            },
            consent_confirmed_at=timezone.now() if consent_by is not None else None,
            consent_confirmed_by=consent_by,
            column_mapping=mapping,
        )
        for contact in contacts:
            contact.contact_list = contact_list
        Contact.objects.bulk_create(contacts, batch_size=BATCH_ROWS)
    report.contact_list = contact_list
    report.imported = len(contacts)
    return report


# --- The upload flow: store, map, confirm consent, import in the background -----------------------
def contact_upload_create(*, owner, filename: str, data: bytes) -> ContactList:
    """Step 1: keep the file (refused with a clear message unless it is a readable CSV with a
    header row) in a new list that waits for its column mapping."""
    if len(data) > MAX_BACKGROUND_UPLOAD_BYTES:
        raise CampaignError(
            f"The file is larger than {MAX_BACKGROUND_UPLOAD_BYTES // 2**20} MB. Split it into smaller files."
        )
    refuse_if_not_csv(filename=filename, data=data)
    source = CsvSource(data)
    if not source.header:
        raise CampaignError("The file has no rows. The first row should name the columns (phone, first name, …).")
    stem = PurePath(PurePath(filename).name).stem.replace("_", " ").strip() or "Contacts"
    with transaction.atomic():
        contact_list = ContactList.objects.create(
            owner=owner,
            name=stem[:120],
            source_filename=PurePath(filename).name[:255],
            import_status=ContactList.ImportStatus.QUEUED,
            default_country=owner.default_country or "US",
            column_mapping=guess_mapping(source.names, header=source.header),
            import_bytes_total=len(data),
        )
        ContactUpload.objects.create(contact_list=contact_list, data=data)
    return contact_list


def _upload_bytes(contact_list: ContactList) -> bytes:
    try:
        data = contact_list.upload.data
    except ContactUpload.DoesNotExist:
        raise CampaignError("The uploaded file is no longer stored. Upload it again.") from None
    return data if isinstance(data, bytes) else bytes(data)


@dataclass
class UploadPreview:
    names: list[str]
    rows: list[list[str]]
    delimiter: str
    encoding: TextEncoding

    @property
    def delimiter_label(self) -> str:
        return {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}.get(self.delimiter, self.delimiter)


def contact_upload_preview(*, contact_list: ContactList, rows: int = 5) -> UploadPreview:
    source = CsvSource(_upload_bytes(contact_list))
    return UploadPreview(source.names, source.preview(rows), source.delimiter, source.encoding)


def awaiting_mapping(contact_list: ContactList) -> bool:
    return contact_list.import_status == ContactList.ImportStatus.QUEUED and contact_list.consent_confirmed_at is None


def contact_list_import_start(
    *, contact_list: ContactList, mapping: dict, default_country: str, name: str, tags: list[str], by
) -> ContactList:
    """Step 2: the columns chosen and consent confirmed (recorded with the time and the user); the
    import job is queued once this commits. Submitting twice queues one import."""
    with transaction.atomic():
        contact_list = ContactList.objects.select_for_update().get(pk=contact_list.pk)
        if not awaiting_mapping(contact_list):
            return contact_list
        names = contact_upload_preview(contact_list=contact_list, rows=0).names
        pairs = mapping_variables(mapping)
        mapping = {
            **{f: mapping.get(f) or "" for f in MAPPED_FIELDS},
            "variables": [column for column, _ in pairs],
            "variable_names": dict(pairs),
        }
        # Refuses a mapping without a usable phone column, or with a variable name the lines cannot use.
        Columns.resolve(mapping, names)
        contact_list.column_mapping = mapping
        contact_list.default_country = default_country
        contact_list.name = name[:120]
        contact_list.tags = parse_tags(tags)
        contact_list.consent_confirmed_at = timezone.now()
        contact_list.consent_confirmed_by = by
        contact_list.save()
        _enqueue_import(contact_list.pk)
    return contact_list


def contact_list_confirm_consent(*, contact_list: ContactList, by) -> ContactList:
    """The owner confirms consent to call the people on a list that has none recorded (lists
    made before consent was asked for). Recorded once, with who and when."""
    with transaction.atomic():
        contact_list = ContactList.objects.select_for_update().get(pk=contact_list.pk)
        if contact_list.consent_confirmed_at is None:
            contact_list.consent_confirmed_at = timezone.now()
            contact_list.consent_confirmed_by = by
            contact_list.save(update_fields=["consent_confirmed_at", "consent_confirmed_by"])
    return contact_list


def contact_list_import_retry(*, contact_list: ContactList) -> ContactList:
    """Queue a failed import again (the file is kept until an import succeeds)."""
    with transaction.atomic():
        contact_list = ContactList.objects.select_for_update().get(pk=contact_list.pk)
        if contact_list.import_status != ContactList.ImportStatus.FAILED:
            return contact_list
        if contact_list.consent_confirmed_at is None:
            raise CampaignError("Confirm the columns and consent first.")
        _upload_bytes(contact_list)
        contact_list.import_status = ContactList.ImportStatus.QUEUED
        contact_list.import_error = ""
        contact_list.save(update_fields=["import_status", "import_error"])
        _enqueue_import(contact_list.pk)
    return contact_list


def _enqueue_import(list_id: int) -> None:
    transaction.on_commit(
        lambda: enqueue("default", contact_list_import, list_id, job_timeout=IMPORT_JOB_TIMEOUT_SECONDS)
    )


class _ImportLock:
    """A PostgreSQL session lock per list, so two workers never import one list at once; a worker
    that dies releases it with its connection. Elsewhere (SQLite in development) always granted."""

    NAMESPACE = 0x436F6E74 << 32  # "Cont": keeps these keys apart from other advisory locks

    def __init__(self, list_id: int):
        self.key = self.NAMESPACE + list_id
        self.held = False

    def __enter__(self) -> bool:
        if connection.vendor != "postgresql":
            return True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
            self.held = cursor.fetchone()[0]
        return self.held

    def __exit__(self, *exc):
        if self.held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [self.key])


def contact_list_import(list_id: int) -> None:
    """RQ job: import a confirmed upload into its list, in batches, updating its progress.

    Safe to run again at any point: it starts over (the list's contacts and rejections from an
    earlier, interrupted run are removed first), and does nothing for a list already imported,
    deleted, not yet confirmed, or being imported by another worker right now. A problem with the
    file fails the import with a message for the user; anything else does too, and is raised
    again so the job shows as failed to operators.
    """
    with _ImportLock(list_id) as acquired:
        if not acquired:
            return
        contact_list = ContactList.objects.select_related("owner").filter(pk=list_id).first()
        if (
            contact_list is None
            or contact_list.import_status == ContactList.ImportStatus.DONE
            or contact_list.consent_confirmed_at is None
        ):
            return
        try:
            with transaction.atomic():
                contact_list.contacts.all().delete()
                contact_list.rejections.all().delete()
                ContactList.objects.filter(pk=list_id).update(
                    import_status=ContactList.ImportStatus.RUNNING,
                    import_error="",
                    import_bytes_done=0,
                    rows_imported=0,
                    rows_rejected=0,
                )
            with _fewer_collections():
                _import_rows(contact_list, CsvSource(_upload_bytes(contact_list)))
        except CampaignError as exc:
            _import_failed(list_id, str(exc))
        except Exception:
            _import_failed(
                list_id, "The import stopped because of an error on our side. Try again; if it fails again, contact us."
            )
            raise


@contextmanager
def _fewer_collections():
    """The import allocates millions of short-lived objects. With the collector at its defaults it
    runs every 700 of them and keeps walking Django's own long-lived objects: a fifth of the import's
    time. Those are set aside (frozen) and collections made rarer for the import, then restored."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], 50_000), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _import_failed(list_id: int, message: str) -> None:
    """A failed import keeps nothing but the file and the reason, so a campaign never sees half a list."""
    with transaction.atomic():
        Contact.objects.filter(contact_list_id=list_id).delete()
        ImportRejection.objects.filter(contact_list_id=list_id).delete()
        ContactList.objects.filter(pk=list_id).update(
            import_status=ContactList.ImportStatus.FAILED,
            import_error=message[:300],
            rows_imported=0,
            rows_rejected=0,
        )


def _import_rows(contact_list: ContactList, source: CsvSource) -> None:
    processor = RowProcessor(
        Columns.resolve(contact_list.column_mapping, source.names),
        width=len(source.header),
        default_country=contact_list.default_country or contact_list.owner.default_country,
        encoding=source.encoding,
        delimiter=source.delimiter,
    )
    ContactList.objects.filter(pk=contact_list.pk).update(import_problems={"encoding": source.encoding.label})
    writer = _BatchWriter(contact_list)
    contacts: list[ContactRow] = []
    problems: list[RowProblem] = []
    row = processor.row
    for line, values in source.rows():
        result = row(line, values)
        if result.__class__ is tuple:
            contacts.append(result)
        else:
            problems.append(result)
        if len(contacts) + len(problems) >= BATCH_ROWS:
            writer.write(contacts, problems, bytes_done=source.bytes_read)
            contacts, problems = [], []
    writer.write(contacts, problems, bytes_done=source.size)
    with transaction.atomic():
        ContactList.objects.filter(pk=contact_list.pk).update(import_status=ContactList.ImportStatus.DONE)
        ContactUpload.objects.filter(contact_list_id=contact_list.pk).delete()


class _BatchWriter:
    """Stores one batch of rows in one transaction: numbers already in this list (from an earlier
    batch) and do-not-call numbers found with two queries, contacts written with COPY on PostgreSQL
    (bulk_create elsewhere), rejections, and the list's progress counters. The account's other
    lists are not looked at: a number may be in several lists."""

    COLUMNS = ("contact_list", "phone_number", "first_name", "last_name", "time_zone", "tags", "variables")

    def __init__(self, contact_list: ContactList):
        self.list_id = contact_list.pk
        self.owner_id = contact_list.owner_id
        self.copy_sql = None
        if connection.vendor == "postgresql":
            fields = [Contact._meta.get_field(name).column for name in (*self.COLUMNS, "source_line")]
            qn = connection.ops.quote_name
            contacts, dnc = (qn(m._meta.db_table) for m in (Contact, DoNotCall))
            self.copy_sql = f"COPY {contacts} ({', '.join(qn(f) for f in fields)}) FROM STDIN"
            self.known_sql = (
                f"SELECT phone_number, source_line FROM {contacts} "
                "WHERE contact_list_id = %s AND phone_number = ANY(%s)"
            )
            self.blocked_sql = (
                f"SELECT phone_number, owner_id FROM {dnc} "
                "WHERE (owner_id = %s OR owner_id IS NULL) AND phone_number = ANY(%s)"
            )

    def _known(self, numbers: list[str]) -> dict[str, str]:
        """Why each of `numbers` may not be imported: already in this list, or on a do-not-call list."""
        if self.copy_sql:
            # PostgreSQL: one array parameter, not 2,000 placeholders for the driver to splice in.
            with connection.cursor() as cursor:
                cursor.execute(self.known_sql, [self.list_id, numbers])
                in_list = cursor.fetchall()
                cursor.execute(self.blocked_sql, [self.owner_id, numbers])
                blocked = cursor.fetchall()
        else:
            in_list = Contact.objects.filter(contact_list_id=self.list_id, phone_number__in=numbers).values_list(
                "phone_number", "source_line"
            )
            blocked = DoNotCall.objects.filter(
                Q(owner_id=self.owner_id) | Q(owner__isnull=True), phone_number__in=numbers
            ).values_list("phone_number", "owner_id")
        known = {number: f"{number} already appears on line {line}" for number, line in in_list}
        for number, owner_id in blocked:
            where = "your do-not-call list" if owner_id else "the platform-wide do-not-call list"
            known.setdefault(number, f"{number} is on {where}")
        return known

    def write(self, contacts: list[ContactRow], problems: list[RowProblem], *, bytes_done: int) -> None:
        keep: dict[str, ContactRow] = {}
        for row in contacts:
            first = keep.get(row[0])
            if first is None:
                keep[row[0]] = row
            else:
                problems.append(RowProblem(row[6], f"{row[0]} already appears on line {first[6]}", row[0], True))
        known = self._known(list(keep)) if keep else {}
        for number in known:
            row = keep.pop(number)
            problems.append(RowProblem(row[6], known[number], number, True))
        with transaction.atomic():
            if keep:
                self._insert(keep.values())
            if problems:
                ImportRejection.objects.bulk_create(
                    [
                        ImportRejection(
                            contact_list_id=self.list_id, line=p.line, value=p.value[:200], reason=p.message[:300]
                        )
                        for p in problems
                    ],
                    batch_size=BATCH_ROWS,
                )
            ContactList.objects.filter(pk=self.list_id).update(
                import_bytes_done=bytes_done,
                rows_imported=F("rows_imported") + len(keep),
                rows_rejected=F("rows_rejected") + len(problems),
            )

    def _insert(self, rows: Iterable[ContactRow]) -> None:
        list_id = self.list_id
        if self.copy_sql is None:
            Contact.objects.bulk_create(
                [
                    Contact(
                        contact_list_id=list_id,
                        phone_number=number,
                        first_name=first,
                        last_name=last,
                        time_zone=tz,
                        tags=tags,
                        variables=variables,
                        source_line=line,
                    )
                    for number, first, last, tz, tags, variables, line in rows
                ],
                batch_size=BATCH_ROWS,
            )
            return
        dumps = json.dumps
        with connection.cursor() as cursor, cursor.cursor.copy(self.copy_sql) as copy:
            write_row = copy.write_row
            for number, first, last, tz, tags, variables, line in rows:
                write_row((list_id, number, first, last, tz, dumps(tags) if tags else "[]", dumps(variables), line))


# --- Reading results ----------------------------------------------------------------------------
def import_progress(*, contact_list: ContactList) -> dict:
    total = contact_list.import_bytes_total or 0
    done = min(contact_list.import_bytes_done, total)
    finished = contact_list.import_status == ContactList.ImportStatus.DONE
    return {
        "percent": 100 if finished else (int(100 * done / total) if total else 0),
        "finished": finished,
        "failed": contact_list.import_status == ContactList.ImportStatus.FAILED,
        "encoding": (contact_list.import_problems or {}).get("encoding", ""),
    }


def rejection_rows(*, contact_list: ContactList) -> Iterator[list]:
    """The rejected-rows report, header first, every cell safe to open in a spreadsheet."""
    yield safe_row(["line", "value", "reason"])
    rejections = contact_list.rejections.order_by("line", "id").values_list("line", "value", "reason")
    for line, value, reason in rejections.iterator(chunk_size=BATCH_ROWS):
        yield safe_row([line, value, reason])


def contact_export_rows(*, contact_list: ContactList) -> Iterator[list]:
    """The list as CSV rows that import again: phone, names, time zone, tags, then one column per
    variable name any contact has (found in a first pass, so memory stays small), in the order of
    the file's columns."""
    keys: dict[str, None] = dict.fromkeys(name for _, name in mapping_variables(contact_list.column_mapping or {}))
    for variables in contact_list.contacts.values_list("variables", flat=True).iterator(chunk_size=BATCH_ROWS):
        keys.update(dict.fromkeys(variables or {}))
    names = [k for k in keys if k not in RESERVED_VARIABLES]
    yield safe_row(["phone", "first_name", "last_name", "time_zone", "tags", *names])
    rows = contact_list.contacts.order_by("id").values_list(
        "phone_number", "first_name", "last_name", "time_zone", "tags", "variables"
    )
    for number, first, last, tz, tags, variables in rows.iterator(chunk_size=BATCH_ROWS):
        variables = variables or {}
        yield safe_row([number, first, last, tz, ", ".join(tags or []), *(variables.get(k, "") for k in names)])


def contact_lists_variable_names(*, contact_lists: Iterable[ContactList]) -> dict[int, set[str]]:
    """The variables each list was imported with: its ticked columns, by the names chosen at mapping.
    A list imported before mappings were kept is read from its first contact. At most one query."""
    names: dict[int, set[str]] = {}
    unmapped = []
    for contact_list in contact_lists:
        mapping = contact_list.column_mapping or {}
        if "variables" in mapping:
            fields = {mapping.get(f) for f in MAPPED_FIELDS if mapping.get(f)}
            names[contact_list.pk] = {name for column, name in mapping_variables(mapping) if column not in fields}
        else:
            unmapped.append(contact_list.pk)
    if unmapped:
        first = Contact.objects.filter(contact_list=OuterRef("pk")).order_by("id").values("variables")[:1]
        rows = ContactList.objects.filter(pk__in=unmapped).annotate(first=Subquery(first)).values_list("pk", "first")
        for list_id, variables in rows:
            if isinstance(variables, str):  # a backend that returns the JSON text of a subquery
                variables = json.loads(variables)
            names[list_id] = set(variables or {})
    return names


class CappedPaginator(Paginator):
    """Pages without counting a whole large result: the count stops at `cap` (shown as "10,000+")."""

    def __init__(self, object_list, per_page, *, cap: int = 10_000, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap


def contact_lists_search(*, owner, query: str = ""):
    """The owner's lists, newest first, matching `query` in the name or a tag, each with its
    contact count (counted only for the lists on the page)."""
    lists = ContactList.objects.filter(owner=owner)
    query = query.strip()
    if query:
        lists = lists.filter(Q(name__icontains=query) | Q(tags__icontains=query))
    count = Contact.objects.filter(contact_list=OuterRef("pk")).values("contact_list").annotate(n=Count("pk"))
    return lists.annotate(contact_count=Subquery(count.values("n")))


def contacts_search(*, contact_list: ContactList, query: str = "", tag: str = ""):
    """The list's contacts matching every word of `query` (in a name, or digits in the number) and `tag`."""
    contacts = contact_list.contacts.order_by("id")
    for word in query.split():
        digits = re.sub(r"\D", "", word)
        match = Q(first_name__icontains=word) | Q(last_name__icontains=word)
        if len(digits) >= 3 or (digits and digits == word):
            match |= Q(phone_number__contains=digits)
        contacts = contacts.filter(match)
    tag = tag.strip()
    if tag:
        # A case-insensitive search for the tag as a JSON string in the list's JSON text; PostgreSQL
        # prints jsonb with its characters as they are, SQLite stores the \u escapes json.dumps writes.
        needle = json.dumps(tag, ensure_ascii=connection.vendor != "postgresql")
        contacts = contacts.filter(tags__icontains=needle)
    return contacts


# --- Changing lists and contacts ---------------------------------------------------------------------
def _refuse_while_importing(contact_list: ContactList) -> None:
    status = contact_list.import_status
    if status == ContactList.ImportStatus.RUNNING or (
        status == ContactList.ImportStatus.QUEUED and contact_list.consent_confirmed_at
    ):
        raise CampaignError("This list is being imported. Wait until the import has finished.")


def contact_update(
    *,
    contact: Contact,
    phone_number: str,
    first_name: str = "",
    last_name: str = "",
    time_zone: str = "",
    tags: list[str] | str = (),
    variables: dict | None = None,
) -> Contact:
    """Change a contact: the number read again (in the list's country) and kept unique in its list,
    the time zone checked. ValueError-free: every refusal is a CampaignError naming the field."""
    contact_list = contact.contact_list
    _refuse_while_importing(contact_list)
    country = contact_list.default_country or contact_list.owner.default_country
    try:
        number = normalise_number(phone_number, default_country=country)
    except ValueError as exc:
        raise CampaignError(f"Phone number: {exc}.") from None
    try:
        zone = normalise_time_zone(time_zone)
    except ValueError as exc:
        raise CampaignError(f"Time zone: {exc}.") from None
    with transaction.atomic():
        if contact_list.contacts.filter(phone_number=number).exclude(pk=contact.pk).exists():
            raise CampaignError(f"Phone number: {number} is already in this list.")
        contact.phone_number = number
        contact.first_name = first_name.strip()[:100]
        contact.last_name = last_name.strip()[:100]
        contact.time_zone = zone
        contact.tags = parse_tags(tags)
        contact.variables = {normalise_header(k): str(v)[:MAX_VARIABLE_LENGTH] for k, v in (variables or {}).items()}
        contact.save()
        # A contact waiting for a time zone (or for its window) is looked at again at once.
        from .services import campaign_targets_recheck

        campaign_targets_recheck(contact=contact)
    return contact


def contact_delete(*, contact: Contact) -> None:
    _refuse_while_importing(contact.contact_list)
    contact.delete()


def contact_list_update(*, contact_list: ContactList, name: str, tags: list[str] | str) -> ContactList:
    name = " ".join(name.split())
    if not name:
        raise CampaignError("Give the list a name.")
    contact_list.name = name[:120]
    contact_list.tags = parse_tags(tags)
    contact_list.save(update_fields=["name", "tags"])
    return contact_list


def contact_list_delete(*, contact_list: ContactList) -> None:
    """Delete a list and its contacts, unless a campaign uses it (the campaign's calls need them)."""
    campaigns = list(contact_list.campaigns.order_by("name").values_list("name", flat=True))
    if campaigns:
        named = ", ".join(f"“{name}”" for name in campaigns[:5]) + (" and others" if len(campaigns) > 5 else "")
        plural = "s" if len(campaigns) > 1 else ""
        raise CampaignError(f"This list is used by the campaign{plural} {named}, so it cannot be deleted.")
    if contact_list.import_status == ContactList.ImportStatus.RUNNING:
        raise CampaignError("This list is being imported. Wait until the import has finished.")
    contact_list.delete()


# --- Do-not-call -----------------------------------------------------------------------------------
def dnc_numbers_add(*, owner, numbers: Iterable[tuple[str, str]], by=None) -> int:
    """Put E.164 numbers (with their reasons) on `owner`'s list, or the platform-wide list when
    `owner` is None. Numbers already there are left as they are; returns how many were new."""
    entries = {}
    for number, reason in numbers:
        entries.setdefault(number, reason[:200])
    existing = DoNotCall.objects.filter(owner=owner, phone_number__in=list(entries)) if entries else []
    new = set(entries) - {e.phone_number for e in existing}
    DoNotCall.objects.bulk_create(
        [DoNotCall(owner=owner, phone_number=n, reason=entries[n], added_by=by) for n in entries if n in new],
        batch_size=BATCH_ROWS,
        ignore_conflicts=True,
    )
    return len(new)


@dataclass
class DncImportReport:
    added: int = 0
    already: int = 0
    problems: list[RowProblem] = field(default_factory=list)


def dnc_import(
    *, owner, filename: str, data: bytes, by=None, default_country: str = "", reason: str = ""
) -> DncImportReport:
    """Numbers from a CSV (a 'phone' column, or the first column; a header row is optional) onto
    `owner`'s do-not-call list (None: the platform-wide list). Synchronous, so at most 10,000 lines;
    lines that are not numbers are reported by line and the others added."""
    if len(data) > MAX_DNC_IMPORT_BYTES:
        raise CampaignError("The file is larger than 2 MB. Split it into smaller files.")
    refuse_if_not_csv(filename=filename, data=data)
    source = CsvSource(data)
    country = default_country or getattr(owner, "default_country", "") or "US"
    reason = reason or f"Imported from {PurePath(filename).name}"[:200]
    keys = [normalise_header(h) for h in source.header]
    phone = next((i for i, k in enumerate(keys) if k in PHONE_HEADERS), None)
    why = next((i for i, k in enumerate(keys) if k in REASON_HEADERS), None)
    rows: Iterable = source.rows()
    if phone is None:
        # No header naming a phone column: the first column holds the numbers, from the first line on.
        phone, why = 0, None
        rows = _chain_first([(source.header_line, source.header)], rows)
    report = DncImportReport()
    numbers: list[tuple[str, str]] = []
    for line, values in rows:
        if line - source.header_line >= MAX_DNC_IMPORT_LINES:
            raise CampaignError(f"The file has more than {MAX_DNC_IMPORT_LINES:,} lines. Split it into smaller files.")
        if isinstance(values, str):
            report.problems.append(RowProblem(line, values))
            continue
        raw = values[phone] if phone < len(values) else ""
        if source.encoding.has_errors and REPLACEMENT in raw:
            report.problems.append(RowProblem(line, "the line has bytes that are not text", raw))
            continue
        try:
            number = normalise_number(raw, default_country=country)
        except ValueError as exc:
            report.problems.append(RowProblem(line, str(exc), raw))
            continue
        row_reason = values[why].strip() if why is not None and why < len(values) and values[why].strip() else reason
        numbers.append((number, row_reason))
    with transaction.atomic():
        report.added = dnc_numbers_add(owner=owner, numbers=numbers, by=by)
    report.already = len({n for n, _ in numbers}) - report.added
    return report


def _chain_first(first: list, rest: Iterable) -> Iterator:
    yield from first
    yield from rest


def dnc_remove(*, owner, entry_id: int) -> str:
    """Take a number off the account's own list (never the platform-wide one); returns the number."""
    entry = DoNotCall.objects.filter(owner=owner, pk=entry_id).first()
    if entry is None:
        raise CampaignError("That number is not on your do-not-call list.")
    entry.delete()
    return entry.phone_number


def dnc_search(*, owner, query: str = ""):
    entries = DoNotCall.objects.filter(owner=owner).order_by("-created_at", "-id")
    digits = re.sub(r"\D", "", query)
    if digits:
        entries = entries.filter(phone_number__contains=digits)
    elif query.strip():
        entries = entries.filter(reason__icontains=query.strip())
    return entries


def dnc_export_rows(*, owner) -> Iterator[list]:
    yield safe_row(["phone", "reason", "added"])
    entries = DoNotCall.objects.filter(owner=owner).order_by("created_at", "id")
    for number, reason, created in entries.values_list("phone_number", "reason", "created_at").iterator(
        chunk_size=BATCH_ROWS
    ):
        yield safe_row([number, reason, created.isoformat(timespec="seconds")])
