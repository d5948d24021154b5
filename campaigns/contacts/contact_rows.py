"""From a file's header and cells to a contact's fields, without the database: header and variable
names, full names, time zones and tags, the user's mapping of columns (`Columns`), and one row
read into a contact or a reason it cannot be one (`RowProcessor`).

Variables: every column the user ticks becomes a variable the agent's lines use as {{name}}. The
name is suggested from the header ("Company (Org)" → company), shown and editable at mapping, and
must be a name the lines can use (`variable_name_problem`). Cells our own exports guarded against
spreadsheet formulas are read back without the guard (`clozit.csvsafe.spreadsheet_text`), so a
list's export imports again to the same contacts, variables and tags.
"""

import functools
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from clozit.csvsafe import spreadsheet_text
from clozit.phones import normalise_number

from ..errors import CampaignError
from .csv_files import REPLACEMENT, TextEncoding

BATCH_ROWS = 2000
MAX_VARIABLE_LENGTH = 1000
MAX_TAGS = 20
MAX_TAG_LENGTH = 40

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
