"""CSV cells that a spreadsheet shows as text and never runs as a formula.

Excel, LibreOffice and Google Sheets treat a cell that starts with =, +, - or @ as a formula (and
tab or carriage return can hide such a start). A callee's answer, a contact's name or a campaign
name are typed by people we do not control, so an exported "=HYPERLINK(...)" or "=cmd|' /C calc'!A0"
would run on the account holder's machine. OWASP's advice (CSV Injection) is to prefix such a
cell with an apostrophe, which makes the spreadsheet read it as text.

Every CSV the app writes passes each cell through `spreadsheet_safe` (or writes rows with
`safe_row`). E.164 phone numbers start with "+", so they get the apostrophe too: "'+12025550123".
That is deliberate: unprefixed, a spreadsheet would read the number as a formula and show
12025550123 (or 1.2E+10), losing the "+"; the apostrophe keeps it text, and one rule for every
cell leaves no exception to get wrong.

Numbers (int, Decimal, float) are written as they are: a negative amount is a number, not a
formula. Only text is guarded.
"""

from collections.abc import Iterable

# OWASP's list: the formula starters plus tab and carriage return.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """The value to write in a CSV cell: text that a spreadsheet would run gets a leading
    apostrophe; anything else (numbers, None, harmless text) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable) -> list:
    """A row for csv.writer with every cell guarded."""
    return [spreadsheet_safe(value) for value in row]
