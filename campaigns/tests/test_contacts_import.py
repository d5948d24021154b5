"""Importing contact lists from CSV: what a user sees when their spreadsheet is good, messy or unusable."""

import codecs

import pytest

from campaigns.contacts import contact_rows, csv_files
from campaigns.contacts.contact_rows import normalise_header
from campaigns.contacts.importing import contacts_import
from campaigns.errors import CampaignError
from campaigns.models import Contact, ContactList

pytestmark = pytest.mark.django_db


def run_import(user, text: str | bytes, *, name="Leads", filename="leads.csv"):
    data = text.encode() if isinstance(text, str) else text
    return contacts_import(workspace=user.personal_workspace, name=name, filename=filename, data=data)


def numbers_of(contact_list) -> list[str]:
    return list(contact_list.contacts.values_list("phone_number", flat=True))


# --- Valid rows ------------------------------------------------------------------------
def test_valid_rows_are_imported_and_normalised_to_e164(user):
    report = run_import(
        user,
        "phone,first_name,last_name\n(202) 555-0101,Ann,Lee\n+44 20 7946 0123,Bob,Brown\n202.555.0102,Cy,\n",
    )

    assert report.imported == 3
    assert report.errors == [] and report.duplicates == []
    contact_list = report.contact_list
    assert contact_list.workspace == user.personal_workspace
    assert contact_list.name == "Leads"
    assert contact_list.source_filename == "leads.csv"
    assert contact_list.import_problems == {"errors": [], "duplicates": []}
    contacts = list(contact_list.contacts.order_by("source_line"))
    assert [c.phone_number for c in contacts] == ["+12025550101", "+442079460123", "+12025550102"]
    assert [(c.first_name, c.last_name) for c in contacts] == [("Ann", "Lee"), ("Bob", "Brown"), ("Cy", "")]
    assert [c.source_line for c in contacts] == [2, 3, 4]


def test_numbers_without_country_code_are_read_in_the_accounts_default_country(user):
    user.personal_workspace.default_country = "GB"
    user.personal_workspace.save(update_fields=["default_country"])

    report = run_import(user, "phone\n020 7946 0123\n+1 202 555 0101\n")

    assert sorted(numbers_of(report.contact_list)) == ["+12025550101", "+442079460123"]


def test_cells_are_trimmed(user):
    report = run_import(user, "phone,first_name,last_name,city\n  +12025550101 ,  Ann  , Lee ,  Paris \n")

    contact = report.contact_list.contacts.get()
    assert contact.phone_number == "+12025550101"
    assert (contact.first_name, contact.last_name) == ("Ann", "Lee")
    assert contact.variables == {"city": "Paris"}


# --- Bad rows ----------------------------------------------------------------------------
def test_invalid_rows_are_reported_with_line_and_reason_and_valid_rows_kept(user):
    report = run_import(
        user,
        "phone,first_name\n"
        "+12025550101,Ann\n"  # line 2
        "not a number,Bob\n"  # line 3
        ",Cy\n"  # line 4
        "+1 202 555 01,Dee\n"  # line 5: too short
        "+12025550102,Eve\n",  # line 6
    )

    assert report.imported == 2
    assert numbers_of(report.contact_list) == ["+12025550101", "+12025550102"]
    lines = {p.line: p.message for p in report.errors}
    assert sorted(lines) == [3, 4, 5]
    assert "'not a number' is not a phone number" in lines[3]
    assert "empty" in lines[4]
    assert "not a valid number" in lines[5]
    # The problems stay with the list so the user can fix the rows later.
    stored = ContactList.objects.get(pk=report.contact_list.pk).import_problems
    assert [line for line, _ in stored["errors"]] == [3, 4, 5]
    assert stored["errors"][0][1] == lines[3]
    assert stored["duplicates"] == []


def test_number_invalid_for_the_default_country_names_the_country(user):
    report = run_import(user, "phone\n+12025550101\n123\n")

    (problem,) = report.errors
    assert problem.line == 3
    assert "'123'" in problem.message and "US" in problem.message


def test_row_with_too_many_columns_is_reported_and_not_imported(user):
    report = run_import(user, "phone,first_name\n+12025550101,Ann\n+12025550102,Bob,surprise\n+12025550103,Cy\n")

    assert numbers_of(report.contact_list) == ["+12025550101", "+12025550103"]
    assert [(p.line, p.message) for p in report.errors] == [(3, "the row has more columns than the header")]


def test_row_with_too_few_columns_is_imported_with_blanks(user):
    report = run_import(user, "phone,first_name,company\n+12025550101\n")

    contact = report.contact_list.contacts.get()
    assert contact.first_name == ""
    assert contact.variables == {"company": ""}


def test_blank_lines_are_skipped_and_later_lines_keep_their_numbers(user):
    report = run_import(user, "phone,first_name\n+12025550101,Ann\n\n,\n+12025550102,Bob\nbad,Cy\n")

    assert report.errors[0].line == 6
    assert len(report.errors) == 1  # neither the empty line nor the row of empty cells is a problem
    contacts = list(report.contact_list.contacts.order_by("source_line"))
    assert [(c.phone_number, c.source_line) for c in contacts] == [("+12025550101", 2), ("+12025550102", 5)]


# --- Duplicates --------------------------------------------------------------------------
def test_duplicates_written_differently_are_removed_and_point_at_the_first_line(user):
    report = run_import(
        user,
        "phone,first_name\n"
        "+12025550101,Ann\n"  # line 2
        "+12025550102,Bob\n"  # line 3
        "(202) 555-0101,Ann again\n"  # line 4: same as line 2
        "1-202-555-0101,Ann thrice\n",  # line 5: same as line 2
    )

    assert report.imported == 2
    contacts = {c.phone_number: c for c in report.contact_list.contacts.all()}
    assert set(contacts) == {"+12025550101", "+12025550102"}
    assert contacts["+12025550101"].first_name == "Ann"  # the first occurrence wins
    assert [p.line for p in report.duplicates] == [4, 5]
    assert all("+12025550101 already appears on line 2" in p.message for p in report.duplicates)
    stored = report.contact_list.import_problems["duplicates"]
    assert stored == [[4, "+12025550101 already appears on line 2"], [5, "+12025550101 already appears on line 2"]]
    assert report.errors == []


# --- Columns -----------------------------------------------------------------------------
def test_extra_columns_become_variables_with_normalised_keys(user):
    report = run_import(
        user,
        "Phone Number,First Name,Last Name,Company Name,Renewal Date (UTC),Plan-Tier\n"
        "+12025550101,Ann,Lee,Acme Inc,2026-12-01,Gold\n",
    )

    contact = report.contact_list.contacts.get()
    assert (contact.first_name, contact.last_name) == ("Ann", "Lee")
    # A bracketed note is left out of the suggested name ("Renewal Date (UTC)" → renewal_date).
    assert contact.variables == {"company_name": "Acme Inc", "renewal_date": "2026-12-01", "plan_tier": "Gold"}
    assert report.contact_list.column_mapping["variable_names"]["Renewal Date (UTC)"] == "renewal_date"


@pytest.mark.parametrize("header", ["Phone Number", "Mobile", "mobile_number", "TEL", "Telephone", " phone "])
def test_phone_column_header_aliases(user, header):
    report = run_import(user, f"{header},Company\n(202) 555-0101,Acme\n")

    contact = report.contact_list.contacts.get()
    assert contact.phone_number == "+12025550101"
    assert contact.variables == {"company": "Acme"}


def test_name_column_aliases(user):
    report = run_import(user, "Mobile,Given Name,Surname\n2025550101,Ann,Lee\n")

    contact = report.contact_list.contacts.get()
    assert (contact.first_name, contact.last_name) == ("Ann", "Lee")
    assert contact.variables == {}


def test_normalise_header():
    assert normalise_header("  Company Name ") == "company_name"
    assert normalise_header("Phone #") == "phone"
    assert normalise_header("E-mail Address") == "e_mail_address"
    assert normalise_header("") == ""


# --- File formats ------------------------------------------------------------------------
def test_semicolon_delimited_file(user):
    report = run_import(user, "phone;first_name;city\n(202) 555-0101;Ann;Paris\n+44 20 7946 0123;Bob;Lyon\n")

    contacts = list(report.contact_list.contacts.order_by("source_line"))
    assert [(c.phone_number, c.first_name, c.variables) for c in contacts] == [
        ("+12025550101", "Ann", {"city": "Paris"}),
        ("+442079460123", "Bob", {"city": "Lyon"}),
    ]


def test_tab_delimited_file(user):
    report = run_import(user, "phone\tfirst_name\n2025550101\tAnn\n2025550102\tBob\n")

    assert numbers_of(report.contact_list) == ["+12025550101", "+12025550102"]


def test_utf8_bom_is_ignored(user):
    data = "\ufeffphone,first_name\n+12025550101,José\n".encode()

    report = run_import(user, data)

    contact = report.contact_list.contacts.get()
    assert contact.phone_number == "+12025550101"
    assert contact.first_name == "José"
    assert contact.variables == {}  # the BOM did not end up in a header


def test_windows_1252_file_from_excel(user):
    data = "phone,first_name\r\n+12025550101,Jos\xe9\r\n+12025550102,Zo\xeb\r\n".encode("cp1252")

    report = run_import(user, data)

    assert sorted(report.contact_list.contacts.values_list("first_name", flat=True)) == ["José", "Zoë"]


def test_quoted_fields_with_commas(user):
    report = run_import(user, 'phone,first_name,note\n+12025550101,Ann,"Likes calls, mornings"\n')

    assert report.contact_list.contacts.get().variables == {"note": "Likes calls, mornings"}


def test_long_filename_is_truncated(user):
    report = run_import(user, "phone\n+12025550101\n", filename="x" * 300 + ".csv")

    assert len(report.contact_list.source_filename) == 255


# --- Files that cannot be imported -------------------------------------------------------
def test_file_without_phone_column_is_refused_and_nothing_created(user):
    with pytest.raises(CampaignError) as exc:
        run_import(user, "name,email\nAnn,ann@example.com\n")

    assert "column named 'phone'" in str(exc.value)
    assert not ContactList.objects.exists()
    assert not Contact.objects.exists()


def test_empty_file_is_refused(user):
    with pytest.raises(CampaignError, match="phone"):
        run_import(user, b"")
    assert not ContactList.objects.exists()


def test_file_with_only_bad_rows_is_refused_and_names_the_first_problem(user):
    with pytest.raises(CampaignError) as exc:
        run_import(user, "phone,first_name\nnope,Ann\n12,Bob\n")

    message = str(exc.value)
    assert "No valid contacts were found" in message
    assert "Line 2" in message and "'nope' is not a phone number" in message
    assert not ContactList.objects.exists()
    assert not Contact.objects.exists()


def test_header_only_file_is_refused(user):
    with pytest.raises(CampaignError, match="No valid contacts"):
        run_import(user, "phone,first_name\n")
    assert not ContactList.objects.exists()


def test_file_over_10mb_is_refused(user):
    data = b"phone\n" + b"+12025550101\n" * (10 * 1024 * 1024 // 13 + 1)

    with pytest.raises(CampaignError, match="10 MB"):
        run_import(user, data)
    assert not ContactList.objects.exists()


def test_binary_file_is_refused_with_a_readable_message(user):
    # Not UTF-8 and has bytes cp1252 cannot decode.
    with pytest.raises(CampaignError):
        run_import(user, b"\x81\x8d\x8f\x90\x9d" * 10)
    assert not ContactList.objects.exists()


def test_each_import_is_its_own_list(user):
    first = run_import(user, "phone\n+12025550101\n", name="A").contact_list
    second = run_import(user, "phone\n+12025550101\n", name="B").contact_list

    assert first.pk != second.pk
    assert numbers_of(first) == numbers_of(second) == ["+12025550101"]


def test_a_row_spanning_lines_is_reported_at_its_first_line(user):
    report = run_import(
        user,
        'phone,first_name,notes\n+12025550101,Ada,"fine"\n'
        'not-a-number,Bob,"first line\nsecond line"\n+12025550102,Cy,x\n',
    )
    assert [(p.line, p.message) for p in report.errors] == [(3, "'not-a-number' is not a phone number")]
    assert Contact.objects.get(phone_number="+12025550102").source_line == 5


def test_numbers_exported_as_spreadsheet_text_import_again(user):
    """Our CSV exports write "+1…" as "'+1…" so spreadsheets keep it text; importing reads it back."""
    report = contacts_import(
        workspace=user.personal_workspace, name="Round trip", filename="x.csv", data=b"phone\n'+12025550101\n"
    )
    assert report.imported == 1
    assert report.contact_list.contacts.get().phone_number == "+12025550101"


# --- The shared reading core (also used by the background import) ------------------------
def test_trailing_empty_cells_are_not_extra_columns(user):
    """Spreadsheets often end rows with separators: "+1…,Ann,,"."""
    report = run_import(user, "phone,first_name\n+12025550101,Ann,,\n")

    assert report.errors == [] and report.imported == 1


def test_a_column_without_a_header_is_not_a_variable(user):
    report = run_import(user, "phone,,company\n+12025550101,x,Acme\n")

    assert report.contact_list.contacts.get().variables == {"company": "Acme"}


def test_detect_encoding():
    from campaigns.contacts.csv_files import detect_encoding

    assert detect_encoding("phone\nJosé\n".encode()) == csv_files.TextEncoding("utf-8", "UTF-8")
    assert detect_encoding(codecs.BOM_UTF8 + b"phone\n") == csv_files.TextEncoding("utf-8-sig", "UTF-8")
    assert detect_encoding(codecs.BOM_UTF16_LE + "phone".encode("utf-16-le")).label == "UTF-16"
    assert detect_encoding("phone\nJosé\n".encode("cp1252")) == csv_files.TextEncoding("cp1252", "Windows-1252")
    many_accents = ("é" * 50 + "\n").encode()
    assert detect_encoding(many_accents + b"\xe9\n") == csv_files.TextEncoding("utf-8", "UTF-8", has_errors=True)
    with pytest.raises(CampaignError, match="binary data"):
        detect_encoding(b"phone\x00\n")


def test_a_utf8_file_is_checked_in_chunks_whatever_its_size(monkeypatch):
    from campaigns.contacts.csv_files import detect_encoding

    monkeypatch.setattr(csv_files, "DECODE_CHUNK", 7)
    # A multi-byte character split across chunks is still one valid character.
    assert detect_encoding("ab,cdeé,fghijklmnÿ\n".encode() * 5) == csv_files.TextEncoding("utf-8", "UTF-8")


@pytest.mark.parametrize(
    "sample,delimiter",
    [
        ("phone,name\n+1,Ann\n", ","),
        ("phone;name;city\n+1;Ann;Paris\n+2;Bob;Lyon\n", ";"),
        ("phone\tname\n+1\tAnn\n", "\t"),
        ("phone|name\n+1|Ann\n", "|"),
        ("phone\n'+12025550101\n'+12025550102\n", ","),  # our own exports' apostrophes are no quotes
        ('phone;note\n+1;"a, b, c"\n+2;"d, e"\n', ";"),
    ],
)
def test_delimiter_detection(sample, delimiter):
    assert csv_files._delimiter(sample) == delimiter


def test_header_names_are_unique_and_never_blank():
    assert csv_files.header_names(["Name", " ", "Name", "  Phone  number "]) == [
        "Name",
        "Column 2",
        "Name (2)",
        "Phone number",
    ]


def test_guess_mapping():
    names = ["Mobile", "Given Name", "Surname", "TZ", "Tags", "Company", "Column 7"]

    assert contact_rows.guess_mapping(names, header=[*names[:6], ""]) == {
        "phone": "Mobile",
        "full_name": "",
        "first_name": "Given Name",
        "last_name": "Surname",
        "time_zone": "TZ",
        "tags": "Tags",
        "variables": ["Company"],
        "variable_names": {
            "Mobile": "mobile",
            "Given Name": "given_name",
            "Surname": "surname",
            "TZ": "tz",
            "Tags": "tags_2",  # "tags" is the contact's own tags
            "Company": "company",
        },
    }


@pytest.mark.parametrize(
    ("headers", "full", "first", "last"),
    [
        (["Phone", "Name"], "Name", "", ""),  # "Ann Lee" in one column
        (["Phone", "Full name"], "Full name", "", ""),
        (["Phone", "Name", "Surname"], "", "Name", "Surname"),  # beside a last name, "Name" is the first name
        (["Phone", "First name", "Last name", "Name"], "", "First name", "Last name"),
    ],
)
def test_guess_mapping_full_name(headers, full, first, last):
    mapping = contact_rows.guess_mapping(headers)

    assert (mapping["full_name"], mapping["first_name"], mapping["last_name"]) == (full, first, last)


def test_suggested_variable_names_are_usable_and_distinct():
    columns = [
        "Company (Org)",
        "Phone (work)",
        "Phone (home)",
        "Société",
        "2nd address",
        "First Name",
        "電話",
        "Company",
        "E-mail Address",
    ]

    assert contact_rows.suggest_variable_names(columns) == {
        "Company (Org)": "company",
        "Phone (work)": "phone_work",  # "phone" is the export's number column: the note is kept
        "Phone (home)": "phone_home",
        "Société": "societe",
        "2nd address": "column_2nd_address",  # {{…}} names start with a letter
        "First Name": "first_name_2",  # the contact's own first name keeps {{first_name}}
        "電話": "column_7",
        "Company": "company_2",  # "company" is taken by the first column
        "E-mail Address": "e_mail_address",
    }


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("company", ""),
        ("plan_2", ""),
        ("_private", ""),
        ("", "Give “Org” a variable name, or untick it."),
        ("Company Name", "“Company Name” cannot be a variable name: use lower-case letters, digits and _, starting"),
        ("2nd", "(such as column_2nd)"),
        ("first_name", "{{first_name}} is the contact's first name: choose another name, such as first_name_2."),
        ("phone_number", "{{phone_number}} is the contact's phone number"),
        ("last_name", "{{last_name}} is the contact's last name"),
        ("taken", "{{taken}} is already the name of “Other”: give each column its own name."),
        ("x" * 41, "Keep variable names to 40 characters."),
    ],
)
def test_variable_name_problem(name, problem):
    found = contact_rows.variable_name_problem(name, column="Org", taken={"taken": "Other"})

    assert (problem in found) if problem else found == ""


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("Ann Lee", "Ann", "Lee"),
        ("  Ann   Lee ", "Ann", "Lee"),
        ("Lee, Ann", "Ann", "Lee"),
        ("Lee, Ann Marie", "Ann Marie", "Lee"),
        ("Ann", "Ann", ""),
        ("Mary Ann Smith", "Mary Ann", "Smith"),
        ("Ludwig van Beethoven", "Ludwig", "van Beethoven"),
        ("Mary Ann van der Berg", "Mary Ann", "van der Berg"),
        ("Dr. Ann Lee", "Ann", "Lee"),
        ("Mrs Ann Lee", "Ann", "Lee"),
        ("Martin Luther King Jr.", "Martin Luther", "King Jr."),
        ("John Smith, Jr.", "John", "Smith Jr."),
        ("José García", "José", "García"),
        ("", "", ""),
        ("Dr.", "Dr.", ""),
    ],
)
def test_split_full_name(text, first, last):
    assert contact_rows.split_full_name(text) == (first, last)


def test_a_full_name_column_gives_first_and_last_names(user):
    report = run_import(user, 'Phone,Name\n+12025550101,Ann Lee\n+12025550102,"Lee, Bob"\n+12025550103,Cy\n')

    names = list(report.contact_list.contacts.order_by("id").values_list("first_name", "last_name"))
    assert names == [("Ann", "Lee"), ("Bob", "Lee"), ("Cy", "")]
    assert report.contact_list.contacts.first().variables == {}  # the name is not also a variable


def test_normalise_time_zone():
    assert contact_rows.normalise_time_zone(" america/NEW_york ") == "America/New_York"
    assert contact_rows.normalise_time_zone("") == ""
    assert contact_rows.normalise_time_zone("UTC") == "UTC"
    with pytest.raises(ValueError, match="'EST5EDT-ish' is not a time zone"):
        contact_rows.normalise_time_zone("EST5EDT-ish")


def test_parse_tags_and_variables():
    assert contact_rows.parse_tags(" vip ; Gold, VIP |  spring  2026 ,, ") == ["vip", "Gold", "spring 2026"]
    assert contact_rows.parse_tags(["a"] * 3 + [f"t{i}" for i in range(30)]) == ["a"] + [f"t{i}" for i in range(19)]
    assert contact_rows.parse_variables("Company Name: Acme: Inc\n\nplan = gold\nurl: http://x") == {
        "company_name": "Acme: Inc",
        "plan": "gold",
        "url": "http://x",
    }
    with pytest.raises(ValueError, match="line 2"):
        contact_rows.parse_variables("a: 1\nno separator")


def test_refuse_if_not_csv_accepts_text_files_with_csv_names():
    for name in ("leads.csv", "LEADS.CSV", "leads.txt", "leads.tsv"):
        csv_files.refuse_if_not_csv(filename=name, data=b"phone\n+12025550101\n")
