"""The agent playground in a real browser: open an agent's playground from the agent list, start
a conversation, answer the agent and see its reply and the outcome panel update in place (htmx,
no page load).

The account is logged in by its session cookie (the sign-up and log-in journeys have their own
tests); the scripted engine runs the agent, so no AI model is involved and nothing is charged.
"""

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

Q1 = "Are you the person who handles scheduling?"
Q2 = "How many people are on your team?"


def log_in(page: Page, url: str, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_talk_to_an_agent_in_the_playground(live, page: Page, user):
    from campaigns.models import DoNotCall, PlaygroundSession
    from campaigns.tests.factories import make_agent

    url = live.url
    agent = make_agent(user, name="Sam", ai_disclosure="Just so you know, I'm an AI assistant.")
    log_in(page, url, user)

    # The agent list links to the playground.
    page.goto(url + "/agents/")
    page.get_by_test_id("agent-playground").click()
    expect(page).to_have_url(f"{url}/agents/{agent.pk}/playground/")
    expect(page.get_by_test_id("playground-engine")).to_have_text("Scripted (no AI model)")
    expect(page.get_by_test_id("playground-empty")).to_be_visible()

    # Start with a contact of one's own choosing.
    page.get_by_label("First name").fill("Bea")
    page.get_by_test_id("playground-start").click()
    expect(page).to_have_url(f"{url}/agents/{agent.pk}/playground/")
    transcript = page.get_by_test_id("playground-transcript")
    expect(transcript.get_by_test_id("turn-agent")).to_have_count(1)
    expect(transcript).to_contain_text(f"Just so you know, I'm an AI assistant. Hi Bea, this is Sam from Acme. {Q1}")
    expect(page.get_by_test_id("playground-outcome")).to_have_text("—")
    expect(page.get_by_test_id("playground-captured-empty")).to_be_visible()

    # Answers go out and come back without a page load: a marker on the window survives.
    page.evaluate("window.stillThisPage = true")
    page.get_by_label("You say").fill("Yes, that's me.")
    page.get_by_test_id("playground-send").click()
    expect(transcript.get_by_test_id("turn-agent").last).to_contain_text(f"Thank you. {Q2}")
    expect(transcript.get_by_test_id("turn-callee")).to_have_text(re.compile(r"You\s+Yes, that's me\."))
    captured = page.get_by_test_id("playground-captured")
    expect(captured).to_contain_text(Q1)
    expect(captured).to_contain_text("Yes, that's me.")
    expect(page.get_by_label("You say")).to_have_value("")

    page.get_by_label("You say").fill("About twelve of us")
    page.get_by_label("You say").press("Enter")
    expect(transcript.get_by_test_id("turn-agent").last).to_contain_text(
        "Thanks Bea, we will send you the details. Goodbye!"
    )
    expect(page.get_by_test_id("playground-outcome")).to_have_text("Interested")
    expect(page.get_by_test_id("playground-status")).to_have_text("Ended")
    expect(page.get_by_test_id("playground-credits")).to_have_text("0")
    expect(page.get_by_test_id("playground-notice")).to_have_text("The agent would hang up here.")
    expect(page.get_by_test_id("playground-ended")).to_contain_text("The call is over.")
    expect(captured.locator("tbody tr")).to_have_count(2)
    assert page.evaluate("window.stillThisPage") is True

    # Start again: the same contact, from the agent's first words (a normal form post).
    page.get_by_role("button", name="Start again").click()
    expect(transcript.get_by_test_id("turn-agent")).to_have_count(1)
    expect(page.get_by_test_id("playground-outcome")).to_have_text("—")

    assert PlaygroundSession.objects.filter(agent=agent).count() == 2
    assert not DoNotCall.objects.exists()
