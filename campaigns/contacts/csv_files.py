"""Reading the CSV files people actually have: bytes in, (line, cells) out, nothing stored.

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
"""

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings

from ..errors import CampaignError

# A quoted value spanning more lines than this is a quote left open, not a note with line breaks.
MAX_LINES_PER_ROW = 50
ALLOWED_EXTENSIONS = {".csv", ".txt", ".tsv"}
SPREADSHEET_EXTENSIONS = {".xlsx", ".xlsm", ".xls", ".ods", ".numbers"}
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
