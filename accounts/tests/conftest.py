"""Fixtures for the accounts tests: the SMS outbox, a browser's walk through allauth's pages,
and a clock that can be moved forward."""

import re
import time
from unittest import mock

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from accounts.sms import OUTBOX

PASSWORD = "a-long-and-unusual-passphrase-42"
EMAIL_CODE = re.compile(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", re.MULTILINE)


@pytest.fixture(autouse=True)
def sms_outbox():
    """The codes the console sender "texted", newest last; empty at the start of each test."""
    OUTBOX.clear()
    yield OUTBOX
    OUTBOX.clear()


@pytest.fixture
def owner(user):
    """The root `user` (owner@example.com, verified mobile +14155550123) with its email address
    verified too, as an account that finished signing up has it (so logging in asks for the
    texted code and nothing else)."""
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


class Clock:
    """Moves `time.time` forward: allauth stamps codes, rate limits and trust cookies with it."""

    def __init__(self):
        self.offset = 0.0
        self._real = time.time

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def __call__(self) -> float:
        return self._real() + self.offset


@pytest.fixture
def clock():
    clock = Clock()
    with mock.patch("time.time", clock):
        yield clock


def last_sms(phone: str | None = None) -> str:
    """The newest code texted (to `phone`, if given)."""
    sent = [s for s in OUTBOX if phone is None or s.phone == phone]
    assert sent, f"no code was texted{' to ' + phone if phone else ''}"
    return sent[-1].code


def last_email_code() -> str:
    assert mail.outbox, "no email was sent"
    match = EMAIL_CODE.search(mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1)


def signup_data(**overrides) -> dict:
    data = {
        "email": "new.workspace@example.com",
        "phone": "+1 415 555 0177",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company_name": "Widgets Ltd",
        "is_adult": "on",
        "accept_terms": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def post_signup(client, **overrides):
    return client.post(reverse("account_signup"), signup_data(**overrides))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def complete_signup(client, **overrides):
    """Sign up, enter the texted code and the emailed code: the account is open."""
    response = post_signup(client, **overrides)
    assert response["Location"] == reverse("account_verify_phone"), response
    response = client.post(reverse("account_verify_phone"), {"code": last_sms()})
    assert response["Location"] == reverse("account_email_verification_sent"), response
    response = client.post(reverse("account_email_verification_sent"), {"code": last_email_code()})
    assert response["Location"] == reverse("dashboard"), response
    return response


def log_in(client, login="owner@example.com", password="correct horse battery", *, trust=False):
    """Password, the texted code, then the trust-this-browser question, answered with `trust`."""
    response = client.post(reverse("account_login"), {"login": login, "password": password})
    assert response["Location"] == reverse("account_confirm_login_code"), response
    response = client.post(reverse("account_confirm_login_code"), {"code": last_sms()})
    assert response["Location"] == reverse("mfa_trust"), response
    response = client.post(reverse("mfa_trust"), {"action": "trust" if trust else "skip"})
    assert response["Location"] == reverse("dashboard"), response
    return response
