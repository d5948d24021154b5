"""Browser fixtures: a headless Debian Chromium driven by Playwright's sync API.

`playwright install` cannot download browsers here, so the system Chromium is used. Without it
the browser tests skip locally, but fail in CI (CI=true), where a missing browser is a broken build.
"""

import os
from pathlib import Path

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
def page(browser):
    """A fresh browser context (no cookies) per test; console errors and failed requests fail the test."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []

    def on_response(response):
        # Chromium asks for /favicon.ico on its own; the site has no icon, which is not a page error.
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.append(f"HTTP {response.status} {response.request.method} {response.url}")

    def on_console(message):
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            problems.append(f"console error: {message.text} ({message.location.get('url')})")

    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    yield page
    context.close()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)
