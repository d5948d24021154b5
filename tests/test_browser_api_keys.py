"""API keys and the API reference in a real Chromium, at desktop and phone size, under the
Content-Security-Policy: an owner makes a key from the Integrations page, copies it from the one
page that shows it, uses it, and revokes it; the interactive reference (ninja's bundled Swagger
UI, served from our static files) renders every operation and authorizes with a key, with no
policy violation and no console error."""

import re

import pytest
import requests
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from tests.test_browser_csp import VIEWPORTS, WATCH_VIOLATIONS


def watched_page(new_page, size: str, url: str, user=None):
    page = new_page()
    page.set_viewport_size(VIEWPORTS[size])
    page.context.add_init_script(WATCH_VIOLATIONS)
    if user is not None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])
    return page


def no_violations(page) -> None:
    assert page.evaluate("window.__cspViolations || []") == [], page.url


def fits_the_screen(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


@pytest.mark.browser
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_an_owner_makes_uses_and_revokes_a_key(live, new_page, user, size):
    page = watched_page(new_page, size, live.url, user)
    assert "default-src 'self'" in page.goto(f"{live.url}/integrations/").headers["content-security-policy"]
    page.get_by_test_id("api-keys-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    expect(page.get_by_test_id("api-keys")).to_contain_text("No keys yet.")
    expect(page.get_by_role("main")).to_contain_text("keeps working after its maker leaves")
    fits_the_screen(page)
    no_violations(page)

    page.get_by_label("Name").fill("CRM sync")
    page.get_by_label("Read and write").check()
    with page.expect_response(re.compile(r"/integrations/api-keys/new/$")) as made:
        page.get_by_role("button", name="Make key").click()
    assert made.value.headers["cache-control"] == "no-store"
    secret = page.get_by_test_id("api-key-secret").input_value()
    assert secret.startswith("clz_")
    fits_the_screen(page)
    no_violations(page)

    balance = requests.get(f"{live.url}/api/v1/credits/balance", headers={"Authorization": f"Bearer {secret}"})
    assert balance.status_code == 200

    page.get_by_role("link", name=re.compile("back to the API keys")).click()
    row = page.get_by_test_id("api-key-row")
    expect(row).to_contain_text("CRM sync")
    expect(row).to_contain_text("Read and write")
    expect(row).to_contain_text(secret[:12])
    expect(row).to_contain_text("127.0.0.1")  # its last use, and from where
    assert secret not in page.content()

    row.get_by_role("button", name="Revoke CRM sync").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke “CRM sync”?")
    page.get_by_role("button", name="Revoke key").click()
    expect(page.locator(".message-success")).to_contain_text("was revoked")
    expect(page.get_by_test_id("api-key-row")).to_contain_text("Revoked")
    no_violations(page)
    refused = requests.get(f"{live.url}/api/v1/credits/balance", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 401


@pytest.mark.browser
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_the_interactive_reference_renders_and_tries_an_operation(live, new_page, user, size):
    from integrations.api.keys import api_key_create

    secret = api_key_create(workspace=user.personal_workspace, by=user, name="Docs", scope="read").secret
    page = watched_page(new_page, size, live.url)
    response = page.goto(f"{live.url}/api/v1/docs")
    assert "default-src 'self'" in response.headers["content-security-policy"]  # the site's policy, unchanged

    expect(page.locator(".opblock-summary-path", has_text="/api/v1/do-not-call").first).to_be_visible()
    for path in ("/api/v1/credits/balance", "/api/v1/credits/ledger", "/api/v1/do-not-call/{entry_id}"):
        expect(page.locator(".opblock-summary-path", has_text=path).first).to_be_attached()

    page.get_by_role("button", name=re.compile("^Authorize")).first.click()
    page.locator(".auth-container input").fill(secret)
    page.get_by_role("button", name="Apply credentials").click()
    page.locator(".auth-btn-wrapper .btn-done").click()

    balance = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/api/v1/credits/balance"))
    balance.locator(".opblock-summary").click()
    balance.get_by_role("button", name="Try it out").click()
    with page.expect_response(re.compile(r"/api/v1/credits/balance$")) as answered:
        balance.get_by_role("button", name="Execute").click()
    assert answered.value.status == 200
    expect(balance.locator(".live-responses-table")).to_contain_text("available")
    no_violations(page)
