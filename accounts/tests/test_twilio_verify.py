"""Codes delivered through Twilio Verify: the real `twilio` SDK, over HTTP, to a local fake.

The fake (accounts/tests/fake_twilio_verify.py) answers with Twilio Verify v2's wire format, so
these tests cover what a mock of the SDK would not: the URL the SDK builds from
TWILIO_VERIFY_BASE_URL, the form fields and Basic auth it sends, and how Twilio's error bodies
become SmsError.
"""

import socket
import time

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.urls import reverse
from twilio.base.exceptions import TwilioRestException

import accounts.sms
from accounts.models import User
from accounts.sms import OUTBOX, ConsoleSmsSender, SmsError, get_sms_sender
from accounts.sms.twilio_verify import TwilioVerifySender
from accounts.tests import fake_twilio_verify
from accounts.tests.fake_twilio_verify import INVALID_NUMBER

fake_twilio = fake_twilio_verify.fake_twilio  # the fixture: a running FakeTwilioVerify

PHONE = "+14155550123"
PASSWORD = "a long and unusual passphrase 42"


def make_sender(fake, **overrides) -> TwilioVerifySender:
    kwargs = {
        "account_sid": fake.account_sid,
        "auth_token": fake.auth_token,
        "service_sid": fake.service_sid,
        "base_url": fake.base_url,
    }
    kwargs.update(overrides)
    return TwilioVerifySender(**kwargs)


def verified_email(user) -> None:
    """An account that finished signing up: its email address is verified too."""
    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})


def unused_port_url() -> str:
    """The address of a port nothing listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def twilio_settings(settings, fake_twilio):
    """Clozit configured for Twilio Verify, pointed at the fake."""
    settings.TWILIO_ACCOUNT_SID = fake_twilio.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio.auth_token
    settings.TWILIO_VERIFY_SERVICE_SID = fake_twilio.service_sid
    settings.TWILIO_VERIFY_BASE_URL = fake_twilio.base_url
    accounts.sms._twilio_sender.cache_clear()
    OUTBOX.clear()
    yield settings
    accounts.sms._twilio_sender.cache_clear()


# --- the sender ---------------------------------------------------------------------------


def test_send_code_creates_an_sms_verification_with_the_code_as_custom_code(fake_twilio):
    make_sender(fake_twilio).send_code(phone=PHONE, code="482913")

    [request] = fake_twilio.requests
    assert request.method == "POST"
    assert request.path == f"/v2/Services/{fake_twilio.service_sid}/Verifications"
    assert request.form == {"To": PHONE, "Channel": "sms", "CustomCode": "482913"}
    assert request.auth == (fake_twilio.account_sid, fake_twilio.auth_token)
    verification = fake_twilio.pending_for(PHONE)
    assert verification.code == "482913" and verification.channel == "sms"


def test_mark_verified_reports_the_verification_approved(fake_twilio):
    sender = make_sender(fake_twilio)
    sender.send_code(phone=PHONE, code="482913")

    sender.mark_verified(phone=PHONE)

    request = fake_twilio.requests[-1]
    assert request.method == "POST"
    assert request.path == f"/v2/Services/{fake_twilio.service_sid}/Verifications/{PHONE}"
    assert request.form == {"Status": "approved"}
    assert request.auth == (fake_twilio.account_sid, fake_twilio.auth_token)
    [verification] = fake_twilio.verifications.values()
    assert verification.status == "approved"
    assert fake_twilio.pending_for(PHONE) is None


def test_a_second_code_to_the_same_number_reuses_the_pending_verification(fake_twilio):
    sender = make_sender(fake_twilio)

    sender.send_code(phone=PHONE, code="111111")
    sender.send_code(phone=PHONE, code="222222")

    assert len(fake_twilio.verifications) == 1
    assert fake_twilio.pending_for(PHONE).code == "222222"


def test_an_invalid_number_is_a_permanent_error(fake_twilio):
    with pytest.raises(SmsError) as raised:
        make_sender(fake_twilio).send_code(phone=INVALID_NUMBER, code="482913")

    assert raised.value.permanent is True
    assert "60200" in raised.value.message
    assert fake_twilio.requests[-1].form["To"] == INVALID_NUMBER


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_a_temporary_error(fake_twilio, status):
    fake_twilio.fail_next(status)

    with pytest.raises(SmsError) as raised:
        make_sender(fake_twilio).send_code(phone=PHONE, code="482913")

    assert raised.value.permanent is False
    assert len(fake_twilio.requests) == 1


def test_a_refused_connection_is_a_temporary_error():
    sender = TwilioVerifySender(
        account_sid="AC" + "0" * 32, auth_token="token", service_sid="VA" + "0" * 32, base_url=unused_port_url()
    )

    with pytest.raises(SmsError) as raised:
        sender.send_code(phone=PHONE, code="482913")

    assert raised.value.permanent is False


def test_a_server_that_does_not_answer_is_a_temporary_error(fake_twilio):
    fake_twilio.delay_next(5)
    sender = make_sender(fake_twilio, timeout=0.5)

    started = time.monotonic()
    with pytest.raises(SmsError) as raised:
        sender.send_code(phone=PHONE, code="482913")

    assert raised.value.permanent is False
    assert time.monotonic() - started < 4


def test_wrong_credentials_are_refused_by_twilio_and_reported_as_an_sms_error(fake_twilio):
    with pytest.raises(SmsError) as raised:
        make_sender(fake_twilio, auth_token="not-the-token").send_code(phone=PHONE, code="482913")

    assert "20003" in raised.value.message
    assert fake_twilio.requests[-1].auth == (fake_twilio.account_sid, "not-the-token")
    assert not fake_twilio.verifications


def test_an_unknown_service_is_an_sms_error(fake_twilio):
    with pytest.raises(SmsError) as raised:
        make_sender(fake_twilio, service_sid="VA" + "9" * 32).send_code(phone=PHONE, code="482913")

    assert "20404" in raised.value.message
    assert raised.value.permanent is False


def test_mark_verified_never_raises(fake_twilio, caplog):
    sender = make_sender(fake_twilio)

    # No pending verification: Twilio answers 404.
    sender.mark_verified(phone=PHONE)
    fake_twilio.fail_next(503)
    sender.mark_verified(phone=PHONE)
    # Twilio unreachable.
    make_sender(fake_twilio, base_url=unused_port_url()).mark_verified(phone=PHONE)

    assert [r.path for r in fake_twilio.requests] == [
        f"/v2/Services/{fake_twilio.service_sid}/Verifications/{PHONE}"
    ] * 2
    assert caplog.text.count("could not report an approved verification") == 3


def test_the_fake_answers_like_twilio_verify(fake_twilio):
    """The SDK parses the fake's resources and errors as it would Twilio's."""
    service = make_sender(fake_twilio)._service()

    verification = service.verifications.create(to=PHONE, channel="sms", custom_code="482913")
    assert verification.sid.startswith("VE") and len(verification.sid) == 34
    assert (verification.service_sid, verification.account_sid) == (fake_twilio.service_sid, fake_twilio.account_sid)
    assert verification.to == PHONE and verification.channel == "sms"
    assert verification.status == "pending" and verification.valid is False
    assert verification.date_created is not None and verification.url.endswith(verification.sid)
    assert service.verifications(PHONE).fetch().sid == verification.sid

    wrong = service.verification_checks.create(to=PHONE, code="000000")
    assert (wrong.status, wrong.valid) == ("pending", False)
    right = service.verification_checks.create(to=PHONE, code="482913")
    assert (right.status, right.valid, right.sid) == ("approved", True, verification.sid)

    with pytest.raises(TwilioRestException) as raised:
        service.verification_checks.create(to=PHONE, code="482913")
    assert (raised.value.status, raised.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as raised:
        service.verifications(verification.sid).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as raised:
        service.verifications.create(to=INVALID_NUMBER, channel="sms")
    assert (raised.value.status, raised.value.code) == (400, 60200)


# --- choosing the sender ------------------------------------------------------------------


def test_twilio_is_used_only_when_all_three_settings_are_set(twilio_settings, fake_twilio):
    sender = get_sms_sender()

    assert isinstance(sender, TwilioVerifySender)
    assert sender.client.verify.base_url == fake_twilio.base_url
    assert get_sms_sender() is sender

    twilio_settings.TWILIO_VERIFY_SERVICE_SID = ""
    assert isinstance(get_sms_sender(), ConsoleSmsSender)


# --- the whole flows, through allauth's pages ---------------------------------------------


@pytest.mark.django_db
def test_signup_sends_the_code_through_verify_and_reports_the_approval(client, twilio_settings, fake_twilio):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "ada@example.com",
            "phone": "+1 415 555 0123",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company_name": "Acme",
            "is_adult": "on",
            "accept_terms": "on",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("account_verify_phone")
    [created] = fake_twilio.created()
    assert created.form["To"] == PHONE and created.form["Channel"] == "sms"
    code = created.form["CustomCode"]
    assert len(code) == 6 and code.isdigit()
    assert created.auth == (fake_twilio.account_sid, fake_twilio.auth_token)
    user = User.objects.get(email="ada@example.com")
    assert user.mobile_number == PHONE and not user.has_verified_mobile
    assert not fake_twilio.approvals()

    response = client.post(reverse("account_verify_phone"), {"code": code})

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user.refresh_from_db()
    assert user.has_verified_mobile
    [approval] = fake_twilio.approvals()
    assert approval.path == f"/v2/Services/{fake_twilio.service_sid}/Verifications/{PHONE}"
    assert fake_twilio.pending_for(PHONE) is None
    assert OUTBOX == []
    # The email step that follows is unaffected.
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_wrong_code_is_refused_and_nothing_is_reported(client, twilio_settings, fake_twilio):
    client.post(
        reverse("account_signup"),
        {
            "email": "ada@example.com",
            "phone": PHONE,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company_name": "Acme",
            "is_adult": "on",
            "accept_terms": "on",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    code = fake_twilio.created()[-1].form["CustomCode"]
    wrong = "000000" if code != "000000" else "111111"

    response = client.post(reverse("account_verify_phone"), {"code": wrong})

    assert response.status_code == 200
    assert not User.objects.get().has_verified_mobile
    assert not fake_twilio.approvals()


@pytest.mark.django_db
def test_signup_with_a_number_twilio_refuses_says_the_text_could_not_be_sent(client, twilio_settings, fake_twilio):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "ada@example.com",
            "phone": INVALID_NUMBER,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company_name": "Acme",
            "is_adult": "on",
            "accept_terms": "on",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
        follow=True,
    )

    assert response.request["PATH_INFO"] == reverse("account_verify_phone")
    assert "We could not send the text message" in response.content.decode()
    assert fake_twilio.created()[-1].form["To"] == INVALID_NUMBER
    assert not User.objects.get().has_verified_mobile
    assert OUTBOX == []


@pytest.mark.django_db
def test_the_second_login_step_sends_the_code_through_verify(client, user, twilio_settings, fake_twilio):
    verified_email(user)
    response = client.post(reverse("account_login"), {"login": user.email, "password": "correct horse battery"})

    assert response.status_code == 302
    assert response["Location"] == reverse("account_confirm_login_code")
    assert client.session.get(SESSION_KEY) is None
    [created] = fake_twilio.created()
    assert created.form["To"] == user.mobile_number and created.form["Channel"] == "sms"
    code = created.form["CustomCode"]
    assert len(code) == 6 and code.isdigit()

    response = client.post(reverse("account_confirm_login_code"), {"code": code})

    # allauth then offers to trust this browser; declining it completes the login.
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_trust")
    response = client.post(reverse("mfa_trust"), {"action": "skip"})
    assert response["Location"] == reverse("dashboard")
    assert str(client.session.get(SESSION_KEY)) == str(user.pk)
    [approval] = fake_twilio.approvals()
    assert approval.path.endswith(f"/Verifications/{user.mobile_number}")
    assert approval.auth == (fake_twilio.account_sid, fake_twilio.auth_token)
    assert OUTBOX == []


@pytest.mark.django_db
def test_the_second_login_step_when_twilio_is_down_does_not_log_in(client, user, twilio_settings, fake_twilio):
    verified_email(user)
    fake_twilio.fail_next(503)

    response = client.post(
        reverse("account_login"), {"login": user.email, "password": "correct horse battery"}, follow=True
    )

    assert response.request["PATH_INFO"] == reverse("account_confirm_login_code")
    assert "We could not send the text message" in response.content.decode()
    assert client.session.get(SESSION_KEY) is None
    assert OUTBOX == []
