"""Asking for a login code with nothing, or with both things, filled in: a form error, never a
server error."""

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

REQUEST_LOGIN_CODE = reverse("account_request_login_code")
NEITHER = "Enter your email address or your mobile number."


@pytest.fixture
def anonymous():
    # raise_request_exception=False: a crash shows as the 500 a visitor would get.
    return Client(raise_request_exception=False)


@pytest.mark.parametrize("data", [{}, {"email": "", "phone": ""}, {"email": "  ", "phone": "  "}])
def test_an_empty_request_for_a_login_code_is_a_form_error(anonymous, sms_outbox, mailoutbox, data):
    response = anonymous.post(REQUEST_LOGIN_CODE, data)

    assert response.status_code == 200
    assert NEITHER in response.content.decode()
    assert not sms_outbox and not mailoutbox


def test_email_and_mobile_together_are_refused_too(anonymous, owner, sms_outbox):
    response = anonymous.post(REQUEST_LOGIN_CODE, {"email": "owner@example.com", "phone": "+14155550123"})

    assert response.status_code == 200
    assert "Please select only one." in response.content.decode()
    assert not sms_outbox


def test_a_filled_in_request_still_goes_to_the_code_page(anonymous, owner, sms_outbox):
    response = anonymous.post(REQUEST_LOGIN_CODE, {"phone": "+1 415 555 0123"})

    assert response.status_code == 302 and response["Location"] == reverse("account_confirm_login_code")
    assert [sent.phone for sent in sms_outbox] == ["+14155550123"]
