"""CSV cells that a spreadsheet never runs as a formula, and data that stays exactly as it is.

Excel, LibreOffice and Google Sheets treat a cell that starts with =, +, - or @ as a formula (and a
tab, carriage return or line feed can hide such a start). A callee's answer, a contact's name or a
campaign name are typed by people we do not control, so an exported "=HYPERLINK(...)" or
"=cmd|' /C calc'!A0" would run on the account holder's machine. OWASP's advice (CSV Injection) is
to prefix such a cell with an apostrophe, which makes the spreadsheet read it as text.

Our exports are also read by CRMs and scripts, for which that apostrophe is corruption: an
"'+14155550132" is not a phone number. So only cells that would run are guarded:

- text starting with =, @, tab, carriage return or line feed (or the full-width ＝ ＋ － ＠ that some
  Excel versions read as their ASCII forms);
- text starting with + or - followed by anything but a plain number. "+14155550132" (E.164),
  "-12.50" and "+3" are numbers to a spreadsheet: no formula, no reference, nothing to run.
  "+1+1", "-2+3+cmd|…", "+1 (415) 555-0132" are guarded.

Opened in a spreadsheet, an E.164 number shows without its "+" (the spreadsheet reads it as the
number it is); that is the spreadsheet's display, the file holds the exact value.

Numbers (int, Decimal, float) are written as they are: a negative amount is a number, not a
formula. Only text is guarded. `spreadsheet_text` undoes the guard when a file we wrote is read
back (the contact import), so an export imports again to the same values.
"""

import csv
import itertools
import re
from collections.abc import Iterable

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from django.utils import timezone

# Always a formula (or a formula hidden behind whitespace a spreadsheet skips).
FORMULA_STARTS = ("=", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
SIGNS = ("+", "-")
# A sign, then digits with at most one decimal point: a number to a spreadsheet, never a formula.
PLAIN_NUMBER = re.compile(r"[+-](?:\d+(?:\.\d+)?|\.\d+)")


def is_formula(text: str) -> bool:
    """Whether a spreadsheet would run `text` as a formula (OWASP's starts, minus plain numbers)."""
    if text.startswith(FORMULA_STARTS):
        return True
    return len(text) > 1 and text.startswith(SIGNS) and not PLAIN_NUMBER.fullmatch(text)


def spreadsheet_safe(value):
    """The value to write in a CSV cell: text that a spreadsheet would run gets a leading
    apostrophe; anything else (numbers, None, harmless text, E.164 numbers) is returned unchanged."""
    if isinstance(value, str) and is_formula(value):
        return "'" + value
    return value


def spreadsheet_text(cell: str) -> str:
    """The value a guarded cell stands for: the apostrophe `spreadsheet_safe` added is removed, any
    other cell is returned unchanged (a name such as "'Tis" keeps its apostrophe)."""
    if cell.startswith("'") and is_formula(cell[1:]):
        return cell[1:]
    return cell


def safe_row(row: Iterable) -> list:
    """A row for csv.writer with every cell guarded."""
    return [spreadsheet_safe(value) for value in row]


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


class StreamedResponse(StreamingHttpResponse):
    """A StreamingHttpResponse over a plain (synchronous) iterator that streams under ASGI too. On
    its own, Django's reads such an iterator whole into memory before an ASGI server (uvicorn's
    workers, as the product is served) sends a byte of it; this one reads it in batches, in the
    request's own thread (the one its database cursor belongs to), as they are sent."""

    batch = 500

    async def __aiter__(self):
        parts = iter(self.streaming_content)

        def next_batch() -> bytes:
            return b"".join(itertools.islice(parts, self.batch))

        while chunk := await sync_to_async(next_batch, thread_sensitive=True)():
            yield chunk


def csv_download(rows: Iterable[list], name: str) -> StreamedResponse:
    """A CSV file download, `<name>-<today>.csv`, written as `rows` are read (never held whole)
    and kept out of shared caches. The rows must be safe already (`safe_row`)."""
    writer = csv.writer(_Echo())
    response = StreamedResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.localdate():%Y-%m-%d}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
