"""Browser fixtures: a headless Debian Chromium driven by Playwright's sync API.

`playwright install` cannot download browsers here, so the system Chromium is used. Without it
the browser tests skip locally, but fail in CI (CI=true), where a missing browser is a broken build.

Also the sign-up every journey starts with: the form, the code texted to the mobile (read from
the console sender's OUTBOX) and the code emailed (read from the locmem outbox).
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 10_000


@pytest.fixture
def browser(monkeypatch):
    """A Chromium per test. Not shared across the session on purpose: while Playwright's sync API
    is started it keeps an asyncio loop running in this thread, and Django refuses ORM calls
    (the test's and pytest-django's database teardown) unless DJANGO_ALLOW_ASYNC_UNSAFE is set.
    Scoping both to the test keeps that switch from leaking into the rest of the suite, where
    pytest-django runs database-free tests (such as `manage.py check --deploy`) afterwards."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install it with `apt-get install -y chromium` (or set CHROMIUM_PATH)."
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from django.db import connections
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
        # With a loop running, Django keeps this thread's connections in context-local storage that
        # is out of reach once Playwright stops: close them now, or they hold the test database open.
        connections.close_all()


@pytest.fixture
def new_page(browser):
    """Opens a page in a fresh browser context (no cookies: a different browser, as far as the
    site can tell). Console errors and failed requests in any of them fail the test."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    contexts = []
    problems: list[str] = []

    def on_response(response):
        # Chromium asks for /favicon.ico on its own: it redirects to the site's icon, so it counts too.
        if response.status >= 400:
            problems.append(f"HTTP {response.status} {response.request.method} {response.url}")

    def on_console(message):
        if message.type == "error":
            problems.append(f"console error: {message.text} ({message.location.get('url')})")

    def open_page():
        context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("response", on_response)
        page.on("console", on_console)
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


@pytest.fixture
def page(new_page):
    """A page in a fresh browser context per test (see `new_page`)."""
    return new_page()


@pytest.fixture
def live(transactional_db, asgi_server):
    """The whole application served on a real port, as in production: Django and the relay sockets
    (uvicorn, the root conftest's `asgi_server`). The simulated carrier's webhooks and its
    ConversationRelay sockets come back to it, so agents built in the browser (real-time by
    default) talk over the relay."""
    return SimpleNamespace(url=asgi_server)


@pytest.fixture
def sms_outbox():
    """Codes the console SMS sender "texted", newest last. The live server runs in this process,
    so the codes it sends land here."""
    from accounts.sms import OUTBOX

    OUTBOX.clear()
    yield OUTBOX
    OUTBOX.clear()


def field(page, label: str):
    """The form control whose <label> starts with `label` (labels may end in ":" or wrap help text)."""
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}(\W|$)"))


def email_code() -> str:
    """The verification code in the newest email (on a line of its own, like "ZVTC-GNZH")."""
    from django.core import mail

    assert mail.outbox, "no email was sent"
    found = re.search(r"^\s*((?:[A-Z0-9]{4}-)+[A-Z0-9]{4})\s*$", mail.outbox[-1].body, re.MULTILINE)
    assert found, f"no code in the email:\n{mail.outbox[-1].body}"
    return found.group(1)


@dataclass(frozen=True)
class NewAccount:
    email: str = "ada@example.com"
    mobile: str = "+1 (415) 555-0123"  # as typed; stored as E.164
    mobile_e164: str = "+14155550123"
    password: str = "a long and unusual passphrase 42"
    first_name: str = "Ada"
    last_name: str = "Lovelace"
    company: str = "Acme"


def fill_signup_form(page, account: NewAccount) -> None:
    field(page, "Email").fill(account.email)
    field(page, "Mobile number").fill(account.mobile)
    field(page, "First name").fill(account.first_name)
    field(page, "Last name").fill(account.last_name)
    field(page, "Company").fill(account.company)
    page.get_by_label(re.compile(r"^\s*Password:?\s*$")).fill(account.password)
    field(page, "Password (again)").fill(account.password)
    field(page, "I am 18 or older").check()
    field(page, "I accept the terms").check()


def enter_code(page, code: str) -> None:
    field(page, "Code").fill(code)
    page.get_by_role("main").get_by_role("button", name="Confirm").click()


@pytest.fixture
def sign_up(sms_outbox):
    """Signs a new account up from the sign-up page: the form, the code texted to the mobile,
    the code emailed, then the dashboard."""
    from playwright.sync_api import expect

    def run(page, url: str, account: NewAccount = NewAccount()) -> NewAccount:
        expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
        fill_signup_form(page, account)
        sent_before = len(sms_outbox)
        page.get_by_role("main").get_by_role("button", name="Sign Up").click()
        expect(page).to_have_url(url + "/accounts/phone/verify/")
        assert len(sms_outbox) == sent_before + 1
        assert sms_outbox[-1].phone == account.mobile_e164
        enter_code(page, sms_outbox[-1].code)
        expect(page).to_have_url(url + "/accounts/confirm-email/")
        enter_code(page, email_code())
        expect(page).to_have_url(url + "/dashboard/")
        return account

    return run
