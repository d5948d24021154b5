"""The account pages speak one language: "Log in" and "Sign up", labels without colons, a new
code on every code page (the emailed one too), and a plain choice to trust the browser."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.tests.conftest import last_email_code, last_sms, post_signup

pytestmark = pytest.mark.django_db

EMAIL_CODE_PAGE = reverse("account_email_verification_sent")


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.mark.parametrize(
    "name", ["account_login", "account_signup", "account_request_login_code", "account_reset_password"]
)
def test_entrance_pages_say_log_in_and_sign_up_and_put_no_colon_after_labels(client, name):
    page = text(client.get(reverse(name)))

    labels = re.findall(r"<label[^>]*>(.*?)</label>", page)
    assert labels and not [label for label in labels if label.strip().endswith(":")], labels
    main = page[page.index("<main") : page.index("</main>")]
    assert not re.search(r"sign[ -]?in|sign[ -]?out", main, re.IGNORECASE), main


def test_the_login_page_labels_say_what_to_type_and_what_the_box_does(client):
    page = text(client.get(reverse("account_login")))

    assert "<h1>Log in</h1>" in page
    assert ">Email or mobile number</label>" in page
    assert ">Stay logged in after closing the browser</label>" in page
    assert "New to Clozit? <a" in page


def test_the_email_code_can_be_sent_again(client, clock, sms_outbox):
    post_signup(client)
    client.post(reverse("account_verify_phone"), {"code": last_sms()})
    first = last_email_code()
    page = text(client.get(EMAIL_CODE_PAGE))
    assert 'form="resend"' in page and "Send a new code" in page

    # Straight away: a message, not an error page, and the first code still works later.
    emails = len(mail.outbox)
    response = client.post(EMAIL_CODE_PAGE, {"action": "resend"})
    assert (response.status_code, response["Location"]) == (302, EMAIL_CODE_PAGE)
    assert "Wait a few seconds, then ask again." in text(client.get(EMAIL_CODE_PAGE))
    assert len(mail.outbox) == emails

    clock.advance(11)
    response = client.post(EMAIL_CODE_PAGE, {"action": "resend"})
    assert response["Location"] == EMAIL_CODE_PAGE
    assert len(mail.outbox) == emails + 1
    second = last_email_code()
    if second != first:
        assert client.post(EMAIL_CODE_PAGE, {"code": first}).status_code == 200
    assert client.post(EMAIL_CODE_PAGE, {"code": second})["Location"] == reverse("dashboard")


def test_the_trust_step_is_one_plain_choice(client, owner, sms_outbox):
    client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    client.post(reverse("account_confirm_login_code"), {"code": last_sms()})

    page = text(client.get(reverse("mfa_trust")))

    assert "<h1>Trust this browser for 30 days?</h1>" in page
    assert "> Trust this browser for 30 days </button>" in page
    assert "Don't trust it: ask for a code every time" in page
    assert "logout-from-stage" not in page  # no "Cancel" (that logs out) after a code just entered
