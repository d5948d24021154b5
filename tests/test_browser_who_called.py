"""A person called by a Clozit customer, on their phone and on a computer: finds out who called
and why, stops that business calling, reports the call; and a script trying number after number
is stopped by the page's limit."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Workspace
from campaigns.models import DoNotCall
from campaigns.tests.factories import make_campaign
from safety.models import Report
from safety.tests.helpers import CALLEE, placed_call

from .conftest import field

SCREENSHOTS = Path("/tmp")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def public_page(browser, viewport) -> Page:
    """A page in a fresh context (nobody signed in). Console errors and failed requests are
    collected on `page.problems`; the page's own 429 (the limit, tested) is expected, not a problem."""
    context = browser.new_context(viewport=viewport, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    # Chromium logs the page's 429 on its console too: that one is expected as well.
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "status of 429" not in m.text else None,
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def on_response(response):
        if response.status >= 400 and not (response.status == 429 and "/who-called/" in response.url):
            problems.append(f"HTTP {response.status} {response.url}")

    page.on("response", on_response)
    page.problems = problems
    return page


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{page.url} scrolls sideways"


def look_up(page: Page, caller: str, callee: str) -> None:
    field(page, "The number that called you").fill(caller)
    field(page, "Your own number").fill(callee)
    page.get_by_role("button", name="Look up the call").click()


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_person_finds_out_who_called_opts_out_and_reports_it(live, browser, user, viewport):
    Workspace.objects.filter(pk=user.personal_workspace.pk).update(company_name="Acme Dental")
    campaign = make_campaign(user, [CALLEE])
    call = placed_call(campaign, days_ago=1)
    page = public_page(browser, viewport)

    page.goto(live.url + "/")
    page.get_by_test_id("landing-who-called").get_by_role("link", name="Who called me?").click()
    expect(page).to_have_url(live.url + "/who-called/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Who called me?")
    no_sideways_scroll(page)

    look_up(page, "(415) 555-0000", "415-555-0199")  # as a phone shows them, not E.164

    match = page.get_by_test_id("who-called-match")
    expect(match.get_by_role("heading", level=2)).to_have_text("Acme Dental")
    expect(match).to_contain_text("Why they called: “Inviting customers to our spring sale”")
    no_sideways_scroll(page)
    page.screenshot(
        path=str(SCREENSHOTS / f"who-called-{viewport['width']}.png"), full_page=True, animations="disabled"
    )

    match.get_by_role("button", name="Stop Acme Dental calling me").click()
    expect(page.get_by_test_id("who-called-done")).to_have_text(
        "Done. Acme Dental will not call your number again through Clozit."
    )
    assert DoNotCall.objects.get(phone_number=CALLEE).workspace_id == campaign.workspace_id

    page.get_by_text("Report this call").click()
    page.get_by_label("Harassment or abuse").check()
    field(page, "What happened").fill("They called three times at dinner and would not stop.")
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_test_id("who-called-done")).to_contain_text("Your report reached our staff")
    no_sideways_scroll(page)
    report = Report.objects.get()
    assert (report.call_id, report.reason, report.status) == (call.pk, "harassment", "open")
    assert report.text == "They called three times at dinner and would not stop."
    assert page.problems == []


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_trying_number_after_number_meets_the_limit(live, browser, user, settings, viewport):
    settings.SAFETY_LOOKUPS_PER_IP = 4
    campaign = make_campaign(user, [CALLEE])
    placed_call(campaign)
    page = public_page(browser, viewport)
    page.goto(live.url + "/who-called/")

    # Someone who knows the callee's number guessing which business called: every wrong guess
    # gets the same "no call" answer, then the limit.
    for guess in range(4):
        look_up(page, f"+1415555011{guess}", CALLEE)
        expect(page.get_by_test_id("who-called-none")).to_contain_text("We found no call from that number to yours")

    look_up(page, "+14155550000", CALLEE)  # the right guess, too late

    expect(page.get_by_test_id("who-called-limited")).to_contain_text("Too many look-ups")
    expect(page.get_by_test_id("who-called-match")).to_have_count(0)
    expect(page.get_by_role("main")).not_to_contain_text("Inviting customers")
    no_sideways_scroll(page)
    assert page.problems == []
