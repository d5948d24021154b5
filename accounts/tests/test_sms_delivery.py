"""Codes are texted after the response has gone out (accounts/sms/delivery.py); a text the
provider refused is still reported on the code page, even when the page was drawn first."""

import pytest
from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import Client, RequestFactory
from django.urls import reverse

import accounts.sms
from accounts.tests import fake_twilio_verify

pytestmark = pytest.mark.django_db

fake_twilio = fake_twilio_verify.fake_twilio
FAILED = "We could not send the text message"


@pytest.fixture
def twilio(settings, fake_twilio):
    settings.TWILIO_ACCOUNT_SID = fake_twilio.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio.auth_token
    settings.TWILIO_VERIFY_SERVICE_SID = fake_twilio.service_sid
    settings.TWILIO_VERIFY_BASE_URL = fake_twilio.base_url
    accounts.sms._twilio_sender.cache_clear()
    yield fake_twilio
    accounts.sms._twilio_sender.cache_clear()


def ask_for_a_code(phone: str):
    """The request for a login code, answered but not yet closed by the server."""
    handler = BaseHandler()
    handler.load_middleware()
    request = RequestFactory().post(reverse("account_request_login_code"), {"phone": phone})
    request._dont_enforce_csrf_checks = True
    response = handler.get_response(request)
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = response.cookies[settings.SESSION_COOKIE_NAME].value
    return response, browser


def close(response) -> None:
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def test_a_text_twilio_refuses_after_the_page_was_drawn_is_reported_by_the_poll(owner, twilio):
    response, browser = ask_for_a_code(owner.mobile_number)
    page = browser.get(reverse("account_confirm_login_code")).content.decode()
    assert f'hx-get="{reverse("sms_delivery_status")}"' in page  # Twilio has not been asked yet
    assert not twilio.created()

    twilio.fail_next(503)
    close(response)

    assert twilio.created()[-1].form["To"] == owner.mobile_number
    assert FAILED in browser.get(reverse("sms_delivery_status")).content.decode()
    assert browser.get(reverse("sms_delivery_status")).content.decode().strip() == ""  # said once


def test_a_text_that_went_out_stops_the_poll_and_says_nothing_more(owner, twilio):
    response, browser = ask_for_a_code(owner.mobile_number)
    close(response)

    answer = browser.get(reverse("sms_delivery_status")).content.decode()

    assert answer.strip() == ""
    assert twilio.created()[-1].form["To"] == owner.mobile_number


def test_an_unknown_number_polls_and_ends_the_same_way_with_nothing_texted(owner, twilio):
    response, browser = ask_for_a_code("+14155550199")
    page = browser.get(reverse("account_confirm_login_code")).content.decode()
    assert f'hx-get="{reverse("sms_delivery_status")}"' in page
    close(response)

    assert browser.get(reverse("sms_delivery_status")).content.decode().strip() == ""
    assert not twilio.created()
