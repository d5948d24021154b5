"""An agent's own outcome as its goal, in a real browser: the builder gives each outcome what it
counts as (positive, neutral, negative), refuses a new one without it and keeps what was typed,
and the analytics page counts the agent's positive outcome as success. At desktop and phone size.

The account is logged in by its session cookie; the calls are written straight to the database.
"""

from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def log_in(page: Page, url: str, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


def row(page: Page, number: int):
    return page.get_by_role("group", name=f"Outcome {number}", exact=True)


def fits_the_screen(page: Page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_an_agents_own_positive_outcome_counts_as_success(live, new_page, user, size):
    from campaigns.models import Call
    from campaigns.tests.factories import make_agent, make_campaign

    url = live.url
    page = new_page()
    page.set_viewport_size(VIEWPORTS[size])
    agent = make_agent(user, name="Survey caller")
    log_in(page, url, user)

    # The builder: the platform's outcomes with their kinds, one blank row, a button for more.
    page.goto(f"{url}/agents/{agent.pk}/")
    expect(row(page, 1).get_by_label("Outcome 1: name")).to_have_value("interested")
    expect(row(page, 1).get_by_label("Outcome 1: counts as")).to_have_value("positive")
    expect(row(page, 2).get_by_label("Outcome 2: counts as")).to_have_value("negative")
    expect(row(page, 6)).to_be_visible()
    expect(row(page, 7)).to_be_hidden()
    if size == "phone":
        expect(row(page, 6).get_by_text("Counts as")).to_be_visible()  # each input captioned
        assert fits_the_screen(page)
    else:
        expect(row(page, 6).get_by_text("Counts as")).to_be_hidden()  # the column headings say it

    row(page, 6).get_by_label("Outcome 6: name").fill("Survey booked")
    row(page, 6).get_by_label("Outcome 6: counts as").select_option("positive")
    row(page, 6).get_by_label("Outcome 6: what it means").fill("Agreed to take the survey")
    page.get_by_role("button", name="Add another outcome").click()
    expect(row(page, 7)).to_be_visible()
    expect(row(page, 7).get_by_label("Outcome 7: name")).to_be_focused()
    page.keyboard.type("Info sent")

    # Saved without saying what "Info sent" counts as: refused in place, nothing typed is lost.
    page.get_by_role("button", name="Save agent").click()
    expect(page.locator("#id_outcomes-errors")).to_have_text(
        "Choose whether “info_sent” counts as positive, neutral or negative."
    )
    expect(row(page, 6).get_by_label("Outcome 6: name")).to_have_value("Survey booked")
    expect(row(page, 6).get_by_label("Outcome 6: counts as")).to_have_value("positive")
    expect(row(page, 7).get_by_label("Outcome 7: name")).to_have_value("Info sent")
    row(page, 7).get_by_label("Outcome 7: counts as").select_option("neutral")
    page.get_by_role("button", name="Save agent").click()
    expect(page).to_have_url(f"{url}/agents/")
    agent.refresh_from_db()
    assert agent.outcomes[-2:] == [
        {"name": "survey_booked", "description": "Agreed to take the survey", "kind": "positive"},
        {"name": "info_sent", "description": "", "kind": "neutral"},
    ]

    # Its calls: the agent's own positive outcome is a success on the analytics page.
    campaign = make_campaign(user, ["+12025550101"])
    campaign.agent = agent
    campaign.save(update_fields=["agent"])
    for outcome in ("survey_booked", "survey_booked", "info_sent", "not_interested"):
        Call.objects.create(
            workspace=user.personal_workspace,
            campaign=campaign,
            agent=agent,
            to_number="+12025550101",
            from_number=campaign.caller_number,
            provider="simulated",
            status="completed",
            answered_by="human",
            outcome=outcome,
            credits_charged=Decimal(2),
        )
    page.goto(f"{url}/analytics/")
    expect(page.get_by_test_id("total-success-rate")).to_have_text("50.0%")
    expect(page.get_by_test_id("total-positive")).to_have_text("2")
    expect(page.get_by_test_id("total-cost-per-positive")).to_have_text("4")
    outcomes = page.get_by_test_id("analytics-outcomes")
    expect(outcomes.get_by_role("row", name="Survey booked Positive 2 50%")).to_be_visible()
    expect(outcomes.get_by_role("row", name="Info sent Neutral 1 25%")).to_be_visible()
    if size == "phone":
        assert page.evaluate(
            "() => document.querySelector('[data-testid=analytics-totals]').scrollWidth <= window.innerWidth"
        )
