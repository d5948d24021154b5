"""In a real Chromium, at desktop and phone size: a person whose terms changed while they were
away signs in, is sent to the acceptance page instead of the dashboard, accepts, and reaches the
dashboard; the comparison page reads on a phone; the banner's early acceptance hides it."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from policies.models import PolicyAcceptance
from tests.conftest import browser, enter_code, field, live, new_page, sms_outbox  # noqa: F401 - fixtures
from tests.test_browser_csp import VIEWPORTS

from .conftest import TERMS_V1, TERMS_V2, make_version

SCREENSHOTS = "/tmp"


def open_signed_in(new_page, live, user, size):  # noqa: F811
    page = new_page()
    page.set_viewport_size(VIEWPORTS[size])
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live.url}])
    return page


def sign_in(page, url, user, codes):
    """The sign-in form, the texted code, and not trusting the browser: as a person signs in."""
    page.goto(f"{url}/accounts/login/")
    field(page, "Email or mobile number").fill(user.email)
    field(page, "Password").fill("correct horse battery")
    page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()
    expect(page).to_have_url(f"{url}/accounts/login/code/confirm/")
    enter_code(page, codes[-1].code)
    expect(page).to_have_url(f"{url}/accounts/2fa/trust/")
    page.get_by_role("button", name=re.compile(r"^Don't trust it")).click()


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_changed_policy_is_accepted_at_the_next_sign_in(live, new_page, user, sms_outbox, size):  # noqa: F811
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    make_version(version="2027-01", days=-40, text=TERMS_V1, summary="Our first published terms.")
    PolicyAcceptance.objects.create(user=user, version_id=_pk("2027-01"), ip_address="192.0.2.1")
    make_version(version="2027-02", days=-1, text=TERMS_V2, summary="Agents may also send texts.")
    page = new_page()
    page.set_viewport_size(VIEWPORTS[size])

    sign_in(page, live.url, user, sms_outbox)

    expect(page).to_have_url(f"{live.url}/policies/accept/?next=%2Fdashboard%2F")
    expect(page.get_by_role("heading", name="Terms of service, version 2027-02")).to_be_visible()
    expect(page.get_by_text("Agents may also send texts.")).to_be_visible()
    page.screenshot(path=f"{SCREENSHOTS}/policies-accept-{size}.png", full_page=True)
    page.get_by_test_id("policy-accept").click()

    expect(page).to_have_url(f"{live.url}/dashboard/")
    expect(page.get_by_text("you accepted the terms of service (version 2027-02)")).to_be_visible()
    expect(page.get_by_test_id("balance")).to_be_visible()
    accepted = PolicyAcceptance.objects.get(user=user, version__version="2027-02")
    assert accepted.ip_address == "127.0.0.1" and accepted.user_agent
    assert accepted.accepted_at <= timezone.now()

    # What changed, marked, on the same screen.
    page.goto(f"{live.url}/policies/terms/2027-02/compare/")
    expect(page.locator("ins").first).to_be_visible()
    expect(page.locator("del").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["width"], "the comparison scrolls sideways"
    page.screenshot(path=f"{SCREENSHOTS}/policies-compare-{size}.png", full_page=True)


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_the_banner_accepts_a_coming_version_early(live, new_page, user, size):  # noqa: F811
    make_version(version="2027-03", days=12, text=TERMS_V2, summary="Agents may also send texts.")
    page = open_signed_in(new_page, live, user, size)

    page.goto(f"{live.url}/dashboard/")
    banner = page.get_by_test_id("policy-banner")
    expect(banner).to_contain_text("Our terms of service change on")
    page.screenshot(path=f"{SCREENSHOTS}/policies-banner-{size}.png", full_page=False)
    page.get_by_test_id("policy-banner-accept").click()

    expect(page).to_have_url(f"{live.url}/dashboard/")
    expect(page.get_by_test_id("policy-banner")).to_have_count(0)
    assert PolicyAcceptance.objects.filter(user=user, version__version="2027-03").exists()


def _pk(version):
    from policies.models import PolicyVersion

    return PolicyVersion.objects.get(policy="terms", version=version).pk
