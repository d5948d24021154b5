"""Hostile CSV files: a million columns, one giant line, a row far wider than its header. Each is
refused with a message that says what is wrong, in a fraction of a second and a few megabytes,
and leaves nothing half-imported behind. (Before the limits, a 10 MB file of a million columns
kept a web worker busy for minutes with gigabytes of memory.)"""

import html
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.contacts.importing import contact_list_import, contact_list_import_start, contact_upload_create
from campaigns.models import Contact, ContactList, ContactUpload, ImportRejection

pytestmark = pytest.mark.django_db

MILLION_COLUMNS = ("phone," + ",".join(f"c{i}" for i in range(1_000_000)) + "\n+12025550101\n").encode()
GOOD_ROWS = "".join(f"+1202555{i:04d},Person {i}\n" for i in range(100, 110))


@dataclass
class Cost:
    seconds: float = 0.0
    peak_mb: float = 0.0


@contextmanager
def cost():
    """Processor time and the peak of Python memory allocated inside the block. Processor time of
    this thread, not wall time: other work on a busy machine slows the clock, not this code."""
    measured = Cost()
    tracemalloc.start()
    started = time.thread_time()
    try:
        yield measured
    finally:
        measured.seconds = time.thread_time() - started
        measured.peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()


@pytest.fixture
def logged_in(logged_in):
    # The first request of a process imports every URL module (the Telnyx SDK takes seconds):
    # that is start-up, not the cost of a file.
    logged_in.get(reverse("contactlist_upload"))
    return logged_in


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def upload(client, data: bytes, name="leads.csv"):
    return client.post(reverse("contactlist_upload"), {"file": SimpleUploadedFile(name, data)})


def stored_before_the_limits(user, data: bytes) -> ContactList:
    """An upload kept from before the limits existed (or under higher ones), waiting for its mapping."""
    contact_list = ContactList.objects.create(
        workspace=user.personal_workspace,
        name="Old upload",
        source_filename="old.csv",
        import_status=ContactList.ImportStatus.QUEUED,
        default_country="US",
        column_mapping={"phone": "phone"},
        import_bytes_total=len(data),
    )
    ContactUpload.objects.create(contact_list=contact_list, data=data)
    return contact_list


def confirmed(user, data: bytes) -> ContactList:
    contact_list = contact_upload_create(workspace=user.personal_workspace, filename="leads.csv", data=data)
    contact_list_import_start(
        contact_list=contact_list,
        mapping={"phone": "phone", "first_name": "first_name"},
        default_country="US",
        name="Leads",
        tags=[],
        by=user,
    )
    return contact_list


def assert_nothing_imported(contact_list):
    assert not Contact.objects.filter(contact_list=contact_list).exists()
    assert not ImportRejection.objects.filter(contact_list=contact_list).exists()
    assert contact_list.rows_imported == 0 and contact_list.rows_rejected == 0


# --- At upload ---------------------------------------------------------------------------------
def test_a_million_column_header_is_refused_at_upload_quickly(logged_in):
    with cost() as spent:
        response = upload(logged_in, MILLION_COLUMNS)

    assert response.status_code == 200
    assert "The file could not be read as CSV from line 1: the line is longer than 100,000 characters" in page_text(
        response
    )
    assert not ContactList.objects.exists() and not ContactUpload.objects.exists()
    assert spent.seconds < 2
    assert spent.peak_mb < 64  # the 10 MB file and its multipart copies; nothing per column


def test_a_single_giant_line_is_refused_at_upload_quickly(logged_in):
    giant = b"phone" + b",x" * 5_000_000  # 10 MB, no line break at all

    with cost() as spent:
        response = upload(logged_in, giant)

    assert response.status_code == 200
    assert "from line 1: the line is longer than 100,000 characters" in page_text(response)
    assert not ContactList.objects.exists() and not ContactUpload.objects.exists()
    assert spent.seconds < 2 and spent.peak_mb < 64


def test_a_header_with_more_columns_than_allowed_is_refused_naming_the_limit(logged_in):
    header = "phone," + ",".join(f"c{i}" for i in range(600))  # 600 short names: a short line

    response = upload(logged_in, f"{header}\n+12025550101\n".encode())

    assert response.status_code == 200
    assert "Line 1 has 601 columns; at most 500 can be imported." in page_text(response)
    assert not ContactList.objects.exists() and not ContactUpload.objects.exists()


def test_the_limits_are_settings(logged_in, settings):
    settings.CSV_MAX_COLUMNS = 3
    settings.CSV_MAX_ROW_LENGTH = 40

    wide = upload(logged_in, b"phone,a,b,c\n+12025550101,1,2,3\n")
    long = upload(logged_in, b"phone,note\n+12025550101," + b"x" * 60 + b"\n")

    assert "Line 1 has 4 columns; at most 3 can be imported." in page_text(wide)
    assert long.status_code == 302  # the header is short; the long row is the import's to refuse
    contact_list = ContactList.objects.get()
    assert contact_list.column_mapping["variables"] == ["note"]


def test_the_upload_form_says_how_many_columns_are_allowed(logged_in):
    assert "At most 500 columns" in page_text(logged_in.get(reverse("contactlist_upload")))


# --- The mapping page -------------------------------------------------------------------------------
def test_an_upload_stored_before_the_limits_gets_a_clear_message_not_a_hung_page(logged_in, user):
    contact_list = stored_before_the_limits(user, MILLION_COLUMNS)

    with cost() as spent:
        response = logged_in.get(reverse("contactlist_map", args=[contact_list.pk]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("contactlist_upload")
    assert "from line 1: the line is longer than 100,000 characters" in page_text(response)
    assert spent.seconds < 2 and spent.peak_mb < 32


def test_a_wide_row_among_the_previewed_rows_gets_a_clear_message(logged_in, user):
    data = ("phone,first_name\n+12025550101,Ann\n" + "+12025550102" + ",x" * 1_000_000 + "\n").encode()
    contact_list = contact_upload_create(
        workspace=user.personal_workspace, filename="leads.csv", data=data
    )  # the header is fine

    with cost() as spent:
        response = logged_in.get(reverse("contactlist_map", args=[contact_list.pk]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("contactlist_upload")
    assert "from line 3: the line is longer than 100,000 characters" in page_text(response)
    assert spent.seconds < 2 and spent.peak_mb < 32


def test_the_mapping_page_of_the_widest_allowed_file_is_quick(logged_in, user):
    header = "phone," + ",".join(f"Column name {i}" for i in range(499))
    rows = "".join("+1202555010" + str(i) + ",x" * 499 + "\n" for i in range(5))
    contact_list = contact_upload_create(
        workspace=user.personal_workspace, filename="wide.csv", data=f"{header}\n{rows}".encode()
    )

    started = time.thread_time()  # processor time (no tracemalloc here: it slows rendering several times)
    response = logged_in.get(reverse("contactlist_map", args=[contact_list.pk]))

    assert response.status_code == 200 and "500 columns" in page_text(response)
    assert time.thread_time() - started < 3


# --- The background import ----------------------------------------------------------------------------
def test_many_columns_in_a_later_row_fail_the_import_quickly_and_keep_nothing(user):
    wide_row = "+12025550199" + ",x" * 1_000_000 + "\n"  # 2 MB: a million columns on line 12
    contact_list = confirmed(user, ("phone,first_name\n" + GOOD_ROWS + wide_row + GOOD_ROWS).encode())

    with cost() as spent:
        contact_list_import(contact_list.pk)

    contact_list.refresh_from_db()
    assert contact_list.import_status == ContactList.ImportStatus.FAILED
    assert contact_list.import_error.startswith(
        "The file could not be read as CSV from line 12: the line is longer than 100,000 characters"
    )
    assert_nothing_imported(contact_list)
    assert spent.seconds < 2 and spent.peak_mb < 32


def test_a_later_row_over_the_column_limit_fails_the_import_naming_its_line(user):
    wide_row = "+12025550199" + ",x" * 600 + "\n"
    contact_list = confirmed(user, ("phone,first_name\n" + GOOD_ROWS + wide_row).encode())

    contact_list_import(contact_list.pk)

    contact_list.refresh_from_db()
    assert contact_list.import_status == ContactList.ImportStatus.FAILED
    assert contact_list.import_error.startswith("Line 12 has 601 columns; at most 500 can be imported.")
    assert_nothing_imported(contact_list)


def test_trailing_empty_cells_do_not_count_as_columns(user):
    padded = "+12025550199,Zed" + "," * 1000 + "\n"  # a spreadsheet padding its rows
    contact_list = confirmed(user, ("phone,first_name\n" + GOOD_ROWS + padded).encode())

    contact_list_import(contact_list.pk)

    contact_list.refresh_from_db()
    assert contact_list.import_status == ContactList.ImportStatus.DONE
    assert contact_list.rows_imported == 11


def test_a_quote_left_open_stops_at_the_row_limit_not_at_the_end_of_the_file(user):
    never_closed = '+12025550199,"never closed\n' + ("x" * 1000 + "\n") * 10_000  # 10 MB inside one quote
    contact_list = confirmed(user, ("phone,first_name\n" + GOOD_ROWS + never_closed).encode())

    with cost() as spent:
        contact_list_import(contact_list.pk)

    contact_list.refresh_from_db()
    assert contact_list.import_status == ContactList.ImportStatus.FAILED
    assert contact_list.import_error == (
        "The file could not be read as CSV from line 12: the row is longer than 100,000 characters by line 112. "
        'Often a quote (") that is never closed.'
    )
    assert_nothing_imported(contact_list)
    assert spent.seconds < 2 and spent.peak_mb < 32
