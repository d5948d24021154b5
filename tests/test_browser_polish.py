"""What a new customer sees in their first hour, in a real Chromium at desktop and phone size:
checkboxes whose help does not cover them, a menu instead of rows of links on a phone, tables
that keep each row's status and actions in view, numbers that do not wrap, flash messages that
can be dismissed and do not contradict the live state, and errors shown where the person is
looking."""

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def logged_in_page(browser, url: str, user, viewport=DESKTOP) -> Page:
    """A page in a new browser context, signed in as `user` (the session cookie of a forced login)."""
    context = browser.new_context(viewport=viewport, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(10_000)
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.problems = problems
    return page


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not displayed"
    return found


def overlaps(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def no_horizontal_overflow(page: Page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{page.url} scrolls sideways"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_record_calls_checkbox_is_labelled_once_and_its_help_sits_below_it(live, browser, user, viewport):
    from campaigns.tests.factories import make_agent

    agent = make_agent(user)
    page = logged_in_page(browser, live.url, user, viewport)
    page.goto(f"{live.url}/agents/{agent.pk}/")

    checkbox = page.get_by_role("checkbox", name="Record calls")
    expect(checkbox).to_be_visible()
    help_text = page.locator("#id_record_calls_helptext")
    expect(help_text).to_have_text(re.compile(r"^Callees hear “This call is recorded\.”"))
    assert page.get_by_text("Record calls", exact=False).count() == 1  # the label, not the help too
    label = page.locator("label[for=id_record_calls]")
    assert not overlaps(box(checkbox), box(help_text))
    assert not overlaps(box(label), box(help_text))
    assert box(help_text)["y"] >= box(checkbox)["y"] + box(checkbox)["height"]

    checkbox.check()
    page.get_by_role("button", name="Save agent").click()
    expect(page).to_have_url(re.compile(r"/agents/$"))
    agent.refresh_from_db()
    assert agent.record_calls
    assert page.problems == []
