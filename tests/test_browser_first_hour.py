"""The first hour of a new customer, in a real browser, at desktop and at phone size.

Someone who has never seen Clozit signs up (100 welcome credits), builds an agent whose calls may
last four minutes, imports a messy CSV (a BOM, semicolons, a "Full name" column, a column named
"Company (Org)", a malformed row and a repeated number), launches, and ends with a finished
campaign. Every number, captured answer and message on the way must be true: the test fails if
any of the false messages a first customer once met comes back (a pause for credits while credits
remain, answers filed under the wrong question, knowledge passages claimed where none was used,
an apostrophe in front of every exported number, an empty player for a call with no audio).

With CLOZIT_SCREENSHOTS set to a folder (e.g. docs/screenshots), the key pages are saved there:
that is how the screenshots in docs/ are refreshed.
"""

import csv
import io
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.template.defaultfilters import floatformat
from playwright.sync_api import Page, expect

from tests.conftest import NewAccount, field

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

ADA = "+12025550101"  # interested
GRACE = "+12025550110"  # interested, and asks a question of her own before her second answer
EDSGER = "+12025550121"  # not interested
ALAN = "+12025550171"  # no answer
STARTER_CREDITS = 100
MAX_CALL_SECONDS = 240  # more than the welcome credits: each call holds what the balance allows

Q_WHO = "Are you the person who handles scheduling?"
Q_TEAM = "How many people are on your team?"

# Lines: 1 header, 2-5 good, 6 malformed, 7 repeats line 2's number written another way.
MESSY_CSV = (
    "\ufeffFull name;Mobile;Company (Org);Notes\n"
    '"Lovelace, Ada";(202) 555-0101;Analytical Engines;likes tea\n'
    "Grace Hopper;+1 202 555 0110;Compilers Inc;\n"
    "Edsger Dijkstra;202-555-0121;Structured Ltd;\n"
    "Alan Turing;+1 (202) 555-0171;Bletchley;\n"
    "Broken Row;12ab;Nowhere;\n"
    "Ada Again;+12025550101;Analytical Engines;\n"
)

# What a first customer must never be told again (issue: "the first hour of a new customer").
FALSE_MESSAGES = [
    "credits ran out",
    "Paused: the account is suspended",
    "This account is inactive",
    "knowledge passage",  # no agent here has a knowledge base
    "{{",  # a variable left unfilled
]


def shots_folder() -> Path | None:
    folder = os.environ.get("CLOZIT_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shot(page: Page, name: str, size: str) -> None:
    folder = shots_folder()
    if folder is not None:
        page.screenshot(path=str(folder / f"{name}-{size}.png"), full_page=True)


def no_false_message(page: Page) -> None:
    text = page.locator("body").inner_text()
    for words in FALSE_MESSAGES:
        assert words not in text, f"the page says “{words}”:\n{text[:2000]}"


def go(page: Page, testid: str) -> None:
    """Follow a link of the site's navigation, through the Menu button where the screen folds it."""
    menu = page.get_by_test_id("nav-menu")
    if menu.is_visible():
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
    page.get_by_test_id(testid).click()


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"the page scrolls sideways: {width} px"


def build_agent(page: Page) -> None:
    field(page, "Name").fill("Riley")
    field(page, "Language").select_option("en-US")
    field(page, "Opening line").fill("Hi {{first_name}}, this is Riley calling for {{company|your company}}.")
    field(page, "Questions").fill(f"{Q_WHO}\n{Q_TEAM}")
    field(page, "Answers").fill("price, cost | Plans start at 49 dollars a month.")
    field(page, "Closing line").fill("Thanks {{first_name}}, we will send you the details. Goodbye!")
    field(page, "Voicemail message").fill("Hi {{first_name}}, Riley here. We'll call again soon.")
    field(page, "Maximum call length (seconds)").fill(str(MAX_CALL_SECONDS))
    page.get_by_role("button", name="Save agent").click()
    expect(page.get_by_role("alert").first).to_contain_text("Agent “Riley” saved.")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_new_customers_first_hour_ends_with_a_finished_campaign_whose_every_number_is_true(
    live, new_page, sign_up, run_jobs, size
):
    from billing import ledger
    from campaigns.models import Call, Campaign

    url = live.url
    page = new_page()
    page.set_viewport_size(DESKTOP if size == "desktop" else PHONE)

    # 1. Sign up: the welcome credits on the dashboard.
    page.goto(url + "/accounts/signup/")
    account = sign_up(page, url, NewAccount(email=f"riley-{size}@example.com", company="Riley Dental"))
    expect(page.get_by_test_id("balance")).to_have_text(str(STARTER_CREDITS))
    no_sideways_scroll(page)

    # 2. An agent whose calls may last longer than the credits pay for.
    go(page, "nav-agents")
    page.get_by_role("main").get_by_role("button", name="New agent").click()
    build_agent(page)

    # 3. A messy CSV: columns chosen, each variable's name shown before the import.
    go(page, "nav-contacts")
    page.get_by_role("main").get_by_role("button", name="Upload CSV").click()
    field(page, "CSV file").set_input_files(
        files=[{"name": "patients (export).csv", "mimeType": "text/csv", "buffer": MESSY_CSV.encode()}]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+/map/$"))
    expect(page.get_by_test_id("file-summary")).to_contain_text("semicolon-separated, 4 columns")
    expect(field(page, "Phone number")).to_have_value("Mobile")
    page.locator("#id_full_name").select_option("Full name")
    company = page.get_by_test_id("variable-columns").get_by_label("Variable name for Company (Org)")
    expect(company).to_have_value("company")  # what the agent's {{company}} will read
    field(page, "List name").fill("Patients")
    page.get_by_label(re.compile("I confirm I have consent to call these people")).check()
    shot(page, "contacts-mapping", size)
    page.get_by_role("button", name="Import contacts").click()
    run_jobs()
    summary = page.get_by_test_id("import-summary")
    expect(summary).to_contain_text("4 contacts imported into “Patients”; 2 rows not imported.")
    expect(summary).to_contain_text("'12ab' is not a phone number")
    expect(summary).to_contain_text(f"{ADA} already appears on line 2")

    # 4. A campaign calling two at a time, launched.
    go(page, "nav-campaigns")
    page.get_by_role("main").get_by_role("button", name="New campaign").click()
    field(page, "Name").fill("Check-up reminders")
    field(page, "Why you are calling").fill("Reminding patients of their dental check-up")
    field(page, "Agent").select_option(label="Riley")
    field(page, "Contact list").select_option(label="Patients")
    field(page, "Calls at the same time").fill("2")
    page.get_by_label("No answer").uncheck()  # every contact is called once
    page.get_by_label("Busy").uncheck()
    page.get_by_role("button", name="Create campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/$"))
    campaign_url = page.url
    status = page.get_by_test_id("campaign-status")
    expect(status).to_have_text("Draft")
    page.get_by_role("button", name="Launch campaign").click()
    expect(status).to_have_text("Running")

    run_jobs()

    # 5. Finished: never paused for credits it had, every number on the page the ledger's.
    expect(status).to_have_text("Completed", timeout=8_000)
    campaign = Campaign.objects.get(workspace__personal_for__email=account.email)
    assert campaign.status == Campaign.Status.COMPLETED and campaign.status_reason == ""
    calls = {c.to_number: c for c in Call.objects.filter(campaign=campaign)}
    assert set(calls) == {ADA, GRACE, EDSGER, ALAN}
    billed = sum(c.duration_seconds for c in calls.values())
    for call in calls.values():
        assert call.credits_charged == Decimal(call.duration_seconds)
        if call.answered_at is not None:  # the record agrees with the seconds billed
            assert round((call.ended_at - call.answered_at).total_seconds()) == call.duration_seconds
    expect(page.get_by_test_id("credits-spent")).to_have_text(str(billed))
    expect(page.get_by_test_id("stats-calls")).to_have_text("4", timeout=8_000)  # the results panel's own poll
    no_false_message(page)
    no_sideways_scroll(page)
    shot(page, "campaign", size)

    # 6. The interested callee's call: the company from the CSV said, each answer under its question.
    ada = calls[ADA]
    page.goto(f"{url}/calls/{ada.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Call to Ada Lovelace")
    expect(page.get_by_test_id("call-outcome")).to_have_text("Interested")
    transcript = page.get_by_test_id("transcript")
    expect(transcript.locator(".turn").first).to_contain_text("Hi Ada, this is Riley calling for Analytical Engines.")
    captured = dict(ada.captured)
    assert re.search(r"\b(me|look after|decide)\b", captured[Q_WHO]), captured
    assert re.search(r"\b(people|of us|five)\b", captured[Q_TEAM]), captured
    answers = page.locator("dl.captured")
    expect(answers.locator("dt")).to_have_text([Q_WHO, Q_TEAM])
    expect(answers.locator("dd")).to_have_text([captured[Q_WHO], captured[Q_TEAM]])
    # A callee who asks something off the script still has each answer under its own question.
    grace = dict(calls[GRACE].captured)
    assert re.search(r"\b(me|look after|decide)\b", grace[Q_WHO]), grace
    assert re.search(r"\b(people|of us|five)\b", grace[Q_TEAM]), grace
    expect(page.get_by_test_id("no-recording")).to_contain_text("No recording")
    expect(page.locator("audio")).to_have_count(0)
    no_false_message(page)
    no_sideways_scroll(page)
    shot(page, "call", size)

    # 7. The list's export gives the numbers back exactly, for a CRM or a script.
    contact_list = campaign.contact_list
    exported = page.request.get(f"{url}/contacts/{contact_list.pk}/export.csv")
    assert exported.ok
    rows = list(csv.DictReader(io.StringIO(exported.text().lstrip("\ufeff"))))
    numbers = {row["phone"] for row in rows}
    assert numbers == {ADA, GRACE, EDSGER, ALAN}, numbers  # no apostrophe in front

    # 8. Analytics count the interested calls as successes; the dashboard shows the true balance.
    go(page, "nav-analytics")
    expect(page.get_by_test_id("total-calls")).to_have_text("4")
    expect(page.get_by_test_id("total-positive")).to_have_text("2")
    no_sideways_scroll(page)
    shot(page, "analytics", size)
    go(page, "nav-dashboard")
    balance = ledger.balance_of(workspace=campaign.workspace).balance
    assert balance == STARTER_CREDITS - billed
    expect(page.get_by_test_id("balance")).to_have_text(floatformat(balance, "-2"))  # as the page writes it
    no_false_message(page)
    shot(page, "dashboard", size)

    page.goto(campaign_url)  # the README's picture: the finished campaign, no flash message
    expect(status).to_have_text("Completed")
    if size == "desktop" and shots_folder() is not None:
        page.screenshot(path=str(shots_folder().parent / "screenshot.png"), full_page=True)
