"""Whether an email address or a mobile number has an account must not show in how long the
answer takes. Sign-up, asking for a login code and password reset do the same work whatever the
answer: the same password hashing, the same database writes, the same emails, and no text
message sent while the visitor waits (codes are texted after the response has gone out).

Equal work is asserted by counting it (a counting password hasher, the queries, the outboxes),
not by wall-clock comparisons; one coarse check with the real hasher and one with a slow Twilio
show what a visitor with a stopwatch would have seen.
"""

import time
from dataclasses import dataclass
from statistics import median

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.core.handlers.base import BaseHandler
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import accounts.sms
from accounts.models import User
from accounts.sms import OUTBOX
from accounts.tests import fake_twilio_verify
from accounts.tests.conftest import signup_data

pytestmark = pytest.mark.django_db

fake_twilio = fake_twilio_verify.fake_twilio

SIGNUP = reverse("account_signup")
REQUEST_LOGIN_CODE = reverse("account_request_login_code")
RESET_PASSWORD = reverse("account_reset_password")
OWNER_MOBILE = "+14155550123"

HASHED: list[str] = []


class CountingHasher(MD5PasswordHasher):
    """MD5 (fast, as in the rest of the suite) that counts every password it hashes."""

    algorithm = "counting_md5"

    def encode(self, password, salt):
        HASHED.append(password)
        return super().encode(password, salt)


@pytest.fixture
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    HASHED.clear()
    return HASHED


@dataclass
class Work:
    """What one request cost before its response was handed to the visitor, and what it did after."""

    status: int
    location: str
    seconds: float
    hashes: int
    reads: int
    writes: int
    mails: int
    texts: int
    texts_after_response: int = 0


WRITES = ("INSERT", "UPDATE", "DELETE")
READS = ("SELECT", "DECLARE")  # psycopg reads big results through a server-side cursor
# Which paths look an account up by email or by number differs by a read or two (index lookups,
# well under a millisecond each); transaction bookkeeping (savepoints) is not counted.
READS_APART = 2


def answer(path: str, data: dict) -> Work:
    """POST `path` as a new visitor, through the whole middleware stack like the test client, but
    stop where a WSGI server would start sending the response; then close it as the server does
    once the response has gone out."""
    handler = BaseHandler()
    handler.load_middleware()
    request = RequestFactory().post(path, data)
    request._dont_enforce_csrf_checks = True
    HASHED.clear()
    texts, mails = len(OUTBOX), len(mail.outbox)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = handler.get_response(request)
        seconds = time.perf_counter() - started
    statements = [q["sql"].lstrip().split(" ", 1)[0].upper() for q in queries.captured_queries]
    work = Work(
        status=response.status_code,
        location=response.get("Location", ""),
        seconds=seconds,
        hashes=len(HASHED),
        reads=sum(s in READS for s in statements),
        writes=sum(s in WRITES for s in statements),
        mails=len(mail.outbox) - mails,
        texts=len(OUTBOX) - texts,
    )
    # As the test client does: the test's database connection must outlive the request.
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    work.texts_after_response = len(OUTBOX) - texts - work.texts
    return work


def same_work(*works: Work) -> None:
    first = works[0]
    for other in works[1:]:
        assert (other.status, other.location) == (first.status, first.location)
        assert (other.hashes, other.writes, other.mails, other.texts) == (
            first.hashes,
            first.writes,
            first.mails,
            first.texts,
        ), works
        assert abs(other.reads - first.reads) <= READS_APART, works


# --- Sign-up ----------------------------------------------------------------------------------
def test_signing_up_costs_the_same_for_a_new_a_taken_email_and_a_taken_mobile(owner, counting_hasher):
    new = answer(SIGNUP, signup_data(email="brand.new@example.com", phone="+1 415 555 0171"))
    taken_email = answer(SIGNUP, signup_data(email=owner.email, phone="+1 415 555 0172"))
    taken_mobile = answer(SIGNUP, signup_data(email="someone.else@example.com", phone="+1 415 555 0123"))

    same_work(new, taken_email, taken_mobile)
    assert new.location == reverse("account_verify_phone")
    assert new.hashes == 1  # the password, hashed once on every path
    assert new.texts == 0 and new.mails == 0  # nothing is sent while the visitor waits
    # Once the response is out, only the new account's mobile gets its code.
    assert (new.texts_after_response, taken_email.texts_after_response, taken_mobile.texts_after_response) == (1, 0, 0)
    assert OUTBOX[-1].phone == "+14155550171"
    # The taken email created nothing; the taken mobile made its account with the number
    # unverified (no code can reach it; the code page lets it change the number). Nothing of
    # the owner's changed.
    assert set(User.objects.values_list("email", flat=True)) == {
        owner.email,
        "brand.new@example.com",
        "someone.else@example.com",
    }
    assert not User.objects.get(email="someone.else@example.com").has_verified_mobile
    owner.refresh_from_db()
    assert owner.mobile_number == OWNER_MOBILE and owner.has_verified_mobile


def test_signing_up_with_a_taken_email_takes_as_long_as_a_new_account(owner, settings):
    """The real password hasher: the slow part a new account used to pay alone."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    answer(SIGNUP, signup_data(email="warm.up@example.com", phone="+1 415 555 0160"))
    new, taken = [], []
    for i in range(3):
        new.append(answer(SIGNUP, signup_data(email=f"new{i}@example.com", phone=f"+1 415 555 017{i}")).seconds)
        taken.append(answer(SIGNUP, signup_data(email=owner.email, phone=f"+1 415 555 018{i}")).seconds)

    # Before: about 15 ms for a taken email against 280 ms for a new account here (a ratio near
    # 20). Generous margins: this is a shared machine.
    assert 0.5 < median(taken) / median(new) < 2


# --- Log-in by code -------------------------------------------------------------------------------
def test_asking_for_a_login_code_costs_the_same_for_a_known_and_an_unknown_mobile(owner, counting_hasher):
    known = answer(REQUEST_LOGIN_CODE, {"phone": "+1 415 555 0123"})
    unknown = answer(REQUEST_LOGIN_CODE, {"phone": "+1 415 555 0199"})

    same_work(known, unknown)
    assert known.location == reverse("account_confirm_login_code")
    assert known.texts == 0 and known.hashes == 0
    assert (known.texts_after_response, unknown.texts_after_response) == (1, 0)
    assert OUTBOX[-1].phone == OWNER_MOBILE


def test_asking_for_a_login_code_costs_the_same_for_a_known_and_an_unknown_email(owner, counting_hasher):
    known = answer(REQUEST_LOGIN_CODE, {"email": owner.email})
    unknown = answer(REQUEST_LOGIN_CODE, {"email": "nobody@example.com"})

    same_work(known, unknown)
    # One email either way: the code to the account, or "no account uses this address".
    assert known.mails == 1 and known.texts == 0
    assert [m.to for m in mail.outbox] == [[owner.email], ["nobody@example.com"]]


def test_a_known_mobile_answers_as_fast_as_an_unknown_one_when_twilio_is_slow(owner, settings, fake_twilio):
    settings.TWILIO_ACCOUNT_SID = fake_twilio.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio.auth_token
    settings.TWILIO_VERIFY_SERVICE_SID = fake_twilio.service_sid
    settings.TWILIO_VERIFY_BASE_URL = fake_twilio.base_url
    accounts.sms._twilio_sender.cache_clear()
    try:
        fake_twilio.delay_next(1.0)
        known = answer(REQUEST_LOGIN_CODE, {"phone": OWNER_MOBILE})
        unknown = answer(REQUEST_LOGIN_CODE, {"phone": "+14155550199"})
    finally:
        accounts.sms._twilio_sender.cache_clear()

    # Before, the known number's answer waited for Twilio (a second here); the unknown one did not.
    assert known.seconds < 0.5 and unknown.seconds < 0.5
    [created] = fake_twilio.created()  # texted all the same, once the answer was out
    assert created.form["To"] == OWNER_MOBILE


# --- Password reset ---------------------------------------------------------------------------------
def test_a_password_reset_costs_the_same_for_a_known_and_an_unknown_email(owner, counting_hasher):
    known = answer(RESET_PASSWORD, {"email": owner.email})
    unknown = answer(RESET_PASSWORD, {"email": "nobody@example.com"})

    same_work(known, unknown)
    assert known.location == reverse("account_reset_password_done")
    assert known.mails == 1 and known.hashes == 0
    assert [m.to for m in mail.outbox] == [[owner.email], ["nobody@example.com"]]
