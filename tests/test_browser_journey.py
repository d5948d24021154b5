"""The first-run journey in a real browser: sign up (the mobile and the email address verified by
their codes), create an agent, upload a CSV, launch a campaign, let the worker run, see completed
calls with transcripts and the balance reduced by exactly the seconds billed.

The simulated carrier is an RQ job that posts signed webhooks to PUBLIC_BASE_URL, so the app is
served by `live_server` and the queued jobs run in this process (`run_jobs`) after Launch.
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from tests.conftest import NewAccount, field

INTERESTED = "+12025550101"
NOT_INTERESTED = "+12025550121"
NO_ANSWER = "+12025550171"
EMAIL = "ada@example.com"
PASSWORD = "a long and unusual passphrase 42"
STARTER_CREDITS = 100
MAX_CALL_SECONDS = 40

# Line 1 is the header. Line 5 is malformed, line 6 repeats line 2's number (written differently).
CSV = f"""phone,first_name,last_name,company
{INTERESTED},Ada,Lovelace,Analytical Engines
{NOT_INTERESTED},Grace,Hopper,Compilers Inc
{NO_ANSWER},Alan,Turing,Bletchley
12ab,Broken,Row,Nowhere
(202) 555-0101,Ada,Again,Analytical Engines
"""

SCREENSHOTS = Path("/tmp")


def fill_agent_form(page: Page, *, max_call_seconds: int) -> None:
    field(page, "Name").fill("Ada's sales assistant")
    field(page, "Language").select_option("en-US")
    field(page, "Voice").select_option("Polly.Joanna")
    field(page, "Opening line").fill("Hi {{first_name}}, this is Sam from Acme, an AI assistant.")
    field(page, "Questions").fill("Are you the person who handles scheduling?\nHow many people are on your team?")
    field(page, "Answers").fill("price, cost | Plans start at 49 dollars a month.")
    field(page, "Closing line").fill("Thanks {{first_name}}, we will send you the details. Goodbye!")
    field(page, "Voicemail message").fill("Hi {{first_name}}, Sam from Acme here.")
    field(page, "Maximum call length (seconds)").fill(str(max_call_seconds))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_first_campaign_journey(live, page: Page, sign_up, run_jobs):
    from campaigns.models import Agent, Call

    url = live.url

    # 1. Landing page → sign up → dashboard with the starter credits.
    page.goto(url + "/")
    expect(page).to_have_title(re.compile(r"^AI agents that make your outbound calls · Clozit$"))
    page.get_by_test_id("nav-signup").click()
    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    # The form, the code texted to the mobile, then the code emailed (see tests/conftest.py).
    sign_up(page, url, NewAccount(email=EMAIL, password=PASSWORD, company="Acme"))
    expect(page).to_have_url(url + "/dashboard/")
    expect(page.get_by_test_id("balance")).to_have_text(str(STARTER_CREDITS))

    # 2-3. An agent: first an invalid call length is refused in place, then it saves.
    page.get_by_test_id("nav-agents").click()
    page.get_by_role("main").get_by_role("button", name="New agent").click()
    expect(page).to_have_url(url + "/agents/new/")
    fill_agent_form(page, max_call_seconds=5)
    page.get_by_role("button", name="Save agent").click()
    expect(page).to_have_url(url + "/agents/new/")
    expect(page.locator("#id_max_call_seconds-errors")).to_have_text(
        "Choose between 15 seconds and one hour (3600 seconds)."
    )
    expect(field(page, "Opening line")).to_have_value("Hi {{first_name}}, this is Sam from Acme, an AI assistant.")
    field(page, "Maximum call length (seconds)").fill(str(MAX_CALL_SECONDS))
    page.get_by_role("button", name="Save agent").click()
    expect(page).to_have_url(url + "/agents/")
    expect(page.get_by_role("alert")).to_contain_text("Agent “Ada's sales assistant” saved.")
    # The refused submission saved nothing.
    assert Agent.objects.filter(workspace__personal_for__email=EMAIL).count() == 1

    # 4. Contacts: upload, choose the columns, confirm consent; the worker imports three, and the
    #    malformed row and the duplicate are reported by line.
    page.get_by_test_id("nav-contacts").click()
    page.get_by_role("main").get_by_role("button", name="Upload CSV").click()
    expect(page).to_have_url(url + "/contacts/upload/")
    field(page, "CSV file").set_input_files(
        files=[{"name": "leads.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+/map/$"))
    expect(field(page, "Phone number")).to_have_value("phone")  # guessed from the header
    field(page, "List name").fill("Spring leads")
    page.get_by_label(re.compile("I confirm I have consent to call these people")).check()
    page.get_by_role("button", name="Import contacts").click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+/import/$"))
    run_jobs()
    summary = page.get_by_test_id("import-summary")  # brought in by the page's poll
    expect(summary).to_contain_text("3 contacts imported into “Spring leads”; 2 rows not imported.")
    expect(summary).to_contain_text("'12ab' is not a phone number")
    expect(summary).to_contain_text(f"{INTERESTED} already appears on line 2")
    page.get_by_test_id("view-list").click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+/$"))
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text(INTERESTED)
    expect(rows.nth(0)).to_contain_text("Ada")

    # 5. A campaign, launched; the worker runs every call; the page updates itself.
    page.get_by_test_id("nav-campaigns").click()
    page.get_by_role("main").get_by_role("button", name="New campaign").click()
    expect(page).to_have_url(url + "/campaigns/new/")
    field(page, "Name").fill("Spring outreach")
    field(page, "Why you are calling").fill("Telling our leads about the spring offer")
    field(page, "Agent").select_option(label="Ada's sales assistant")
    field(page, "Contact list").select_option(label="Spring leads")
    expect(field(page, "Caller number")).to_have_value(settings.DEFAULT_CALLER_ID)  # the shared number
    field(page, "Calls at the same time").fill("1")
    page.get_by_label("No answer").uncheck()  # this journey ends when every contact was called once
    page.get_by_label("Busy").uncheck()
    page.get_by_role("button", name="Create campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/$"))
    status = page.get_by_test_id("campaign-status")
    expect(status).to_have_text("Draft")
    page.get_by_role("button", name="Launch campaign").click()
    expect(page.get_by_role("alert")).to_contain_text("Campaign launched")
    expect(status).to_have_text("Running")
    campaign_url = page.url

    run_jobs()

    # No reload: the htmx poll (every 2 s) brings the result in.
    expect(status).to_have_text("Completed", timeout=6_000)
    expect(page.get_by_test_id("count-completed")).to_have_text("2")
    expect(page.get_by_test_id("count-failed")).to_have_text("1")
    expect(page.get_by_role("button", name="Launch campaign")).to_have_count(0)
    call_rows = page.locator("#campaign-live table tbody tr")
    expect(call_rows).to_have_count(3)

    calls = {c.to_number: c for c in Call.objects.filter(workspace__personal_for__email=EMAIL)}
    assert set(calls) == {INTERESTED, NOT_INTERESTED, NO_ANSWER}
    assert calls[INTERESTED].status == Call.Status.COMPLETED
    assert calls[NOT_INTERESTED].status == Call.Status.COMPLETED
    assert calls[NO_ANSWER].status == Call.Status.NO_ANSWER
    billed = sum(c.duration_seconds for c in calls.values())
    assert 0 < calls[INTERESTED].duration_seconds <= MAX_CALL_SECONDS
    assert 0 < calls[NOT_INTERESTED].duration_seconds <= MAX_CALL_SECONDS
    assert calls[NO_ANSWER].duration_seconds == 0
    for call in calls.values():
        assert call.credits_charged == Decimal(call.duration_seconds)
    expect(page.get_by_test_id("credits-spent")).to_have_text(str(billed))

    # 6. The interested call: outcome, duration, cost and a transcript with the name filled in.
    interested = calls[INTERESTED]
    page.locator("#campaign-live table tbody tr", has_text=INTERESTED).get_by_role("link").click()
    expect(page).to_have_url(f"{url}/calls/{interested.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Call to Ada Lovelace")
    expect(page.get_by_test_id("call-outcome")).to_have_text("Interested")
    expect(page.get_by_test_id("call-duration")).to_have_text(f"{interested.duration_seconds} s")
    expect(page.get_by_test_id("call-cost")).to_have_text(f"{interested.duration_seconds} credits")
    # The interested callee answers both questions: agent and callee take turns, the agent closes.
    turns = page.get_by_test_id("transcript").locator(".turn")
    expect(turns).to_have_count(5)
    speakers = ["agent", "callee", "agent", "callee", "agent"]
    for i, speaker in enumerate(speakers):
        expect(turns.nth(i)).to_have_class(f"turn turn-{speaker}")
    expect(turns.first).to_contain_text("Hi Ada, this is Sam from Acme, an AI assistant.")
    expect(turns.last).to_contain_text("Thanks Ada, we will send you the details. Goodbye!")
    expect(page.get_by_test_id("transcript")).not_to_contain_text("{{")
    page.screenshot(path=str(SCREENSHOTS / "journey-call.png"), full_page=True)

    # 7. Balance down by exactly the seconds billed, on the dashboard and in the ledger.
    page.get_by_test_id("nav-dashboard").click()
    expect(page.get_by_test_id("balance")).to_have_text(str(STARTER_CREDITS - billed))
    page.screenshot(path=str(SCREENSHOTS / "journey-dashboard.png"), full_page=True)
    page.get_by_test_id("nav-credits").click()
    expect(page.get_by_test_id("balance")).to_have_text(str(STARTER_CREDITS - billed))
    ledger_rows = page.locator("table tbody tr")
    expect(ledger_rows.filter(has_text="Call usage")).to_have_count(2)
    expect(ledger_rows.filter(has_text="Starter credits")).to_have_count(1)

    # The finished campaign as a returning user sees it (no flash message): the README picture.
    page.goto(campaign_url)
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed")
    expect(page.locator("#campaign-live table tbody tr")).to_have_count(3)
    page.screenshot(path=str(SCREENSHOTS / "journey-campaign.png"), full_page=True)
