"""The contact import as a user meets it: upload a file, choose its columns, confirm consent, watch
the background job import it, download what it rejected; then find, edit and delete contacts and
keep the do-not-call list. Real PostgreSQL and Redis; the job runs in-process (`run_jobs`) or is
called the way the worker calls it."""

import codecs
import csv
import io

import django_rq
import pytest
from django.urls import reverse

from accounts.models import User
from accounts.services import account_created
from campaigns.contacts import csv_files, donotcall, lists
from campaigns.contacts import importing as contacts
from campaigns.contacts.importing import contact_list_import, contact_list_import_start, contact_upload_create
from campaigns.errors import CampaignError
from campaigns.models import Contact, ContactList, ContactUpload, DoNotCall, ImportRejection
from campaigns.tests.factories import make_campaign, make_list

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
XLSX = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml" + b"\x00" * 40


@pytest.fixture
def other(db):
    other = User.objects.create_user(email="rival@example.com", password="another secret pass")
    account_created(user=other)
    return other


def text(response) -> str:
    import html

    return html.unescape(response.content.decode())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def imported(user, data: bytes | str, *, filename="leads.csv", country="US", **mapping) -> ContactList:
    """Upload, map (the guessed columns, changed by `mapping`), confirm and run the job inline."""
    data = data.encode() if isinstance(data, str) else data
    contact_list = contact_upload_create(workspace=user.personal_workspace, filename=filename, data=data)
    contact_list_import_start(
        contact_list=contact_list,
        mapping={**contact_list.column_mapping, **mapping},
        default_country=country,
        name="Leads",
        tags=["spring"],
        by=user,
    )
    contact_list_import(contact_list.pk)
    contact_list.refresh_from_db()
    return contact_list


def rejected(contact_list) -> list[tuple[int, str]]:
    return list(contact_list.rejections.values_list("line", "reason"))


def numbers_of(contact_list) -> list[str]:
    return list(contact_list.contacts.order_by("source_line").values_list("phone_number", flat=True))


def upload_file(client, content: bytes | str, name="leads.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = content.encode() if isinstance(content, str) else content
    return client.post(reverse("contactlist_upload"), {"file": SimpleUploadedFile(name, data)})


def mapping_post(contact_list, **overrides) -> dict:
    guessed = contact_list.column_mapping
    data = {
        "name": "Spring leads",
        "phone": guessed.get("phone", ""),
        "full_name": guessed.get("full_name", ""),
        "first_name": guessed.get("first_name", ""),
        "last_name": guessed.get("last_name", ""),
        "time_zone": guessed.get("time_zone", ""),
        "tags": guessed.get("tags", ""),
        "variables": guessed.get("variables", []),
        "default_country": "US",
        "list_tags": "spring, webinar",
        "consent": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- The whole flow through the pages -------------------------------------------------------------
def test_upload_map_confirm_and_the_background_job_imports(
    logged_in, user, run_jobs, django_capture_on_commit_callbacks
):
    csv_text = (
        "Mobile,Given name,Surname,Company,Notes\n"
        "(202) 555-0101,Ann,Lee,Acme,likes mornings\n"  # line 2
        "garbage,Bob,Brown,Beta,\n"  # line 3
        "+1 202 555 0101,Ann again,Lee,Acme,\n"  # line 4: same as line 2
        "+44 20 7946 0123,Cy,Young,Gamma,\n"  # line 5
    )

    response = upload_file(logged_in, csv_text, "Spring Leads.csv")

    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    assert response.status_code == 302 and response["Location"] == reverse("contactlist_map", args=[contact_list.pk])
    assert contact_list.import_status == ContactList.ImportStatus.QUEUED
    assert contact_list.consent_confirmed_at is None
    assert ContactUpload.objects.filter(contact_list=contact_list).exists()

    # Step 2: the header and the first rows, the guessed columns, the user's country.
    page = logged_in.get(reverse("contactlist_map", args=[contact_list.pk]))
    body = text(page)
    assert "UTF-8 text, comma-separated, 5 columns" in body
    assert '<th scope="col">Given name</th>' in body and "(202) 555-0101" in body
    form = page.context["form"]
    assert form["phone"].value() == "Mobile"
    assert form["first_name"].value() == "Given name" and form["last_name"].value() == "Surname"
    assert form["variables"].value() == ["Company", "Notes"]
    assert form["default_country"].value() == "US"
    assert form["name"].value() == "Spring Leads"
    assert "I confirm I have consent to call these people" in body
    assert not Contact.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(
            reverse("contactlist_map", args=[contact_list.pk]), mapping_post(contact_list, variables=["Company"])
        )
    assert response["Location"] == reverse("contactlist_import", args=[contact_list.pk])
    (job,) = django_rq.get_queue("default").get_jobs()
    assert job.func is contact_list_import and job.args == (contact_list.pk,)

    # Before a worker takes it: waiting; the page polls.
    waiting = logged_in.get(reverse("contactlist_import", args=[contact_list.pk]))
    assert "Waiting for a worker" in text(waiting) and 'hx-trigger="every 1s"' in text(waiting)
    assert (
        logged_in.get(reverse("contactlist_import", args=[contact_list.pk]), HTTP_HX_REQUEST="true").status_code == 200
    )

    run_jobs()

    contact_list.refresh_from_db()
    assert contact_list.import_status == ContactList.ImportStatus.DONE
    assert (contact_list.rows_imported, contact_list.rows_rejected) == (2, 2)
    assert contact_list.import_bytes_done == contact_list.import_bytes_total == len(csv_text.encode())
    assert contact_list.name == "Spring leads" and contact_list.tags == ["spring", "webinar"]
    assert contact_list.consent_confirmed_by == user and contact_list.consent_confirmed_at is not None
    assert not ContactUpload.objects.filter(contact_list=contact_list).exists()  # the file is not kept
    contacts_ = list(contact_list.contacts.order_by("source_line"))
    assert [(c.phone_number, c.first_name, c.last_name, c.variables, c.source_line) for c in contacts_] == [
        ("+12025550101", "Ann", "Lee", {"company": "Acme"}, 2),
        ("+442079460123", "Cy", "Young", {"company": "Gamma"}, 5),
    ]
    assert rejected(contact_list) == [
        (3, "'garbage' is not a phone number"),
        (4, "+12025550101 already appears on line 2"),
    ]

    # The htmx poll gets the summary and stops (286).
    done = logged_in.get(reverse("contactlist_import", args=[contact_list.pk]), HTTP_HX_REQUEST="true")
    assert done.status_code == 286
    summary = text(done)
    assert "2 contacts imported into “Spring leads”; 2 rows not imported." in summary
    assert reverse("contactlist_rejections", args=[contact_list.pk]) in summary
    assert "'garbage' is not a phone number" in summary
    page = text(logged_in.get(reverse("contactlist_import", args=[contact_list.pk])))
    assert "hx-trigger" not in page and "Download rejected rows (CSV)" in page

    detail = text(logged_in.get(reverse("contactlist_detail", args=[contact_list.pk])))
    assert "2 contacts from Spring Leads.csv" in detail
    assert "Consent to call confirmed by" in detail


def test_without_consent_nothing_is_imported(logged_in, user, django_capture_on_commit_callbacks):
    upload_file(logged_in, "phone,first_name\n+12025550101,Ann\n")
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = logged_in.post(
            reverse("contactlist_map", args=[contact_list.pk]), mapping_post(contact_list, consent=None)
        )

    assert response.status_code == 200
    assert "Confirm that you have consent to call these people before importing." in text(response)
    assert callbacks == [] and django_rq.get_queue("default").count == 0
    contact_list.refresh_from_db()
    assert contact_list.consent_confirmed_at is None and contact_list.consent_confirmed_by is None
    # Even run by hand, the job imports nothing for an unconfirmed list.
    contact_list_import(contact_list.pk)
    assert not Contact.objects.exists()
    contact_list.refresh_from_db()
    assert contact_list.import_status == ContactList.ImportStatus.QUEUED
    # Its pages lead back to the mapping.
    for name in ("contactlist_detail", "contactlist_import"):
        response = logged_in.get(reverse(name, args=[contact_list.pk]))
        assert response["Location"] == reverse("contactlist_map", args=[contact_list.pk])


def test_confirming_twice_queues_one_import(logged_in, user, django_capture_on_commit_callbacks):
    upload_file(logged_in, "phone\n+12025550101\n")
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    url = reverse("contactlist_map", args=[contact_list.pk])

    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post(url, mapping_post(contact_list))
        second = logged_in.post(url, mapping_post(contact_list))

    assert second["Location"] == reverse("contactlist_import", args=[contact_list.pk])
    assert django_rq.get_queue("default").count == 1


def test_mapping_needs_a_phone_column_and_one_field_per_column(logged_in, user):
    upload_file(logged_in, "name,email\nAnn,ann@example.com\n")
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    url = reverse("contactlist_map", args=[contact_list.pk])

    no_phone = logged_in.post(url, mapping_post(contact_list, phone=""))
    twice = logged_in.post(url, mapping_post(contact_list, phone="name", first_name="name"))

    assert "This field is required." in text(no_phone)
    assert "“name” is already the phone number column." in text(twice)
    contact_list.refresh_from_db()
    assert contact_list.consent_confirmed_at is None


# --- Files that are not CSV -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,content,expected",
    [
        ("photo.png", PNG, "“photo.png” is a PNG image, not a CSV file."),
        ("leads.csv", PNG, "“leads.csv” is a PNG image, not a CSV file."),
        ("leads.xlsx", XLSX, "is a spreadsheet or ZIP archive (an .xlsx or .ods workbook is one), not a CSV file"),
        ("leads.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Excel 97-2003 workbook"),
        ("leads.xlsx", b"phone\n+12025550101\n", "“leads.xlsx” is a spreadsheet workbook, not a CSV file."),
        ("leads.pdf", b"%PDF-1.7\n", "is a PDF document, not a CSV file"),
        ("leads.docx", b"phone\n", "“leads.docx” is not a CSV file: upload a file whose name ends in .csv."),
        ("leads.csv", b"phone\x00\x01\x02\x03binary", "The file is not text (it contains binary data)"),
        ("leads.csv", b"\x81\x8d\x8f\x90\x9d" * 20, "The file is not readable text"),
        ("leads.csv", b"<html><body><table><tr><td>1</td></tr></table>", "is an XML or HTML file"),
        ("leads.csv", b"", "is empty"),
    ],
)
def test_files_that_are_not_csv_are_refused_with_a_clear_message(logged_in, name, content, expected):
    response = upload_file(logged_in, content, name)

    assert response.status_code == 200
    page = text(response)
    assert expected in page
    if content:
        assert "CSV UTF-8" in page or "is empty" in page or "ends in .csv" in page
    assert not ContactList.objects.exists() and not ContactUpload.objects.exists()


def test_a_file_over_the_size_limit_is_refused(logged_in, monkeypatch):
    monkeypatch.setattr(contacts, "MAX_BACKGROUND_UPLOAD_BYTES", 1024 * 1024)

    response = upload_file(logged_in, b"phone\n" + b"+12025550101\n" * 90_000)

    assert "The file is larger than 1 MB. Split it into smaller files." in text(response)
    assert not ContactList.objects.exists()


def test_upload_requires_a_file(logged_in):
    response = logged_in.post(reverse("contactlist_upload"), {})

    assert response.status_code == 200 and "This field is required." in text(response)


# --- Real-world files -----------------------------------------------------------------------------
def test_utf8_bom_is_not_part_of_the_first_header(user):
    contact_list = imported(user, "\ufeffphone,first_name\n+12025550101,José\n".encode())

    contact = contact_list.contacts.get()
    assert (contact.phone_number, contact.first_name) == ("+12025550101", "José")
    assert contact_list.column_mapping["phone"] == "phone"


def test_utf16_tab_separated_unicode_text_from_excel(user):
    data = codecs.BOM_UTF16_LE + "phone\tfirst_name\r\n+12025550101\tZoë\r\n".encode("utf-16-le")

    contact_list = imported(user, data)

    assert contact_list.contacts.get().first_name == "Zoë"
    assert contact_list.import_problems["encoding"] == "UTF-16"


def test_windows_1252_file_is_read_as_such_and_says_so(logged_in, user):
    data = "phone;first_name\r\n+12025550101;Jos\xe9\r\n+12025550102;Zo\xeb\r\n".encode("cp1252")

    contact_list = imported(user, data)

    assert sorted(contact_list.contacts.values_list("first_name", flat=True)) == ["José", "Zoë"]
    assert "read as Windows-1252" in text(logged_in.get(reverse("contactlist_import", args=[contact_list.pk])))


def test_lines_that_cannot_be_decoded_are_reported_by_line_and_the_rest_imported(user):
    data = (
        b"phone,first_name\n"
        + "+12025550101,José\n".encode()  # line 2: UTF-8
        + b"+12025550102,Jos\xe9\n"  # line 3: a Latin-1 byte in a UTF-8 file
        + "+12025550103,Zoë\n".encode()  # line 4
        + b"+12025550104,\xff\xfe\n"  # line 5
    )

    contact_list = imported(user, data)

    assert [c.first_name for c in contact_list.contacts.order_by("source_line")] == ["José", "Zoë"]
    problems = rejected(contact_list)
    assert [line for line, _ in problems] == [3, 5]
    assert all("bytes that are not UTF-8 text" in reason for _, reason in problems)
    assert contact_list.rejections.get(line=3).value == "+12025550102,Jos\ufffd"


def test_bytes_undefined_in_windows_1252_reject_their_line(user):
    data = b"phone,first_name\n+12025550101,Jos\xe9\n+12025550102,Bad\x81\n"

    contact_list = imported(user, data)

    assert numbers_of(contact_list) == ["+12025550101"]
    assert contact_list.contacts.get().first_name == "José"
    ((line, reason),) = rejected(contact_list)
    assert line == 3 and "not Windows-1252 text" in reason


def test_semicolons_and_quoted_fields_with_separators_and_line_breaks(user):
    data = (
        "phone;first_name;notes\r\n"
        '+12025550101;"Lee; Ann";"first line\r\nsecond line; still notes"\r\n'  # lines 2-3
        '+12025550102;Bob;"He said ""call me"""\r\n'  # line 4
        "not a number;Cy;x\r\n"  # line 5
    )

    contact_list = imported(user, data)

    contacts_ = list(contact_list.contacts.order_by("source_line"))
    assert [(c.first_name, c.variables["notes"], c.source_line) for c in contacts_] == [
        ("Lee; Ann", "first line\r\nsecond line; still notes", 2),
        ("Bob", 'He said "call me"', 4),
    ]
    assert rejected(contact_list) == [(5, "'not a number' is not a phone number")]


def test_empty_lines_and_rows_of_empty_cells_are_skipped(user):
    contact_list = imported(user, "\n\nphone,first_name\n\n+12025550101,Ann\n,\n , \n\n+12025550102,Bob\nbad,Cy\n\n")

    assert [(c.phone_number, c.source_line) for c in contact_list.contacts.order_by("source_line")] == [
        ("+12025550101", 5),
        ("+12025550102", 9),
    ]
    assert [line for line, _ in rejected(contact_list)] == [10]


def test_a_quote_left_open_is_reported_not_swallowed_silently(user):
    rows = "".join(f"+1202555{i:04d},Person {i}\n" for i in range(200, 300))
    data = 'phone,first_name\n+12025550101,"Ann\n' + rows

    contact_list = imported(user, data)

    ((line, reason),) = rejected(contact_list)
    assert line == 2 and 'a quote (") opened on this line is not closed until line' in reason
    assert contact_list.rows_imported == 0


def test_a_quote_left_open_over_a_huge_value_fails_the_import_naming_the_line(user):
    data = 'phone,note\n+12025550101,ok\n+12025550102,"never closed\n' + ("x" * 5000 + "\n") * 30

    contact_list = imported(user, data)

    assert contact_list.import_status == ContactList.ImportStatus.FAILED
    assert contact_list.import_error.startswith(
        "The file could not be read as CSV from line 3: the row is longer than 100,000 characters by line 23."
    )
    assert contact_list.import_error.endswith('Often a quote (") that is never closed.')
    assert not contact_list.contacts.exists()


def test_mapping_with_renamed_headers(user):
    data = "Mobil Nr.,Vorname,Nachname,Firma,Intern\n0151 23456789,Anna,Schmidt,Acme GmbH,secret\n"

    contact_list = imported(
        user,
        data,
        country="DE",
        phone="Mobil Nr.",
        first_name="Vorname",
        last_name="Nachname",
        variables=["Firma"],
    )

    contact = contact_list.contacts.get()
    assert contact.phone_number == "+4915123456789"  # read as a German number: the list's country
    assert (contact.first_name, contact.last_name) == ("Anna", "Schmidt")
    assert contact.variables == {"firma": "Acme GmbH"}  # "Intern" was not ticked


def test_time_zone_column_valid_invalid_and_empty(user):
    data = (
        "phone,tz\n"
        "+12025550101,america/new_york\n"  # line 2: any case
        "+12025550102,Mars/Olympus_Mons\n"  # line 3
        "+12025550103,\n"  # line 4: empty: from the number later
        "+12025550104, Europe/Paris \n"  # line 5
    )

    contact_list = imported(user, data)

    assert contact_list.column_mapping["time_zone"] == "tz"
    zones = dict(contact_list.contacts.values_list("phone_number", "time_zone"))
    assert zones == {"+12025550101": "America/New_York", "+12025550103": "", "+12025550104": "Europe/Paris"}
    assert rejected(contact_list) == [
        (3, "'Mars/Olympus_Mons' is not a time zone (use a name such as America/New_York)")
    ]


def test_tags_column_gives_each_contact_its_tags(user):
    contact_list = imported(user, 'phone,labels\n+12025550101,"vip, Gold; vip"\n+12025550102,\n')

    assert dict(contact_list.contacts.values_list("phone_number", "tags")) == {
        "+12025550101": ["vip", "Gold"],
        "+12025550102": [],
    }


def test_duplicates_within_the_file_across_batches(user, monkeypatch):
    monkeypatch.setattr(contacts, "BATCH_ROWS", 3)
    rows = [f"+1202555{100 + i:04d}" for i in range(7)]
    data = "phone\n" + "\n".join(rows) + "\n(202) 555-0100\n202.555.0105\n+12025550106\n"

    contact_list = imported(user, data)

    assert contact_list.rows_imported == 7
    assert rejected(contact_list) == [
        (9, "+12025550100 already appears on line 2"),
        (10, "+12025550105 already appears on line 7"),
        (11, "+12025550106 already appears on line 8"),
    ]


def test_a_number_may_be_in_several_lists_of_the_account(user, other):
    """Segments and follow-up lists share numbers: only a repeat within the list is skipped."""
    make_list(user, ["+12025550101"], name="Autumn leads")
    make_list(other, ["+12025550102"], name="Someone else's")

    contact_list = imported(user, "phone\n+12025550101\n+12025550102\n+12025550103\n(202) 555-0101\n")

    assert numbers_of(contact_list) == ["+12025550101", "+12025550102", "+12025550103"]
    assert rejected(contact_list) == [(5, "+12025550101 already appears on line 2")]
    assert (
        Contact.objects.filter(contact_list__workspace=user.personal_workspace, phone_number="+12025550101").count()
        == 2
    )


def test_numbers_on_a_do_not_call_list_are_skipped(user, other):
    DoNotCall.objects.create(workspace=user.personal_workspace, phone_number="+12025550101")
    DoNotCall.objects.create(workspace=None, phone_number="+12025550102")
    DoNotCall.objects.create(workspace=other.personal_workspace, phone_number="+12025550103")  # not this account's

    contact_list = imported(user, "phone\n+12025550101\n+12025550102\n+12025550103\n")

    assert numbers_of(contact_list) == ["+12025550103"]
    assert rejected(contact_list) == [
        (2, "+12025550101 is on your do-not-call list"),
        (3, "+12025550102 is on the platform-wide do-not-call list"),
    ]


# --- Report, progress, crashes ----------------------------------------------------------------------
def test_rejected_rows_report_is_csv_and_safe_in_a_spreadsheet(logged_in, user):
    contact_list = imported(user, 'phone,first_name\n=HYPERLINK("http://x"),Eve\n+12025550101,Ann\n@SUM(1),Bob\n')

    response = logged_in.get(reverse("contactlist_rejections", args=[contact_list.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="rejected-rows-leads-' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["line", "value", "reason"]
    assert rows[1] == ["2", '\'=HYPERLINK("http://x")', "'=HYPERLINK(\"http://x\")' is not a phone number"]
    assert rows[2][:2] == ["4", "'@SUM(1)"]


def test_progress_is_stored_after_every_batch(user, monkeypatch):
    monkeypatch.setattr(contacts, "BATCH_ROWS", 10)
    data = ("phone\n" + "".join(f"+1202555{1000 + i:04d}\n" for i in range(35))).encode()
    contact_list = contact_upload_create(workspace=user.personal_workspace, filename="leads.csv", data=data)
    contact_list_import_start(
        contact_list=contact_list, mapping=contact_list.column_mapping, default_country="US", name="L", tags=[], by=user
    )
    seen = []
    write = contacts._BatchWriter.write

    def spy(self, *args, **kwargs):
        write(self, *args, **kwargs)
        row = ContactList.objects.get(pk=contact_list.pk)
        seen.append((row.import_status, row.rows_imported, row.import_bytes_done))
        progress = contacts.import_progress(contact_list=row)
        seen.append(progress["percent"])

    monkeypatch.setattr(contacts._BatchWriter, "write", spy)

    contact_list_import(contact_list.pk)

    statuses = [s for s in seen if isinstance(s, tuple)]
    assert [s[1] for s in statuses] == [10, 20, 30, 35]
    assert all(s[0] == ContactList.ImportStatus.RUNNING for s in statuses)
    done = [s[2] for s in statuses]
    assert done == sorted(done) and done[-1] == len(data)
    percents = [s for s in seen if isinstance(s, int)]
    assert percents == sorted(percents) and percents[0] > 0 and percents[-1] == 100


def _crash_on_second_batch(monkeypatch, error):
    write, calls = contacts._BatchWriter.write, []

    def crashing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise error
        return write(self, *args, **kwargs)

    monkeypatch.setattr(contacts._BatchWriter, "write", crashing)


def _result(contact_list):
    contact_list.refresh_from_db()
    return (
        contact_list.import_status,
        contact_list.rows_imported,
        contact_list.rows_rejected,
        list(contact_list.contacts.order_by("source_line").values_list("phone_number", "source_line")),
        rejected(contact_list),
    )


def _crash_file() -> str:
    return "phone\n" + "".join(f"+1202555{1000 + i:04d}\n" for i in range(25)) + "bad\n+12025551000\n"


def test_a_crashed_import_fails_readably_and_runs_again_to_the_same_result(user, other, monkeypatch):
    monkeypatch.setattr(contacts, "BATCH_ROWS", 10)
    clean = imported(other, _crash_file())
    contact_list = contact_upload_create(
        workspace=user.personal_workspace, filename="leads.csv", data=_crash_file().encode()
    )
    contact_list_import_start(
        contact_list=contact_list, mapping=contact_list.column_mapping, default_country="US", name="L", tags=[], by=user
    )
    with monkeypatch.context() as patch:
        _crash_on_second_batch(patch, RuntimeError("database went away"))
        with pytest.raises(RuntimeError):
            contact_list_import(contact_list.pk)

    contact_list.refresh_from_db()
    assert contact_list.import_status == ContactList.ImportStatus.FAILED
    assert contact_list.import_error.startswith("The import stopped because of an error on our side. Try again")
    assert not contact_list.contacts.exists()  # never half a list
    assert ContactUpload.objects.filter(contact_list=contact_list).exists()  # kept for the retry

    contact_list_import(contact_list.pk)

    assert _result(contact_list) == _result(clean)
    assert _result(contact_list)[1:3] == (25, 2)


def test_a_worker_killed_mid_import_leaves_a_list_the_job_restarts_cleanly(user, other, monkeypatch):
    monkeypatch.setattr(contacts, "BATCH_ROWS", 10)
    clean = imported(other, _crash_file())
    contact_list = contact_upload_create(
        workspace=user.personal_workspace, filename="leads.csv", data=_crash_file().encode()
    )
    contact_list_import_start(
        contact_list=contact_list, mapping=contact_list.column_mapping, default_country="US", name="L", tags=[], by=user
    )
    with monkeypatch.context() as patch:
        # A killed process runs no handler: the first batch stays, the status says running.
        _crash_on_second_batch(patch, KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt):
            contact_list_import(contact_list.pk)
    contact_list.refresh_from_db()
    assert contact_list.import_status == ContactList.ImportStatus.RUNNING and contact_list.rows_imported == 10

    contact_list_import(contact_list.pk)  # RQ runs the job again
    contact_list_import(contact_list.pk)  # and a replay after success changes nothing

    assert _result(contact_list) == _result(clean)


def test_a_problem_with_the_file_fails_the_import_with_the_reason_and_retry_queues_it(
    logged_in, user, django_capture_on_commit_callbacks
):
    contact_list = contact_upload_create(
        workspace=user.personal_workspace, filename="leads.csv", data=b"phone\n+12025550101\n"
    )
    contact_list_import_start(
        contact_list=contact_list, mapping={"phone": "phone"}, default_country="US", name="L", tags=[], by=user
    )
    ContactList.objects.filter(pk=contact_list.pk).update(column_mapping={"phone": "Mobile"})

    contact_list_import(contact_list.pk)

    contact_list.refresh_from_db()
    assert contact_list.import_status == ContactList.ImportStatus.FAILED
    assert contact_list.import_error == "The file has no column “Mobile” for the phone number. Map the columns again."
    page = logged_in.get(reverse("contactlist_import", args=[contact_list.pk]), HTTP_HX_REQUEST="true")
    assert page.status_code == 286 and "Try again" in text(page)

    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post(reverse("contactlist_import_retry", args=[contact_list.pk]))
    contact_list.refresh_from_db()
    assert contact_list.import_status == ContactList.ImportStatus.QUEUED and contact_list.import_error == ""
    assert django_rq.get_queue("default").count == 1


def test_the_import_holds_no_text_of_the_whole_file(user, monkeypatch):
    """Streamed: the encoding check decodes chunks, and the rows come through a TextIOWrapper."""
    monkeypatch.setattr(csv_files, "DECODE_CHUNK", 4096)
    data = ("phone\n" + "".join(f"+1202555{1000 + i:04d}\n" for i in range(3000))).encode()
    contact_list = contact_upload_create(workspace=user.personal_workspace, filename="leads.csv", data=data)
    contact_list_import_start(
        contact_list=contact_list, mapping=contact_list.column_mapping, default_country="US", name="L", tags=[], by=user
    )
    decoded = []
    real = codecs.getincrementaldecoder("utf-8")

    class Watching(real):
        def decode(self, data, final=False):
            decoded.append(len(data))
            return super().decode(data, final)

    monkeypatch.setattr(codecs, "getincrementaldecoder", lambda name: Watching if name == "utf-8" else real)
    contact_list_import(contact_list.pk)

    assert ContactList.objects.get(pk=contact_list.pk).rows_imported == 3000
    assert len(decoded) > 1 and max(decoded) <= 4096


# --- Owner scoping --------------------------------------------------------------------------------------
def test_every_contact_page_is_the_owners_alone(logged_in, user, other):
    theirs = imported(other, "phone,first_name\n+12025550101,Ann\nbad,Bob\n")
    contact = theirs.contacts.get()
    entry = DoNotCall.objects.create(workspace=other.personal_workspace, phone_number="+12025550199")
    pending = contact_upload_create(workspace=other.personal_workspace, filename="x.csv", data=b"phone\n+12025550102\n")

    for name, args in [
        ("contactlist_detail", [theirs.pk]),
        ("contactlist_map", [pending.pk]),
        ("contactlist_import", [theirs.pk]),
        ("contactlist_rejections", [theirs.pk]),
        ("contactlist_edit", [theirs.pk]),
        ("contactlist_delete", [theirs.pk]),
        ("contactlist_export", [theirs.pk]),
        ("contact_edit", [theirs.pk, contact.pk]),
        ("contact_delete", [theirs.pk, contact.pk]),
    ]:
        assert logged_in.get(reverse(name, args=args)).status_code == 404, name
        assert logged_in.post(reverse(name, args=args), {"name": "mine now"}).status_code == 404, name
    assert logged_in.post(reverse("contactlist_import_retry", args=[theirs.pk])).status_code == 404
    # A contact of theirs through a list of mine is not found either.
    mine = make_list(user, ["+12025550150"])
    assert logged_in.get(reverse("contact_edit", args=[mine.pk, contact.pk])).status_code == 404

    assert logged_in.post(reverse("dnc_remove", args=[entry.pk])).status_code == 404  # as every other page
    assert DoNotCall.objects.filter(pk=entry.pk).exists()
    assert ContactList.objects.get(pk=theirs.pk).name == "Leads" and Contact.objects.filter(pk=contact.pk).exists()
    exported = b"".join(logged_in.get(reverse("dnc_export")).streaming_content).decode()
    assert "+12025550199" not in exported


@pytest.mark.parametrize(
    "name,args",
    [
        ("contactlist_map", [1]),
        ("contactlist_import", [1]),
        ("contactlist_rejections", [1]),
        ("contactlist_edit", [1]),
        ("contactlist_delete", [1]),
        ("contactlist_export", [1]),
        ("contact_edit", [1, 1]),
        ("contact_delete", [1, 1]),
        ("dnc_export", []),
    ],
)
def test_contact_pages_require_login(client, name, args):
    response = client.get(reverse(name, args=args))

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- Lists and contacts pages ---------------------------------------------------------------------------
def test_lists_page_searches_names_and_tags_and_pages(logged_in, user):
    for i in range(30):
        make_list(user, [f"+1202555{1000 + i:04d}"], name=f"List {i:02d}")
    tagged = make_list(user, ["+12025559999"], name="Webinar people")
    tagged.tags = ["autumn-webinar"]
    tagged.save()

    first = logged_in.get(reverse("contactlist_list"))
    second = logged_in.get(reverse("contactlist_list") + "?page=2")
    by_name = text(logged_in.get(reverse("contactlist_list") + "?q=list 0"))
    by_tag = text(logged_in.get(reverse("contactlist_list") + "?q=autumn"))

    assert len(first.context["lists"]) == 25 and len(second.context["lists"]) == 6
    assert "Page 1 of 2 (31 lists)" in text(first)
    assert "List 05" in by_name and "List 15" not in by_name
    assert "Webinar people" in by_tag and "List 05" not in by_tag
    assert '<td data-label="Contacts">1</td>' in by_tag  # its contact count


def test_contacts_are_paged_and_searched_by_name_number_and_tag(logged_in, user):
    rows = "".join(f"+1202555{1000 + i:04d},Person{i},{'vip' if i % 10 == 0 else ''}\n" for i in range(120))
    contact_list = imported(user, "phone,first_name,tags\nx\n" + rows)
    Contact.objects.filter(contact_list=contact_list, first_name="Person7").update(last_name="Lovelace")
    url = reverse("contactlist_detail", args=[contact_list.pk])

    first, third = logged_in.get(url), logged_in.get(url + "?page=3")
    by_name = logged_in.get(url + "?q=lovelace")
    by_number = logged_in.get(url + "?q=(202) 555-1011")
    by_tag = logged_in.get(url + "?tag=VIP")
    by_tag_page = logged_in.get(url + "?tag=vip&q=Person1")

    assert len(first.context["contacts"]) == 50 and len(third.context["contacts"]) == 20
    assert "Page 1 of 3 (120 contacts)" in text(first)
    assert "?page=2" in text(first)
    assert [c.first_name for c in by_name.context["contacts"]] == ["Person7"]
    assert [c.phone_number for c in by_number.context["contacts"]] == ["+12025551011"]
    assert [c.first_name for c in by_tag.context["contacts"]] == [f"Person{i}" for i in range(0, 120, 10)]
    assert [c.first_name for c in by_tag_page.context["contacts"]] == ["Person10", "Person100", "Person110"]


def test_a_large_result_is_counted_only_up_to_the_cap(logged_in, user, monkeypatch):
    contact_list = imported(user, "phone\n" + "".join(f"+1202555{1000 + i:04d}\n" for i in range(60)))
    real = lists.CappedPaginator.__init__
    monkeypatch.setattr(lists.CappedPaginator, "__init__", lambda self, *a, **k: real(self, *a, cap=55, **k))

    page = logged_in.get(reverse("contactlist_detail", args=[contact_list.pk]) + "?q=202")

    assert "Page 1 of many (more than 55 contacts found)" in text(page)


def test_edit_a_contact(logged_in, user):
    contact_list = make_list(user, ["+12025550101", "+12025550102"])
    contact = contact_list.contacts.get(phone_number="+12025550101")
    url = reverse("contact_edit", args=[contact_list.pk, contact.pk])
    form = {
        "phone_number": "(202) 555-0199",
        "first_name": " Ada ",
        "last_name": "Lovelace",
        "time_zone": "europe/london",
        "tags": "vip, vip, Gold",
        "variables": "Company Name: Analytical Engines\nplan = gold",
    }

    response = logged_in.post(url + "?q=Person&page=1", {**form, "back_q": "Person", "back_page": "1"})

    assert response["Location"] == reverse("contactlist_detail", args=[contact_list.pk]) + "?q=Person&page=1"
    contact.refresh_from_db()
    assert contact.phone_number == "+12025550199"
    assert (contact.first_name, contact.last_name, contact.time_zone) == ("Ada", "Lovelace", "Europe/London")
    assert contact.tags == ["vip", "Gold"]
    assert contact.variables == {"company_name": "Analytical Engines", "plan": "gold"}

    duplicate = logged_in.post(url, {**form, "phone_number": "+1 202 555 0102"})
    bad_zone = logged_in.post(url, {**form, "time_zone": "Moon/Base"})
    bad_number = logged_in.post(url, {**form, "phone_number": "12"})
    bad_variables = logged_in.post(url, {**form, "variables": "no separator here"})
    assert "Phone number: +12025550102 is already in this list." in text(duplicate)
    assert "Time zone: 'Moon/Base' is not a time zone" in text(bad_zone)
    assert 'id="id_time_zone-errors"' in text(bad_zone)
    assert "Phone number: '12' is not a valid number for US." in text(bad_number)
    assert "Variables: line 1 needs the form 'name: value'." in text(bad_variables)
    contact.refresh_from_db()
    assert contact.phone_number == "+12025550199"


def test_delete_a_contact(logged_in, user):
    contact_list = make_list(user, ["+12025550101", "+12025550102"])
    contact = contact_list.contacts.get(phone_number="+12025550101")
    url = reverse("contact_delete", args=[contact_list.pk, contact.pk])

    assert "Delete Person0?" in text(logged_in.get(url))
    response = logged_in.post(url, follow=True)

    assert "Contact +12025550101 deleted." in messages_of(response)
    assert numbers_of(contact_list) == ["+12025550102"]


def test_contacts_cannot_be_changed_while_their_list_is_importing(user):
    contact_list = make_list(user, ["+12025550101"])
    ContactList.objects.filter(pk=contact_list.pk).update(import_status=ContactList.ImportStatus.RUNNING)
    contact = Contact.objects.get(contact_list=contact_list)

    with pytest.raises(CampaignError, match="being imported"):
        lists.contact_update(contact=contact, phone_number="+12025550102")
    with pytest.raises(CampaignError, match="being imported"):
        lists.contact_delete(contact=contact)


def test_a_list_used_by_a_campaign_cannot_be_deleted_and_the_campaign_is_named(logged_in, user):
    campaign = make_campaign(user, ["+12025550101"])
    url = reverse("contactlist_delete", args=[campaign.contact_list.pk])

    assert "used by the campaign “Spring outreach”" in text(logged_in.get(url))
    response = logged_in.post(url, follow=True)

    assert "This list is used by the campaign “Spring outreach”, so it cannot be deleted." in messages_of(response)
    assert ContactList.objects.filter(pk=campaign.contact_list.pk).exists()


def test_delete_a_list_with_its_contacts_and_rejections(logged_in, user):
    contact_list = imported(user, "phone\n+12025550101\nbad\n")

    response = logged_in.post(reverse("contactlist_delete", args=[contact_list.pk]), follow=True)

    assert "List “Leads” deleted." in messages_of(response)
    assert not ContactList.objects.exists() and not Contact.objects.exists() and not ImportRejection.objects.exists()


def test_rename_and_tag_a_list(logged_in, user):
    contact_list = make_list(user, ["+12025550101"])

    logged_in.post(reverse("contactlist_edit", args=[contact_list.pk]), {"name": " Spring  2026 ", "tags": "a, b, a"})

    contact_list.refresh_from_db()
    assert (contact_list.name, contact_list.tags) == ("Spring 2026", ["a", "b"])


def test_export_contacts_is_safe_in_a_spreadsheet_and_exact_for_a_crm(logged_in, user):
    contact_list = imported(
        user,
        'phone,first_name,last_name,company,tags\n+12025550101,=cmd|" /C calc"!A0,Lee,@Acme,"vip, gold"\n'
        "+12025550102,Bob,-Brown,Beta,\n",
    )

    response = logged_in.get(reverse("contactlist_export", args=[contact_list.pk]))

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["phone", "first_name", "last_name", "time_zone", "tags", "company"]
    # Numbers exactly as stored (E.164 is no formula); formulas neutralised with an apostrophe.
    assert rows[1] == ["+12025550101", '\'=cmd|" /C calc"!A0', "Lee", "", "vip, gold", "'@Acme"]
    assert rows[2] == ["+12025550102", "Bob", "'-Brown", "", "", "Beta"]


def contacts_as_data(contact_list) -> list[tuple]:
    return [
        (c.phone_number, c.first_name, c.last_name, c.time_zone, c.tags, c.variables)
        for c in contact_list.contacts.order_by("phone_number")
    ]


def test_a_lists_export_imports_again_to_the_same_contacts_variables_and_tags(
    logged_in, user, run_jobs, django_capture_on_commit_callbacks
):
    """The round trip a user makes to fix a list in a spreadsheet or a script: export, import the
    file as it is into the same account, and get the same contacts back."""
    source = (
        "Mobile,First name,Last name,Time zone,Tags,Company (Org),Balance,Note,Callback number\n"
        '(202) 555-0101,Ann,O\'Neil,America/New_York,"vip, gold",Acme,-12.50,"=HYPERLINK(""http://x"")",'
        "+14155550132\n"
        "+44 20 7946 0123,=cmd|' /C calc'!A0,-Brown,,spring,@Beta,+3,'Tis the season,\n"
        '+1 202 555 0103,Zoë,,Europe/Paris,,"Gamma, Inc",42,"two\nlines",+1 (415) 555-0199\n'
    )
    upload_file(logged_in, source, "Spring.csv")
    original = ContactList.objects.get(workspace=user.personal_workspace)
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post(reverse("contactlist_map", args=[original.pk]), mapping_post(original))
    run_jobs()
    original.refresh_from_db()
    assert original.rows_imported == 3 and original.rows_rejected == 0
    assert original.contacts.get(phone_number="+12025550101").variables == {
        "company": "Acme",
        "balance": "-12.50",
        "note": '=HYPERLINK("http://x")',
        "callback_number": "+14155550132",
    }

    exported = b"".join(logged_in.get(reverse("contactlist_export", args=[original.pk])).streaming_content)
    upload_file(logged_in, exported, "contacts-spring.csv")
    again = ContactList.objects.filter(workspace=user.personal_workspace).exclude(pk=original.pk).get()
    assert again.column_mapping["variables"] == ["company", "balance", "note", "callback_number"]
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post(reverse("contactlist_map", args=[again.pk]), mapping_post(again))
    run_jobs()
    again.refresh_from_db()

    assert (again.rows_imported, again.rows_rejected) == (3, 0)  # the same numbers, in a second list
    assert contacts_as_data(again) == contacts_as_data(original)


def test_the_mapping_page_shows_each_variable_name_and_lets_the_user_change_it(
    logged_in, user, run_jobs, django_capture_on_commit_callbacks
):
    upload_file(logged_in, "Phone,Company (Org),Renewal Date\n+12025550101,Acme,2026-12-01\n")
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    url = reverse("contactlist_map", args=[contact_list.pk])

    page = logged_in.get(url)

    body = text(page)
    assert 'name="variable_name_1" value="company"' in body  # "Company (Org)" is {{company}}, shown
    assert 'name="variable_name_2" value="renewal_date"' in body
    assert "e.g. “Acme”" in body
    assert "{{company|your company}}" in body  # how to give a fallback

    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(url, mapping_post(contact_list, variable_name_1="org", variable_name_2="Renews_On"))
    run_jobs()

    assert response.status_code == 302
    contact_list.refresh_from_db()
    assert contact_list.column_mapping["variable_names"] == {"Company (Org)": "org", "Renewal Date": "renews_on"}
    assert contact_list.contacts.get().variables == {"org": "Acme", "renews_on": "2026-12-01"}


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ({"variable_name_1": "company name"}, "“company name” cannot be a variable name: use lower-case letters"),
        ({"variable_name_1": "first_name"}, "{{first_name}} is the contact's first name: choose another name"),
        ({"variable_name_1": "phone_number"}, "{{phone_number}} is the contact's phone number"),
        ({"variable_name_1": "plan", "variable_name_2": "plan"}, "{{plan}} is already the name of “Company (Org)”"),
        ({"variable_name_1": ""}, "Give “Company (Org)” a variable name, or untick it."),
        ({"variable_name_1": "2024"}, "(such as column_2024)"),
    ],
)
def test_a_variable_name_the_lines_cannot_use_is_refused_and_nothing_is_imported(logged_in, user, names, message):
    upload_file(logged_in, "Phone,Company (Org),Renewal Date\n+12025550101,Acme,2026-12-01\n")
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)

    response = logged_in.post(reverse("contactlist_map", args=[contact_list.pk]), mapping_post(contact_list, **names))

    assert response.status_code == 200
    assert message in text(response)
    contact_list.refresh_from_db()
    assert contact_list.consent_confirmed_at is None and not Contact.objects.exists()
    # What the user typed is kept on the page to correct.
    for field, value in names.items():
        assert f'name="{field}" value="{value}"' in text(response) or not value


def test_an_unticked_column_needs_no_valid_name(logged_in, user, run_jobs, django_capture_on_commit_callbacks):
    upload_file(logged_in, "Phone,Company (Org),Internal\n+12025550101,Acme,x\n")
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)

    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(
            reverse("contactlist_map", args=[contact_list.pk]),
            mapping_post(contact_list, variables=["Company (Org)"], variable_name_2="not a name!"),
        )
    run_jobs()

    assert response.status_code == 302
    assert Contact.objects.get().variables == {"company": "Acme"}


def test_full_name_or_first_and_last_name_not_both(logged_in, user):
    upload_file(logged_in, "Phone,Name,Surname\n+12025550101,Ann,Lee\n")
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)

    response = logged_in.post(
        reverse("contactlist_map", args=[contact_list.pk]), mapping_post(contact_list, full_name="Name")
    )

    assert "Choose a full-name column or first- and last-name columns, not both" in text(response)
    with pytest.raises(CampaignError, match="not both"):
        contact_list_import_start(
            contact_list=contact_list,
            mapping={"phone": "Phone", "full_name": "Name", "last_name": "Surname"},
            default_country="US",
            name="L",
            tags=[],
            by=user,
        )


def test_a_full_name_column_is_split_into_first_and_last_name(user):
    contact_list = imported(user, 'Phone,Name\n+12025550101,Ann Lee\n+12025550102,"Lee, Bob"\n+12025550103,Dr. Cy\n')

    assert contact_list.column_mapping["full_name"] == "Name"
    assert list(contact_list.contacts.order_by("source_line").values_list("first_name", "last_name")) == [
        ("Ann", "Lee"),
        ("Bob", "Lee"),
        ("Cy", ""),
    ]


def test_the_import_service_refuses_a_bad_variable_name_too(user):
    contact_list = contact_upload_create(
        workspace=user.personal_workspace, filename="l.csv", data=b"Phone,Org\n+12025550101,Acme\n"
    )

    with pytest.raises(CampaignError, match="cannot be a variable name"):
        contact_list_import_start(
            contact_list=contact_list,
            mapping={"phone": "Phone", "variables": ["Org"], "variable_names": {"Org": "Org Name"}},
            default_country="US",
            name="L",
            tags=[],
            by=user,
        )
    contact_list.refresh_from_db()
    assert contact_list.consent_confirmed_at is None


# --- Do-not-call ----------------------------------------------------------------------------------------
def test_dnc_manual_add_records_who_added_it(logged_in, user):
    logged_in.post(reverse("dnc_list"), {"phone_number": "(202) 555-0101"})

    entry = DoNotCall.objects.get(workspace=user.personal_workspace)
    assert (entry.phone_number, entry.reason, entry.added_by) == ("+12025550101", "Added by you", user)


def test_dnc_csv_import_reports_bad_lines_by_number(logged_in, user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    DoNotCall.objects.create(
        workspace=user.personal_workspace, phone_number="+12025550103", reason="Asked during call 7"
    )
    data = (
        "Name;Phone;Reason\nAnn;(202) 555-0101;angry\nBob;nope;\nCy;+1 202 555 0102;\n;;\n"
        "Dee;202-555-0103;\nEve;202 555 0101;\n"
    )

    response = logged_in.post(
        reverse("dnc_import"), {"file": SimpleUploadedFile("optouts.csv", data.encode())}, follow=True
    )

    notes = messages_of(response)
    assert "2 numbers added to your do-not-call list; 1 already on it." in notes
    assert "1 line not imported: line 3: 'nope' is not a phone number." in notes
    entries = dict(DoNotCall.objects.filter(workspace=user.personal_workspace).values_list("phone_number", "reason"))
    assert entries == {
        "+12025550101": "angry",
        "+12025550102": "Imported from optouts.csv",
        "+12025550103": "Asked during call 7",  # left as it was
    }
    assert DoNotCall.objects.get(phone_number="+12025550102").added_by == user


def test_dnc_csv_import_without_a_header(logged_in, user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = logged_in.post(
        reverse("dnc_import"),
        {"file": SimpleUploadedFile("numbers.txt", b"+12025550101\n2025550102\n\nxx\n")},
        follow=True,
    )

    assert "2 numbers added to your do-not-call list." in messages_of(response)
    assert "1 line not imported: line 4: 'xx' is not a phone number." in messages_of(response)


def test_dnc_csv_import_refuses_non_csv_and_too_many_lines(logged_in, user, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    png = logged_in.post(reverse("dnc_import"), {"file": SimpleUploadedFile("x.png", PNG)}, follow=True)
    monkeypatch.setattr(donotcall, "MAX_DNC_IMPORT_LINES", 3)
    many = logged_in.post(
        reverse("dnc_import"), {"file": SimpleUploadedFile("n.csv", b"phone\n" + b"+12025550101\n" * 5)}, follow=True
    )

    assert messages_of(png) == ["Nothing imported: “x.png” is a PNG image, not a CSV file. " + csv_files.SAVE_AS_CSV]
    assert messages_of(many) == ["Nothing imported: The file has more than 3 lines. Split it into smaller files."]
    assert not DoNotCall.objects.exists()


def test_dnc_page_search_remove_export_and_the_platform_count(logged_in, user):
    DoNotCall.objects.create(workspace=user.personal_workspace, phone_number="+12025550101", reason="=HYPERLINK(1)")
    mine = DoNotCall.objects.create(
        workspace=user.personal_workspace, phone_number="+12025550102", reason="Asked during call 9"
    )
    DoNotCall.objects.create(workspace=None, phone_number="+12025550103")
    DoNotCall.objects.create(workspace=None, phone_number="+12025550104")

    page = text(logged_in.get(reverse("dnc_list")))
    found = logged_in.get(reverse("dnc_list") + "?q=555 0102")
    exported = list(csv.reader(io.StringIO(b"".join(logged_in.get(reverse("dnc_export")).streaming_content).decode())))
    removed = logged_in.post(reverse("dnc_remove", args=[mine.pk]), follow=True)

    assert "2 numbers on the platform-wide do-not-call list" in page
    assert "+12025550103" not in page  # the platform's numbers are not shown to accounts
    assert [e.phone_number for e in found.context["entries"]] == ["+12025550102"]
    assert exported[0] == ["phone", "reason", "added"]
    assert [r[:2] for r in exported[1:]] == [
        ["+12025550101", "'=HYPERLINK(1)"],  # numbers exactly, formulas neutralised
        ["+12025550102", "Asked during call 9"],
    ]
    assert "+12025550102 removed from your do-not-call list. Campaigns may call it again." in messages_of(removed)
    assert list(DoNotCall.objects.filter(workspace=user.personal_workspace).values_list("phone_number", flat=True)) == [
        "+12025550101"
    ]
