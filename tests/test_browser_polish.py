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
NAV_LINKS = ["dashboard", "agents", "contacts", "campaigns", "calls", "analytics", "numbers", "credits", "settings"]


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


def add_call(campaign, **fields):
    from campaigns.models import Call

    return Call.objects.create(
        workspace=campaign.workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number="+12025550101",
        from_number=campaign.caller_number,
        provider="simulated",
        **fields,
    )


def in_view_horizontally(page: Page, locator) -> None:
    """Visible and inside the page's width, so no sideways scroll is needed to see it."""
    expect(locator).to_be_visible()
    found = box(locator)
    width = page.evaluate("document.documentElement.clientWidth")
    assert found["x"] >= 0 and found["x"] + found["width"] <= width, f"{locator} is out of sight: {found}"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_phone_a_menu_button_opens_the_links_and_tables_keep_status_and_actions_in_view(live, browser, user):
    from campaigns.models import Contact
    from campaigns.tests.factories import make_campaign

    campaign = make_campaign(user, ["+12025550101", "+12025550102"])
    contact = Contact.objects.filter(contact_list=campaign.contact_list).first()
    contact.variables = {"crm": "https://crm.example.com/records/contacts/0012345678/details", "notes": "x " * 40}
    contact.time_zone = "America/Argentina/Buenos_Aires"
    contact.save()
    add_call(campaign, status="completed", answered_by="human", outcome="interested", duration_seconds=30)
    add_call(campaign, status="busy", failure_reason="Busy")
    url = live.url
    page = logged_in_page(browser, url, user, PHONE)

    # The links fold into a menu: one button, not four rows of links.
    page.goto(url + "/dashboard/")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_test_id("nav-campaigns")).to_be_hidden()
    assert box(page.locator("header.site-header"))["height"] < 80
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    for name in NAV_LINKS + ["logout"]:
        in_view_horizontally(page, page.get_by_test_id(f"nav-{name}"))
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("nav-campaigns")).to_be_hidden()
    menu.click()
    page.get_by_test_id("nav-campaigns").click()
    expect(page).to_have_url(url + "/campaigns/")
    expect(page.get_by_test_id("nav-campaigns")).to_be_hidden()  # a new page starts with the menu closed

    # Campaigns: each campaign's status is in view.
    no_horizontal_overflow(page)
    row = page.get_by_test_id("campaigns").get_by_role("row").filter(has_text=campaign.name)
    in_view_horizontally(page, row.locator(".badge"))
    in_view_horizontally(page, row.get_by_role("link", name=campaign.name))

    # Calls: status (and why a call did not connect) in view.
    page.goto(url + "/calls/")
    no_horizontal_overflow(page)
    calls = page.get_by_test_id("calls")
    in_view_horizontally(page, calls.get_by_text("Completed"))
    in_view_horizontally(page, calls.locator(".badge", has_text="Busy"))
    in_view_horizontally(page, calls.get_by_test_id("call-reason"))

    # Contact lists: status and the list's actions in view.
    page.goto(url + "/contacts/")
    no_horizontal_overflow(page)
    lists = page.get_by_test_id("contact-lists")
    in_view_horizontally(page, lists.get_by_text("Imported"))
    in_view_horizontally(page, lists.get_by_role("link", name=f"Delete {campaign.contact_list.name}"))
    lists.get_by_role("link", name=campaign.contact_list.name, exact=True).click()

    # A list's contacts: each contact's Edit and Delete in view, long values wrapped.
    expect(page.get_by_test_id("contacts")).to_be_visible()
    no_horizontal_overflow(page)
    in_view_horizontally(page, page.get_by_role("link", name=f"Edit {contact.phone_number}"))
    in_view_horizontally(page, page.get_by_role("link", name=f"Delete {contact.phone_number}"))

    # Agents: the actions of each agent in view.
    page.goto(url + "/agents/")
    no_horizontal_overflow(page)
    in_view_horizontally(page, page.get_by_test_id("agent-playground"))
    in_view_horizontally(page, page.get_by_role("link", name="Delete"))
    assert page.problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_desktop_the_links_show_and_a_contacts_actions_stay_in_sight_beside_long_values(live, browser, user):
    from campaigns.models import Contact
    from campaigns.tests.factories import make_list

    contact_list = make_list(user, ["+12025550101"])
    contact = Contact.objects.get(contact_list=contact_list)
    contact.time_zone = "America/Argentina/Buenos_Aires"
    contact.tags = ["vip", "follow-up", "2026-q4"]
    contact.variables = {
        "email": "katherine.johnson@orbital-mathematics.example.com",
        "crm": "https://crm.example.com/records/contacts/0012345678/details",
        "notes": "Prefers afternoon calls; ask about the new insurance plan before booking anything",
    }
    contact.save()
    page = logged_in_page(browser, live.url, user, DESKTOP)
    page.goto(f"{live.url}/contacts/{contact_list.pk}/")

    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_test_id("nav-campaigns")).to_be_visible()
    assert box(page.locator("header.site-header"))["height"] < 80  # one row of links
    in_view_horizontally(page, page.get_by_role("link", name=f"Edit {contact.phone_number}"))
    in_view_horizontally(page, page.get_by_role("link", name=f"Delete {contact.phone_number}"))
    table = page.get_by_test_id("contacts")
    assert page.evaluate("(t) => t.parentElement.scrollWidth <= t.parentElement.clientWidth", table.element_handle())
    assert page.problems == []


def one_line(locator) -> bool:
    """The element's text sits on a single line (its height is one line's)."""
    return locator.evaluate(
        "(e) => e.getClientRects().length === 1 && e.getBoundingClientRect().height"
        " < 1.5 * parseFloat(getComputedStyle(e).lineHeight)"
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_percentages_do_not_wrap_and_the_find_passages_button_keeps_to_its_field(live, browser, user, viewport):
    from campaigns.tests.factories import make_agent, make_campaign

    campaign = make_campaign(user, ["+12025550101"])
    add_call(campaign, status="completed", answered_by="human", outcome="interested", duration_seconds=30)
    page = logged_in_page(browser, live.url, user, viewport)

    page.goto(f"{live.url}/campaigns/{campaign.pk}/")
    rate = page.get_by_test_id("campaign-results").locator(".stat", has_text="Answer rate").locator(".value")
    expect(rate).to_have_text("100.0%")
    assert one_line(rate), "“100.0%” breaks over two lines"
    page.goto(f"{live.url}/analytics/")
    rate = page.locator(".stat", has_text="Answer rate").locator(".value")
    expect(rate).to_have_text("100.0%")
    assert one_line(rate)

    agent = make_agent(user, name="Front desk")
    page.goto(f"{live.url}/agents/{agent.pk}/knowledge/")
    search = page.get_by_role("search")
    field_box = box(search.get_by_role("searchbox"))
    button_box = box(search.get_by_role("button", name="Find passages"))
    assert button_box["height"] <= field_box["height"] + 1, "the button is taller than its field"
    assert button_box["width"] < field_box["width"]
    assert abs(button_box["y"] - field_box["y"]) <= 1  # side by side
    assert page.problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_confirmation_can_be_dismissed_and_leaves_when_the_campaign_state_changes(live, browser, user):
    from campaigns.lifecycle import services
    from campaigns.models import Campaign
    from campaigns.tests.factories import make_campaign

    campaign = make_campaign(user, ["+12025550101", "+12025550102"])
    page = logged_in_page(browser, live.url, user)
    page.goto(f"{live.url}/campaigns/{campaign.pk}/")
    page.get_by_role("button", name="Launch campaign").click()
    notice = page.get_by_role("alert").filter(has_text="Campaign launched")
    expect(notice).to_be_visible()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Running")

    # The live status moves on (here: paused by the dialer for want of credits): the
    # confirmation of the launch goes, it does not sit beside "Paused".
    services.campaign_pause(campaign=Campaign.objects.get(pk=campaign.pk), reason="Paused: not enough credits.")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Paused", timeout=6_000)
    expect(notice).to_have_count(0)

    # Any message can be dismissed.
    page.get_by_role("button", name="Resume").click()
    resumed = page.get_by_role("alert").filter(has_text="resumed")
    expect(resumed).to_be_visible()
    resumed.get_by_role("button", name="Dismiss this message").click()
    expect(resumed).to_have_count(0)
    assert page.problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_refused_account_closing_shows_its_error_at_the_field_in_view(live, browser, user, viewport):
    page = logged_in_page(browser, live.url, user, viewport)
    page.goto(f"{live.url}/settings/")
    field = page.get_by_label("Type your email address to confirm")
    field.fill("someone.else@example.com")
    page.get_by_role("button", name="Close my account").click()

    error = page.get_by_text("That is not your account's email address.")
    expect(error).to_be_in_viewport()
    expect(field).to_be_in_viewport()
    assert box(error)["y"] - (box(field)["y"] + box(field)["height"]) < 60  # right under the field
    user.refresh_from_db()
    assert user.is_active
