"""The security log in a real browser: a sign-in from a new browser shows under Settings, in
Recent activity and in Where you're signed in, at desktop and phone size; "This wasn't me" ends
it. The live server runs in this process: texted codes land in accounts.sms.OUTBOX."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

# The browser fixtures of tests/conftest.py, used here by name (hence the file-wide F811).
# ruff: noqa: F811
from tests.conftest import TIMEOUT_MS, browser, enter_code, field, live  # noqa: F401

SCREENSHOTS = Path("/tmp")
PASSWORD = "a long and unusual passphrase 42"
DESKTOP = (
    {"width": 1280, "height": 800},
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Firefox on Windows",
)
PHONE = (
    {"width": 390, "height": 844},
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Chrome on Android",
)


@pytest.fixture
def account(transactional_db):
    from allauth.account.models import EmailAddress
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import account_created

    user = User.objects.create_user(
        email="grace@example.com",
        password=PASSWORD,
        company_name="Acme",
        mobile_number="+14155550123",
        mobile_verified_at=timezone.now(),
    )
    account_created(user=user)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


def open_browser(browser, viewport: dict, user_agent: str, problems: list[str]) -> Page:
    """A fresh browser (no cookies) that says it is `user_agent`; console errors and failed
    requests are collected in `problems`."""
    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport=viewport, user_agent=user_agent, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status} {r.url}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    return page


def sign_in(page: Page, url: str, sms_outbox) -> None:
    page.goto(url + "/accounts/login/")
    field(page, "Email or mobile number").fill("grace@example.com")
    field(page, "Password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()
    expect(page).to_have_url(url + "/accounts/login/code/confirm/")
    enter_code(page, sms_outbox[-1].code)
    expect(page).to_have_url(url + "/accounts/2fa/trust/")
    page.get_by_role("button", name="Trust this browser for 30 days").click()
    expect(page).to_have_url(url + "/dashboard/")


def fits_the_screen(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.browser
@pytest.mark.parametrize(("viewport", "user_agent", "label"), [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_sign_in_from_a_new_browser_shows_under_settings(
    live, browser, account, sms_outbox, viewport, user_agent, label
):
    problems: list[str] = []
    page = open_browser(browser, viewport, user_agent, problems)
    url = live.url

    sign_in(page, url, sms_outbox)
    page.goto(url + "/settings/")

    recent = page.get_by_test_id("security-events")
    first = recent.locator("tbody tr").first
    expect(first).to_contain_text("Browser trusted")
    signed_in = recent.locator("tbody tr", has_text="Signed in")
    expect(signed_in).to_contain_text("127.0.0.1")
    expect(signed_in).to_contain_text(label)
    sessions = page.get_by_test_id("user-sessions")
    expect(sessions.locator("tbody tr")).to_have_count(1)
    expect(sessions).to_contain_text(label)
    expect(sessions).to_contain_text("127.0.0.1")
    expect(sessions.get_by_test_id("this-browser")).to_have_text("This browser")
    assert fits_the_screen(page)
    page.get_by_test_id("user-sessions").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"security-settings-{viewport['width']}.png"), full_page=True)

    # The full list, a page at a time.
    page.get_by_test_id("security-activity-all").click()
    expect(page).to_have_url(url + "/settings/security/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Security activity")
    expect(page.get_by_test_id("security-events")).to_contain_text(label)
    assert fits_the_screen(page)

    # "This wasn't me": signed out here too, told to check the email.
    page.goto(url + "/settings/")
    page.get_by_test_id("not-me").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.get_by_role("main")).to_contain_text("grace@example.com")
    assert fits_the_screen(page)
    page.goto(url + "/settings/")
    expect(page).to_have_url(url + "/accounts/login/?next=/settings/")

    page.context.close()
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_signing_out_another_browser_from_settings(live, browser, account, sms_outbox):
    problems: list[str] = []
    laptop = open_browser(browser, *DESKTOP[:2], problems)
    phone = open_browser(browser, *PHONE[:2], problems)
    url = live.url
    sign_in(laptop, url, sms_outbox)
    sign_in(phone, url, sms_outbox)

    phone.goto(url + "/settings/")
    sessions = phone.get_by_test_id("user-sessions")
    expect(sessions.locator("tbody tr")).to_have_count(2)
    expect(sessions.locator("tbody tr", has_text="This browser")).to_contain_text("Chrome on Android")
    phone.get_by_test_id("end-other-sessions").click()

    expect(phone.get_by_role("alert").filter(has_text="Signed out 1 other session")).to_be_visible()
    expect(phone.get_by_test_id("user-sessions").locator("tbody tr")).to_have_count(1)
    laptop.goto(url + "/settings/")
    expect(laptop).to_have_url(url + "/accounts/login/?next=/settings/")

    assert not problems, "\n".join(problems)
