"""Importing contacts in a real browser: upload a CSV, choose its columns, confirm consent, watch
the progress bar fill while the worker imports (htmx polling, no reload), then download the
rejected rows.

The account is logged in by its session cookie; the import job runs in this process (`run_jobs`)
once the mapping is confirmed, as an RQ worker would run it.
"""

import csv
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from tests.conftest import field

CSV = (
    "Mobile;Vorname;Nachname;Firma;Zeitzone\n"
    "(202) 555-0101;Ada;Lovelace;Analytical Engines;America/New_York\n"  # line 2
    '=HYPERLINK("http://evil");Mallory;X;Evil;\n'  # line 3: not a number (and a formula)
    "\n"
    "+1 202 555 0101;Ada;Again;Analytical Engines;\n"  # line 5: same as line 2
    '+44 20 7946 0123;Grace;"Hopper; Jr";"Compilers\nInc";Europe/London\n'  # lines 6-7
    "+12025550102;Alan;Turing;Bletchley;Mars/Base\n"  # line 8: no such time zone
)


def log_in(page: Page, url: str, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_upload_map_consent_progress_and_rejected_rows(live, page: Page, user, run_jobs):
    from campaigns.models import ContactList

    url = live.url
    log_in(page, url, user)

    # 1. Upload: a PNG is refused in place, then the CSV goes through.
    page.goto(url + "/contacts/")
    page.get_by_role("main").get_by_role("button", name="Upload CSV").click()
    expect(page).to_have_url(url + "/contacts/upload/")
    field(page, "CSV file").set_input_files(
        files=[{"name": "logo.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n" + b"\x00" * 32}]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#id_file-errors")).to_contain_text("“logo.png” is a PNG image, not a CSV file.")
    field(page, "CSV file").set_input_files(
        files=[{"name": "Berlin leads.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    page.get_by_role("button", name="Upload", exact=True).click()

    # 2. Map: the file as read, the renamed headers chosen by hand, consent required.
    expect(page).to_have_url(re.compile(r"/contacts/\d+/map/$"))
    expect(page.get_by_test_id("file-summary")).to_contain_text("UTF-8 text, semicolon-separated, 5 columns")
    expect(page.get_by_test_id("file-preview").locator("thead th")).to_have_text(
        ["Mobile", "Vorname", "Nachname", "Firma", "Zeitzone"]
    )
    expect(field(page, "Phone number")).to_have_value("Mobile")  # guessed from the header
    variables = page.get_by_test_id("variable-columns")
    expect(variables.get_by_label("Vorname", exact=True)).to_be_enabled()
    field(page, "First name").select_option("Vorname")
    field(page, "Last name").select_option("Nachname")
    field(page, "Time zone").select_option("Zeitzone")
    # A column chosen as a field is no variable: its row says so and cannot be ticked.
    for column in ("Mobile", "Vorname", "Nachname", "Zeitzone"):
        row = variables.locator(f"[data-column='{column}']")
        expect(row.get_by_label(column, exact=True)).to_be_disabled()
        expect(row.get_by_text("Used as a field above, not a variable.")).to_be_visible()
    # Each ticked column shows the variable it becomes, with a value from the file; the name can change.
    expect(variables.get_by_label("Firma", exact=True)).to_be_checked()
    firma = variables.get_by_label("Variable name for Firma")
    expect(firma).to_have_value("firma")
    expect(variables.locator("[data-column='Firma']")).to_contain_text("e.g. “Analytical Engines”")
    firma.fill("Company Name")
    field(page, "List name").fill("Berlin leads")
    field(page, "List tags").fill("spring, berlin")
    consent = page.get_by_label(re.compile(r"I confirm I have consent to call these people"))
    # The browser itself refuses the form without consent (the field is required).
    page.get_by_role("button", name="Import contacts").click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+/map/$"))
    assert page.evaluate("document.querySelector('#id_consent').validity.valueMissing") is True
    consent.check()
    page.get_by_role("button", name="Import contacts").click()
    # A name the agent's lines could not use is refused next to it, and the page keeps the choices.
    expect(page.locator("#id_variable_name_3-errors")).to_contain_text(
        "“Company Name” cannot be a variable name: use lower-case letters, digits and _, starting with a letter "
        "(such as company_name)."
    )
    expect(field(page, "First name")).to_have_value("Vorname")
    expect(page.get_by_test_id("variable-columns").get_by_label("Vorname", exact=True)).to_be_disabled()
    page.get_by_test_id("variable-columns").get_by_label("Variable name for Firma").fill("company")
    page.get_by_role("button", name="Import contacts").click()

    # 3. Progress: waiting for a worker, then the worker runs and the poll brings the result in.
    expect(page).to_have_url(re.compile(r"/contacts/\d+/import/$"))
    status = page.get_by_test_id("import-status")
    expect(status).to_have_text("Waiting to import")
    page.evaluate("window.stillThisPage = true")

    run_jobs()

    expect(status).to_have_text("Imported", timeout=5_000)
    expect(page.get_by_test_id("import-progress")).to_have_attribute("value", "100")
    expect(page.get_by_test_id("rows-imported")).to_have_text("2")
    expect(page.get_by_test_id("rows-rejected")).to_have_text("3")
    summary = page.get_by_test_id("import-summary")
    expect(summary).to_contain_text("2 contacts imported into “Berlin leads”; 3 rows not imported.")
    expect(summary).to_contain_text("+12025550101 already appears on line 2")
    expect(summary).to_contain_text("'Mars/Base' is not a time zone")
    assert page.evaluate("window.stillThisPage") is True  # no reload

    with page.expect_download() as download_info:
        page.get_by_test_id("rejections-download").click()
    download = download_info.value
    assert download.suggested_filename.startswith("rejected-rows-berlin-leads-")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["line", "value", "reason"]
    assert [r[0] for r in rows[1:]] == ["3", "5", "8"]
    assert rows[1][1] == '\'=HYPERLINK("http://evil")'  # a spreadsheet shows it as text

    # The list: consent recorded, the contacts as mapped.
    page.get_by_test_id("view-list").click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+/$"))
    table = page.get_by_test_id("contacts")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(1)).to_contain_text("Hopper; Jr")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("Europe/London")
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    assert contact_list.consent_confirmed_by == user and contact_list.tags == ["spring", "berlin"]
    assert contact_list.contacts.get(first_name="Grace").variables == {"company": "Compilers\nInc"}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_variable_names_fit_and_work_on_a_phone(live, browser, user):
    """At 390×844 each column's variable row stacks: the column, its {{name}} field and a sample,
    with nothing wider than the screen; the script that switches off field columns still runs."""
    from campaigns.contacts.importing import contact_upload_create

    contact_list = contact_upload_create(
        workspace=user.personal_workspace,
        filename="leads.csv",
        data=b"Phone,Full name,Company (Org),A rather long column header for notes\n+12025550101,Ann Lee,Acme,x\n",
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US", timezone_id="UTC")
    try:
        page = context.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        log_in(page, live.url, user)
        page.goto(f"{live.url}/contacts/{contact_list.pk}/map/")

        variables = page.get_by_test_id("variable-columns")
        expect(page.locator("#id_full_name")).to_have_value("Full name")  # "Ann Lee" is split, not a variable
        expect(variables.get_by_label("Full name", exact=True)).to_be_disabled()
        name = variables.get_by_label("Variable name for Company (Org)")
        expect(name).to_have_value("company")
        name.scroll_into_view_if_needed()
        box = name.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert errors == []
    finally:
        context.close()
