"""The privacy page names every cookie the service sets: a browser signs in the whole way (password,
texted code, "trust this browser" ticked), looks around and signs out, and each cookie any of
those responses set must be described on the page."""

import html
import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.tests.conftest import last_sms

pytestmark = pytest.mark.django_db


class Browser:
    """A browser that sends its CSRF cookie back with every form, as a real one does, and notes
    the name of every cookie a response sets (or deletes)."""

    def __init__(self):
        self.client = Client(enforce_csrf_checks=True)
        self.cookies_set: set[str] = set()

    def get(self, url):
        return self._seen(self.client.get(url))

    def post(self, url, data):
        token = self.client.cookies["csrftoken"].value
        return self._seen(self.client.post(url, {**data, "csrfmiddlewaretoken": token}))

    def _seen(self, response):
        assert response.status_code in (200, 302), (response.status_code, response.content[:300])
        self.cookies_set.update(response.cookies.keys())
        return response


def cookies_section() -> str:
    page = html.unescape(Client().get(reverse("privacy")).content.decode())
    match = re.search(r"<h2>\d+\. Cookies</h2>(.*?)<h2>", page, re.S)
    assert match, "the privacy page has no Cookies section"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_every_cookie_of_a_trusted_sign_in_is_named_on_the_privacy_page(owner, sms_outbox):
    browser = Browser()
    browser.get(reverse("account_login"))
    response = browser.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    assert response["Location"] == reverse("account_confirm_login_code")
    browser.get(reverse("account_confirm_login_code"))
    response = browser.post(reverse("account_confirm_login_code"), {"code": last_sms()})
    assert response["Location"] == reverse("mfa_trust")
    browser.get(reverse("mfa_trust"))
    response = browser.post(reverse("mfa_trust"), {"action": "trust"})
    assert response["Location"] == reverse("dashboard")
    for page in ("dashboard", "account_settings", "landing"):
        browser.get(reverse(page))
    browser.post(reverse("account_logout"), {})
    browser.get(reverse("landing"))

    # The trust cookie is what makes the next sign-in skip the texted code.
    assert "mfa_trusted" in browser.cookies_set
    section = cookies_section()
    missing = sorted(name for name in browser.cookies_set if name not in section)
    assert missing == [], f"cookies the service sets but the privacy page does not name: {missing}"
    assert f"{len(browser.cookies_set)} cookies" in section
    assert f"{settings.MFA_TRUST_COOKIE_AGE.days} days" in section
    assert f"{settings.SESSION_COOKIE_AGE // (7 * 24 * 3600)} weeks" in section  # "Remember me"
