"""Signing up with a mobile number that another account already verified: no code can come, so the
code page says what to do (log in, or use a different number) and lets the number be changed in
place, without ever saying whether the number (or the email address) has an account."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from accounts.tests.conftest import last_email_code, last_sms, post_signup

pytestmark = pytest.mark.django_db

VERIFY_PHONE = reverse("account_verify_phone")
OWNER_MOBILE = "+14155550123"  # the `owner` fixture's verified mobile
FREE_MOBILE = "+14155550188"
NO_CODE_NOTE = "No code is sent to a number that is already used by a Clozit account."


def page_shape(response, *variables: str) -> str:
    """The page as a person sees it, with what they typed and the per-session tokens blanked."""
    text = re.sub(r"[A-Za-z0-9]{64}", "<token>", response.content.decode())
    for variable in variables:
        text = text.replace(variable, "<typed>")
    return text


def change_to(client, phone: str):
    return client.post(VERIFY_PHONE, {"action": "change", "phone": phone})


def test_the_code_page_says_what_to_do_when_no_code_comes(client, owner, sms_outbox):
    post_signup(client, email="someone.else@example.com", phone="+1 415 555 0123")

    page = client.get(VERIFY_PHONE).content.decode()

    assert not sms_outbox  # nothing is texted to the owner's phone
    assert "Didn't get a code?" in page
    assert NO_CODE_NOTE in page
    assert 'form="logout-from-stage"' in page and "log in instead" in page  # back to the login page
    assert "Use a different number" in page and 'name="action" value="change"' in page


def test_a_signup_with_a_number_verified_elsewhere_can_change_it_and_finish(client, owner, sms_outbox):
    post_signup(client, email="someone.else@example.com", phone="+1 415 555 0123")
    newcomer = User.objects.get(email="someone.else@example.com")
    assert newcomer.mobile_number == OWNER_MOBILE and not newcomer.has_verified_mobile

    response = change_to(client, "+1 415 555 0188")

    assert (response.status_code, response["Location"]) == (302, VERIFY_PHONE)
    assert [sent.phone for sent in sms_outbox] == [FREE_MOBILE]
    assert FREE_MOBILE in client.get(VERIFY_PHONE).content.decode()
    response = client.post(VERIFY_PHONE, {"code": last_sms(FREE_MOBILE)})
    assert response["Location"] == reverse("account_email_verification_sent")
    response = client.post(reverse("account_email_verification_sent"), {"code": last_email_code()})
    assert response["Location"] == reverse("dashboard")
    newcomer.refresh_from_db()
    assert newcomer.mobile_number == FREE_MOBILE and newcomer.has_verified_mobile
    owner.refresh_from_db()
    assert owner.mobile_number == OWNER_MOBILE and owner.has_verified_mobile


def test_a_mistyped_number_can_be_corrected_in_place(client, sms_outbox):
    post_signup(client, email="new.workspace@example.com", phone="+1 415 555 0177")
    sms_outbox.clear()

    change_to(client, "+1 415 555 0188")

    assert [sent.phone for sent in sms_outbox] == [FREE_MOBILE]
    assert User.objects.get(email="new.workspace@example.com").mobile_number == FREE_MOBILE


def test_a_bad_new_number_is_refused_next_to_the_field_and_kept(client, sms_outbox):
    post_signup(client, email="new.workspace@example.com", phone="+1 415 555 0177")
    sms_outbox.clear()

    response = change_to(client, "12")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Enter a mobile number with its country code" in page or "This is not a valid phone number" in page
    assert 'value="12"' in page
    assert "<details open" in page  # the change form stays open, with its error
    assert not sms_outbox


def test_changing_the_number_looks_the_same_whoever_owns_either_number(owner, sms_outbox, clock):
    """Three sign-ups: a new one, one with a taken email, one with a taken mobile. Each changes
    its number, to a free one and then to the owner's: every page looks the same, and only the
    accounts that exist get codes, only to free numbers."""
    new, taken_email, taken_mobile = Client(), Client(), Client()
    post_signup(new, email="brand.new@example.com", phone="+1 415 555 0171")
    post_signup(taken_email, email=owner.email, phone="+1 415 555 0172")
    post_signup(taken_mobile, email="someone.else@example.com", phone="+1 415 555 0123")
    typed = {new: "+14155550171", taken_email: "+14155550172", taken_mobile: OWNER_MOBILE}
    first = {client: page_shape(client.get(VERIFY_PHONE), typed[client]) for client in typed}
    assert first[new] == first[taken_email] == first[taken_mobile]

    for client, free in ((new, "+1 415 555 0181"), (taken_email, "+1 415 555 0182"), (taken_mobile, "+1 415 555 0183")):
        sms_outbox.clear()
        response = change_to(client, free)
        assert (response.status_code, response["Location"]) == (302, VERIFY_PHONE)
        e164 = "+1" + free.replace(" ", "")[2:]
        assert page_shape(client.get(VERIFY_PHONE), e164) == first[new]
        # Codes go to numbers of accounts that exist: the taken email made none.
        assert [sent.phone for sent in sms_outbox] == ([] if client is taken_email else [e164])

    # Then each changes to the owner's verified number: nothing is texted, every page alike.
    sms_outbox.clear()
    clock.advance(31)  # one code per number per 30 s, whoever asks: the taken sign-up asked for this one
    second = {}
    for client in typed:
        clock.advance(31)
        response = change_to(client, "+1 415 555 0123")
        assert (response.status_code, response["Location"]) == (302, VERIFY_PHONE)
        second[client] = page_shape(client.get(VERIFY_PHONE), OWNER_MOBILE)
    assert second[new] == second[taken_email] == second[taken_mobile]
    assert not sms_outbox
    assert User.objects.get(email="brand.new@example.com").mobile_number == "+14155550181"


def test_a_change_does_the_same_work_whoever_owns_the_number(owner, sms_outbox):
    """The same database writes whether the new number is free or taken, and whether there is an
    account behind the sign-up at all (what a stopwatch could otherwise tell apart)."""

    def writes_of_a_change(signup: dict, phone: str) -> int:
        client = Client()
        post_signup(client, **signup)
        client.get(VERIFY_PHONE)
        with CaptureQueriesContext(connection) as queries:
            change_to(client, phone)
        return sum(q["sql"].lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE") for q in queries)

    free = writes_of_a_change({"email": "a@example.com", "phone": "+1 415 555 0171"}, "+1 415 555 0181")
    taken = writes_of_a_change({"email": "b@example.com", "phone": "+1 415 555 0172"}, "+1 415 555 0123")
    no_account = writes_of_a_change({"email": owner.email, "phone": "+1 415 555 0173"}, "+1 415 555 0183")
    assert free == taken == no_account
