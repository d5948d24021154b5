"""Identity flows as a person meets them: proving the mobile, codes that expire or die after
wrong tries, resends and rate limits, enumeration prevention, the texted second step and
"trust this browser", logging in by code, password reset, changing email and mobile, and
accounts that were terminated or suspended."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import User
from accounts.tests.conftest import (
    PASSWORD,
    last_email_code,
    last_sms,
    log_in,
    messages_of,
    post_signup,
)

pytestmark = pytest.mark.django_db

OWNER_MOBILE = "+14155550123"  # the `owner` fixture's verified mobile
NEW_MOBILE = "+14155550177"  # what post_signup() enters, "+1 415 555 0177"
VERIFY_PHONE = reverse("account_verify_phone")
CONFIRM_LOGIN_CODE = reverse("account_confirm_login_code")
INCORRECT_CODE = "Incorrect code."
TOO_MANY_ATTEMPTS = "Too many failed login attempts. Try again later."
BE_PATIENT = "Be patient, you are sending too many requests."
SMS_LIMIT = "You have asked for too many codes. Wait an hour and try again."
PHONE_TAKEN = "A user is already registered with this phone number."


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


def wrong(code: str) -> str:
    """A six-digit code that is not `code`."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def page_shape(response, *phones: str) -> str:
    """The page as a person sees it, with the numbers and the per-session tokens blanked."""
    text = re.sub(r"[A-Za-z0-9]{64}", "<token>", response.content.decode())
    for phone in phones:
        text = text.replace(phone, "<phone>")
    return text


def other_account(*, email="other@example.com", mobile="+14155550188", verified=True) -> User:
    return User.objects.create_user(
        email=email,
        password="another-long-passphrase-7",
        mobile_number=mobile,
        mobile_verified_at=timezone.now() if verified else None,
    )


# --- The mobile must be verified ---------------------------------------------------------


@pytest.fixture
def no_mobile_user(db):
    """An account that got in without a mobile (as a Google or Facebook sign-up does)."""
    user = User.objects.create_user(email="nomobile@example.com", password=PASSWORD)
    services.account_created(user=user)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


APP_PAGES = ["/dashboard/", "/agents/", "/campaigns/"]


def log_in_with_email_code(client, user):
    """An account with no mobile at all gets its second-step code by email."""
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response["Location"] == reverse("account_confirm_login_code"), response
    response = client.post(reverse("account_confirm_login_code"), {"code": last_email_code()})
    if response["Location"] == reverse("mfa_trust"):
        response = client.post(reverse("mfa_trust"), {"action": "skip"})
    assert signed_in(client)
    return response


def test_without_a_verified_mobile_every_page_leads_to_adding_one(client, no_mobile_user, sms_outbox):
    response = log_in_with_email_code(client, no_mobile_user)
    assert not sms_outbox  # no mobile yet: the second step came by email

    for page in [response["Location"], *APP_PAGES]:
        gated = client.get(page)
        assert gated.status_code == 302, page
        assert gated["Location"] == reverse("account_change_phone"), page

    # The number entered is texted a code; until it is entered the pages stay closed.
    response = client.post(reverse("account_change_phone"), {"phone": "+1 415 555 0166"})
    assert response["Location"] == VERIFY_PHONE
    assert [sent.phone for sent in sms_outbox] == ["+14155550166"]
    for page in APP_PAGES:
        assert client.get(page)["Location"] == reverse("account_change_phone"), page

    response = client.post(VERIFY_PHONE, {"code": last_sms()})
    assert response.status_code == 302

    no_mobile_user.refresh_from_db()
    assert no_mobile_user.mobile_number == "+14155550166" and no_mobile_user.has_verified_mobile
    for page in APP_PAGES:
        assert client.get(page).status_code == 200, page


def test_an_abandoned_signup_cannot_get_in_until_the_mobile_is_verified(client, clock, sms_outbox):
    post_signup(client)  # ... and the browser is closed before the code is entered
    clock.advance(60)
    user = User.objects.get()
    assert not signed_in(client)

    browser = Client()
    for page in APP_PAGES:
        assert browser.get(page)["Location"].startswith(reverse("account_login")), page

    # Logging in with the password texts the unverified number a fresh code, and stops there.
    sms_outbox.clear()
    response = browser.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response["Location"] == VERIFY_PHONE
    assert [sent.phone for sent in sms_outbox] == [NEW_MOBILE]
    assert not signed_in(browser)
    assert browser.get("/dashboard/")["Location"].startswith(reverse("account_login"))

    response = browser.post(VERIFY_PHONE, {"code": last_sms()})
    assert response["Location"] == reverse("account_email_verification_sent")
    user.refresh_from_db()
    assert user.has_verified_mobile


# --- Wrong codes, old codes ----------------------------------------------------------------


def test_five_wrong_signup_codes_kill_the_code_and_the_user_starts_again(client, clock, sms_outbox):
    post_signup(client)
    code = last_sms()

    for attempt in range(4):
        response = client.post(VERIFY_PHONE, {"code": wrong(code)})
        assert response.status_code == 200, attempt
        assert INCORRECT_CODE in response.content.decode()

    response = client.post(VERIFY_PHONE, {"code": wrong(code)})
    assert response["Location"] == reverse("account_login")
    assert TOO_MANY_ATTEMPTS in client.get(response["Location"]).content.decode()

    # The right code no longer helps.
    response = client.post(VERIFY_PHONE, {"code": code})
    assert response["Location"] == reverse("account_login")
    user = User.objects.get()
    assert not user.has_verified_mobile and not signed_in(client)

    # Starting again (logging in) at once: the number had a code seconds ago, so none is sent
    # yet and the page says why; half a minute later "Send a new code" sends one.
    sms_outbox.clear()
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response["Location"] == VERIFY_PHONE
    assert BE_PATIENT in client.get(VERIFY_PHONE).content.decode()
    assert not sms_outbox
    clock.advance(31)
    client.post(VERIFY_PHONE, {"action": "resend"})
    assert [sent.phone for sent in sms_outbox] == [NEW_MOBILE]
    response = client.post(VERIFY_PHONE, {"code": last_sms()})
    assert response["Location"] == reverse("account_email_verification_sent")
    user.refresh_from_db()
    assert user.has_verified_mobile


def test_five_wrong_login_codes_kill_the_code(client, owner, sms_outbox):
    client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    code = last_sms(OWNER_MOBILE)

    for attempt in range(4):
        response = client.post(CONFIRM_LOGIN_CODE, {"code": wrong(code)})
        assert response.status_code == 200, attempt
        assert INCORRECT_CODE in response.content.decode()
    response = client.post(CONFIRM_LOGIN_CODE, {"code": wrong(code)})
    assert response["Location"] == reverse("account_login")
    assert TOO_MANY_ATTEMPTS in client.get(response["Location"]).content.decode()

    response = client.post(CONFIRM_LOGIN_CODE, {"code": code})
    assert response.status_code == 302 and response["Location"] != reverse("mfa_trust")
    assert not signed_in(client)
    assert client.get("/dashboard/")["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize(("minutes", "accepted"), [(9.9, True), (10.1, False)])
def test_a_signup_code_lasts_ten_minutes(client, clock, minutes, accepted):
    post_signup(client)
    code = last_sms()

    clock.advance(minutes * 60)
    response = client.post(VERIFY_PHONE, {"code": code})

    user = User.objects.get()
    if accepted:
        assert response["Location"] == reverse("account_email_verification_sent")
        assert user.has_verified_mobile
    else:
        assert response["Location"] == reverse("account_login")
        assert not user.has_verified_mobile and not signed_in(client)


@pytest.mark.parametrize(("minutes", "accepted"), [(9.9, True), (10.1, False)])
def test_a_login_code_lasts_ten_minutes(client, owner, clock, minutes, accepted):
    client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    code = last_sms(OWNER_MOBILE)

    clock.advance(minutes * 60)
    response = client.post(CONFIRM_LOGIN_CODE, {"code": code})

    if accepted:
        assert response["Location"] == reverse("mfa_trust")
    else:
        assert response["Location"] != reverse("mfa_trust")
        assert not signed_in(client)
        assert client.get("/dashboard/")["Location"].startswith(reverse("account_login"))


# --- Resending codes ---------------------------------------------------------------------


def test_the_verify_page_offers_a_new_code_which_replaces_the_old_one(client, clock, sms_outbox):
    post_signup(client)
    first = last_sms()
    page = client.get(VERIFY_PHONE).content.decode()
    assert 'form="resend"' in page and "Send a new code" in page

    # Straight away: one code per number per 30 seconds.
    response = client.post(VERIFY_PHONE, {"action": "resend"})
    assert response["Location"] == VERIFY_PHONE
    assert BE_PATIENT in client.get(VERIFY_PHONE).content.decode()
    assert len(sms_outbox) == 1

    clock.advance(31)
    response = client.post(VERIFY_PHONE, {"action": "resend"})
    assert response["Location"] == VERIFY_PHONE
    assert [sent.phone for sent in sms_outbox] == [NEW_MOBILE, NEW_MOBILE]
    second = last_sms()
    assert "A verification code has been sent to +14155550177." in client.get(VERIFY_PHONE).content.decode()

    if second != first:
        assert client.post(VERIFY_PHONE, {"code": first}).status_code == 200
    response = client.post(VERIFY_PHONE, {"code": second})
    assert response["Location"] == reverse("account_email_verification_sent")


def test_resends_of_a_signup_code_are_limited(client, clock, sms_outbox):
    post_signup(client)

    for _ in range(2):
        clock.advance(31)
        client.post(VERIFY_PHONE, {"action": "resend"})
    assert len(sms_outbox) == 3

    # No more offers; asking anyway is taken as a (wrong) code, and sends nothing.
    page = client.get(VERIFY_PHONE).content.decode()
    assert "Send a new code" not in page
    clock.advance(31)
    client.post(VERIFY_PHONE, {"action": "resend"})
    assert len(sms_outbox) == 3


def test_a_login_code_can_be_sent_again(client, owner, sms_outbox):
    client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    first = last_sms()
    assert "Send a new code" in client.get(CONFIRM_LOGIN_CODE).content.decode()

    response = client.post(CONFIRM_LOGIN_CODE, {"action": "resend"})

    assert response["Location"] == CONFIRM_LOGIN_CODE
    assert [sent.phone for sent in sms_outbox] == [OWNER_MOBILE, OWNER_MOBILE]
    second = last_sms()
    if second != first:
        assert client.post(CONFIRM_LOGIN_CODE, {"code": first}).status_code == 200
    assert client.post(CONFIRM_LOGIN_CODE, {"code": second})["Location"] == reverse("mfa_trust")


# --- Rate limits on sending codes ---------------------------------------------------------


def test_one_code_per_number_per_30_seconds_even_across_signups(client, clock, sms_outbox):
    post_signup(client)
    assert len(sms_outbox) == 1

    # Someone else signs up with the same (still unverified) number at once.
    browser = Client()
    response = post_signup(browser, email="second@example.com")

    assert response.status_code == 302
    assert response["Location"] == VERIFY_PHONE
    assert BE_PATIENT in browser.get(VERIFY_PHONE).content.decode()
    assert len(sms_outbox) == 1  # nothing sent

    # Half a minute later that person can ask again.
    clock.advance(31)
    browser.post(VERIFY_PHONE, {"action": "resend"})
    assert len(sms_outbox) == 2
    second_user = User.objects.get(email="second@example.com")
    assert browser.post(VERIFY_PHONE, {"code": last_sms()})["Location"] == reverse("account_email_verification_sent")
    second_user.refresh_from_db()
    assert second_user.has_verified_mobile


def test_ten_codes_per_hour_from_one_ip_address(client, sms_outbox, settings):
    assert "10/h/ip" in settings.ACCOUNT_RATE_LIMITS["verify_phone"]
    for n in range(10):
        response = post_signup(Client(), email=f"person{n}@example.com", phone=f"+1415555{150 + n:04d}")
        assert response["Location"] == VERIFY_PHONE
    assert len(sms_outbox) == 10

    browser = Client()
    response = post_signup(browser, email="eleventh@example.com", phone="+14155550190")

    assert response["Location"] == VERIFY_PHONE
    assert BE_PATIENT in browser.get(VERIFY_PHONE).content.decode()
    assert len(sms_outbox) == 10

    # Another address is not affected.
    other = Client(REMOTE_ADDR="192.0.2.7")
    post_signup(other, email="elsewhere@example.com", phone="+14155550191")
    assert sms_outbox[-1].phone == "+14155550191"


def test_ten_codes_per_hour_per_account_whatever_asks_for_them(client, owner, clock, settings, sms_outbox):
    assert settings.ACCOUNT_RATE_LIMITS["sms_per_account"] == "10/h/key"

    # Three logins, each with its code and two resends: nine codes.
    for _ in range(3):
        browser = Client()
        browser.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
        browser.post(CONFIRM_LOGIN_CODE, {"action": "resend"})
        browser.post(CONFIRM_LOGIN_CODE, {"action": "resend"})
    assert len(sms_outbox) == 9

    browser = Client()
    browser.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    assert len(sms_outbox) == 10

    response = browser.post(CONFIRM_LOGIN_CODE, {"action": "resend"})

    assert len(sms_outbox) == 10
    shown = messages_of(browser.get(response["Location"]))
    assert SMS_LIMIT in shown
    assert not [m for m in shown[shown.index(SMS_LIMIT) :] if "has been sent" in m]  # no contradiction

    # Logging in again does not get round it; an hour later codes flow again.
    again = Client()
    response = again.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    assert len(sms_outbox) == 10
    assert SMS_LIMIT in messages_of(again.get(response["Location"]))
    clock.advance(3601)
    Client().post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    assert len(sms_outbox) == 11


def test_login_codes_for_one_number_are_limited_to_three_a_minute(client, owner, sms_outbox):
    for _ in range(3):
        response = Client().post(reverse("account_request_login_code"), {"phone": OWNER_MOBILE})
        assert response["Location"] == CONFIRM_LOGIN_CODE
    assert len(sms_outbox) == 3

    response = client.post(reverse("account_request_login_code"), {"phone": OWNER_MOBILE})

    assert response.status_code == 200
    assert TOO_MANY_ATTEMPTS in response.content.decode()
    assert len(sms_outbox) == 3


# --- Enumeration: the pages never say whether an email or a number has an account ----------


def test_signing_up_with_an_email_that_has_an_account_looks_like_a_fresh_signup(client, owner, sms_outbox, mailoutbox):
    fresh = Client()
    fresh_response = post_signup(fresh, email="brand.new@example.com", phone="+1 415 555 0171")
    fresh_page = fresh.get(VERIFY_PHONE)
    sms_outbox.clear()

    taken_response = post_signup(client, email=owner.email, phone="+1 415 555 0172")
    taken_page = client.get(VERIFY_PHONE)

    assert (taken_response.status_code, taken_response["Location"]) == (302, VERIFY_PHONE)
    assert (fresh_response.status_code, fresh_response["Location"]) == (302, VERIFY_PHONE)
    assert page_shape(taken_page, "+14155550172") == page_shape(fresh_page, "+14155550171")
    # ... yet no second account, no code, and the owner's account is untouched.
    assert User.objects.filter(email=owner.email).count() == 1
    assert not User.objects.filter(mobile_number="+14155550172").exists()
    assert not sms_outbox and not mailoutbox
    assert client.post(VERIFY_PHONE, {"code": "123456"}).status_code == 200
    assert not signed_in(client)


def test_signing_up_with_a_number_verified_elsewhere_looks_like_a_fresh_signup(client, owner, sms_outbox):
    fresh = Client()
    post_signup(fresh, email="brand.new@example.com", phone="+1 415 555 0171")
    fresh_page = fresh.get(VERIFY_PHONE)
    sms_outbox.clear()

    response = post_signup(client, email="someone.else@example.com", phone="+1 415 555 0123")

    assert (response.status_code, response["Location"]) == (302, VERIFY_PHONE)
    assert page_shape(client.get(VERIFY_PHONE), OWNER_MOBILE) == page_shape(fresh_page, "+14155550171")
    assert not sms_outbox  # nothing is texted to the owner's phone
    # The account is made, with the number unverified (it can change it on the code page:
    # accounts/tests/test_signup_mobile_change.py); the owner keeps the number.
    newcomer = User.objects.get(email="someone.else@example.com")
    assert newcomer.mobile_number == OWNER_MOBILE and not newcomer.has_verified_mobile
    owner.refresh_from_db()
    assert owner.has_verified_mobile and owner.mobile_number == OWNER_MOBILE


def test_asking_for_a_login_code_for_an_unknown_number_looks_the_same(client, owner, sms_outbox):
    known = Client()
    known_response = known.post(reverse("account_request_login_code"), {"phone": "+1 415 555 0123"})
    known_page = known.get(CONFIRM_LOGIN_CODE)
    assert [sent.phone for sent in sms_outbox] == [OWNER_MOBILE]
    sms_outbox.clear()

    unknown_response = client.post(reverse("account_request_login_code"), {"phone": "+1 415 555 0199"})
    unknown_page = client.get(CONFIRM_LOGIN_CODE)

    assert (unknown_response.status_code, unknown_response["Location"]) == (
        known_response.status_code,
        known_response["Location"],
    )
    assert page_shape(unknown_page, "+14155550199") == page_shape(known_page, OWNER_MOBILE)
    assert not sms_outbox
    assert client.post(CONFIRM_LOGIN_CODE, {"code": "123456"}).status_code == 200
    assert not signed_in(client)


# --- A verified number belongs to one account ----------------------------------------------


def test_a_number_verified_by_one_account_cannot_then_be_verified_by_another(client, clock, sms_outbox):
    # Two sign-ups with the same number, neither verified yet (allowed: nobody owns it).
    post_signup(client, email="first@example.com")
    first_code = last_sms()
    clock.advance(31)
    second = Client()
    post_signup(second, email="second@example.com")
    second_code = last_sms()

    assert client.post(VERIFY_PHONE, {"code": first_code})["Location"] == reverse("account_email_verification_sent")

    response = second.post(VERIFY_PHONE, {"code": second_code})

    assert response.status_code == 200
    assert PHONE_TAKEN in response.content.decode()
    first, later = User.objects.get(email="first@example.com"), User.objects.get(email="second@example.com")
    assert first.has_verified_mobile and first.mobile_number == NEW_MOBILE
    assert not later.has_verified_mobile


def test_the_database_keeps_one_verified_owner_per_number(owner):
    other = other_account(mobile=OWNER_MOBILE, verified=False)

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=other.pk).update(mobile_verified_at=timezone.now())

    with pytest.raises(services.AccountError, match="already in use on another account"):
        services.mobile_verified(user=other, phone=OWNER_MOBILE)
    other.refresh_from_db()
    assert not other.has_verified_mobile


# --- The second step after a password --------------------------------------------------------


def test_after_the_password_a_code_is_texted_to_the_verified_mobile_not_emailed(client, owner, sms_outbox, mailoutbox):
    response = client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})

    assert response["Location"] == CONFIRM_LOGIN_CODE
    assert not signed_in(client)
    assert [sent.phone for sent in sms_outbox] == [OWNER_MOBILE]
    assert not mailoutbox
    page = client.get(CONFIRM_LOGIN_CODE).content.decode()
    assert "A login code has been sent to +14155550123." in page
    assert client.get("/dashboard/")["Location"].startswith(reverse("account_login"))

    response = client.post(CONFIRM_LOGIN_CODE, {"code": last_sms()})
    assert response["Location"] == reverse("mfa_trust")
    response = client.post(reverse("mfa_trust"), {"action": "skip"})
    assert response["Location"] == reverse("dashboard")
    assert signed_in(client)


@pytest.mark.parametrize("typed", ["+14155550123", "+1 415 555 0123", "(415) 555-0123"])
def test_the_mobile_number_and_password_log_in_too(client, owner, sms_outbox, typed):
    response = client.post(reverse("account_login"), {"login": typed, "password": "correct horse battery"})

    assert response["Location"] == CONFIRM_LOGIN_CODE
    assert [sent.phone for sent in sms_outbox] == [OWNER_MOBILE]


def test_a_trusted_browser_skips_the_code_next_time(client, owner, sms_outbox):
    client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    client.post(CONFIRM_LOGIN_CODE, {"code": last_sms()})
    page = client.get(reverse("mfa_trust")).content.decode()
    assert 'value="trust"' in page
    client.post(reverse("mfa_trust"), {"action": "trust"})
    client.post(reverse("account_logout"))
    sms_outbox.clear()

    response = client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})

    assert response["Location"] == reverse("dashboard")
    assert signed_in(client) and not sms_outbox

    # Another browser is still asked.
    other = Client()
    response = other.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    assert response["Location"] == CONFIRM_LOGIN_CODE


def test_not_trusting_the_browser_asks_for_a_code_again(client, owner, sms_outbox):
    log_in(client, trust=False)
    client.post(reverse("account_logout"))
    sms_outbox.clear()

    response = client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})

    assert response["Location"] == CONFIRM_LOGIN_CODE
    assert not signed_in(client) and len(sms_outbox) == 1


def test_trust_ends_after_30_days(client, owner, clock, sms_outbox):
    log_in(client, trust=True)
    client.post(reverse("account_logout"))

    clock.advance(29 * 24 * 3600)
    response = client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    assert response["Location"] == reverse("dashboard")
    client.post(reverse("account_logout"))

    clock.advance(2 * 24 * 3600)
    sms_outbox.clear()
    response = client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    assert response["Location"] == CONFIRM_LOGIN_CODE
    assert len(sms_outbox) == 1


# --- Logging in with a code alone -----------------------------------------------------------


def test_log_in_with_the_mobile_number_and_a_texted_code(client, owner, sms_outbox):
    page = client.get(reverse("account_request_login_code")).content.decode()
    assert 'name="phone"' in page

    response = client.post(reverse("account_request_login_code"), {"phone": "(415) 555-0123"})

    assert response["Location"] == CONFIRM_LOGIN_CODE
    assert [sent.phone for sent in sms_outbox] == [OWNER_MOBILE]
    assert not signed_in(client)
    response = client.post(CONFIRM_LOGIN_CODE, {"code": last_sms()})
    assert response["Location"] == reverse("dashboard")
    assert str(client.session[SESSION_KEY]) == str(owner.pk)
    assert client.get(reverse("dashboard")).status_code == 200


def test_an_unverified_number_cannot_be_used_to_log_in(client, sms_outbox):
    other_account(mobile="+14155550188", verified=False)

    response = client.post(reverse("account_request_login_code"), {"phone": "+14155550188"})

    assert response["Location"] == CONFIRM_LOGIN_CODE  # same as for any number ...
    assert not sms_outbox  # ... but nothing is sent


# --- Email ------------------------------------------------------------------------------------


def test_an_unconfirmed_email_keeps_the_account_closed_until_its_code_is_entered(client, clock, sms_outbox, mailoutbox):
    post_signup(client)
    client.post(VERIFY_PHONE, {"code": last_sms()})
    assert len(mailoutbox) == 1
    assert not signed_in(client)
    assert client.get("/dashboard/")["Location"].startswith(reverse("account_login"))

    # A wrong email code is refused.
    response = client.post(reverse("account_email_verification_sent"), {"code": "AAAA-AAAA"})
    assert response.status_code == 200 and INCORRECT_CODE in response.content.decode()
    assert not signed_in(client)

    # Coming back later: password, texted code, and then the email must still be confirmed.
    # (Within 10 s of an email code allauth refuses the password with "Too many failed login
    # attempts", its limit on verification emails.)
    clock.advance(11)
    browser = Client()
    response = browser.post(reverse("account_login"), {"login": "new.workspace@example.com", "password": PASSWORD})
    response = browser.post(response["Location"], {"code": last_sms()})
    assert response["Location"] == reverse("account_email_verification_sent")
    assert not signed_in(browser)
    response = browser.post(response["Location"], {"code": last_email_code()})
    assert response.status_code == 302
    assert EmailAddress.objects.get(email="new.workspace@example.com").verified


def test_password_reset_by_email(client, owner, mailoutbox, sms_outbox):
    log_in(client, trust=True)  # a trusted browser ...
    client.post(reverse("account_logout"))
    mailoutbox.clear()

    response = client.post(reverse("account_reset_password"), {"email": "Owner@Example.com"})
    assert response["Location"] == reverse("account_reset_password_done")
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [owner.email]
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mailoutbox[0].body).group(1)

    response = client.get(link)
    response = client.post(
        response["Location"], {"password1": "a-brand-new-passphrase-99", "password2": "a-brand-new-passphrase-99"}
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("a-brand-new-passphrase-99")

    assert (
        client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"}).status_code
        == 200
    )
    # ... is asked for the code again: the trust was given to the old password.
    sms_outbox.clear()
    response = client.post(reverse("account_login"), {"login": owner.email, "password": "a-brand-new-passphrase-99"})
    assert response["Location"] == CONFIRM_LOGIN_CODE
    assert [sent.phone for sent in sms_outbox] == [OWNER_MOBILE]


def test_password_reset_for_an_unknown_email_looks_the_same(client, owner, mailoutbox):
    known = client.post(reverse("account_reset_password"), {"email": owner.email})
    unknown = Client().post(reverse("account_reset_password"), {"email": "nobody@example.com"})

    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    # The stranger's mailbox gets no reset link.
    to_nobody = [m for m in mailoutbox if m.to == ["nobody@example.com"]]
    assert all("/password/reset/key/" not in m.body for m in to_nobody)


def test_change_email_after_confirming_the_new_address(client, owner, mailoutbox, sms_outbox):
    log_in(client)
    mailoutbox.clear()

    response = client.post(reverse("account_email"), {"email": "new.address@example.com", "action_add": ""})
    assert response["Location"] == reverse("account_email_verification_sent")
    assert mailoutbox[-1].to == ["new.address@example.com"]
    response = client.post(response["Location"], {"code": last_email_code()})
    assert response.status_code == 302
    assert EmailAddress.objects.get(email="new.address@example.com").verified

    response = client.post(reverse("account_email"), {"email": "new.address@example.com", "action_primary": ""})
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.email == "new.address@example.com"

    client.post(reverse("account_logout"))
    sms_outbox.clear()
    response = client.post(
        reverse("account_login"), {"login": "new.address@example.com", "password": "correct horse battery"}
    )
    assert response["Location"] == CONFIRM_LOGIN_CODE


def test_an_email_of_another_account_cannot_be_added(client, owner, mailoutbox):
    taken = other_account(email="taken@example.com")
    EmailAddress.objects.create(user=taken, email=taken.email, verified=True, primary=True)
    log_in(client)
    mailoutbox.clear()

    response = client.post(reverse("account_email"), {"email": "taken@example.com", "action_add": ""})

    # It looks like any other address (a code is on its way) ...
    assert response["Location"] == reverse("account_email_verification_sent")
    assert [m.to for m in mailoutbox] == [["taken@example.com"]]
    # ... but even the mailbox's owner cannot confirm it for this account.
    response = client.post(response["Location"], {"code": last_email_code()})
    assert response.status_code == 200
    assert "A user is already registered with this email address." in response.content.decode()
    assert not EmailAddress.objects.filter(user=owner, email="taken@example.com").exists()
    owner.refresh_from_db()
    assert owner.email == "owner@example.com"


# --- Changing the mobile ----------------------------------------------------------------------


def test_a_new_mobile_takes_effect_only_once_its_code_is_entered(client, owner, sms_outbox):
    log_in(client)
    sms_outbox.clear()
    page = client.get(reverse("account_change_phone")).content.decode()
    assert OWNER_MOBILE in page

    response = client.post(reverse("account_change_phone"), {"phone": "+1 415 555 0166"})

    assert response["Location"] == VERIFY_PHONE
    assert [sent.phone for sent in sms_outbox] == ["+14155550166"]
    owner.refresh_from_db()
    assert (owner.mobile_number, owner.has_verified_mobile) == (OWNER_MOBILE, True)
    # A wrong code changes nothing; the app stays open meanwhile.
    assert client.post(VERIFY_PHONE, {"code": wrong(last_sms())}).status_code == 200
    owner.refresh_from_db()
    assert owner.mobile_number == OWNER_MOBILE
    assert client.get("/dashboard/").status_code == 200

    response = client.post(VERIFY_PHONE, {"code": last_sms()})

    assert response["Location"] == reverse("account_change_phone")
    owner.refresh_from_db()
    assert (owner.mobile_number, owner.has_verified_mobile) == ("+14155550166", True)
    # The next second step goes to the new number.
    client.post(reverse("account_logout"))
    sms_outbox.clear()
    client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    assert [sent.phone for sent in sms_outbox] == ["+14155550166"]


def test_changing_to_a_number_verified_on_another_account_texts_nothing_and_fails(client, owner, sms_outbox):
    other = other_account(mobile="+14155550188")
    log_in(client)
    sms_outbox.clear()

    response = client.post(reverse("account_change_phone"), {"phone": "+14155550188"})

    assert response["Location"] == VERIFY_PHONE  # no hint that the number is someone's
    assert not sms_outbox  # and the other account's owner is not texted
    response = client.post(VERIFY_PHONE, {"code": "123456"})
    assert response.status_code == 200
    owner.refresh_from_db()
    other.refresh_from_db()
    assert owner.mobile_number == OWNER_MOBILE
    assert other.mobile_number == "+14155550188" and other.has_verified_mobile


# --- Terminated and suspended accounts --------------------------------------------------------


def test_a_terminated_account_cannot_log_in_in_any_way(client, owner, sms_outbox):
    browser = Client()
    log_in(browser)
    services.account_set_status(user=owner, status=User.Status.TERMINATED, reason="Abuse", by=None)

    # Its open session ends ...
    assert browser.get("/dashboard/")["Location"].startswith(reverse("account_login"))
    sms_outbox.clear()

    # ... a password does not open it, and no code is texted ...
    response = client.post(reverse("account_login"), {"login": owner.email, "password": "correct horse battery"})
    assert response["Location"] == reverse("account_inactive")
    assert not signed_in(client) and not sms_outbox

    # ... nor does a login code.
    response = client.post(reverse("account_request_login_code"), {"phone": OWNER_MOBILE})
    assert response["Location"] == CONFIRM_LOGIN_CODE
    assert not sms_outbox
    assert not signed_in(client)


def test_a_suspended_account_only_sees_why(client, owner):
    log_in(client)
    services.account_set_status(user=owner, status=User.Status.SUSPENDED, reason="Unpaid invoice", by=None)

    for page in APP_PAGES:
        assert client.get(page)["Location"] == reverse("account_suspended"), page
    page = client.get(reverse("account_suspended"))
    assert page.status_code == 200
    assert "Unpaid invoice" in page.content.decode()


def test_the_change_page_does_not_text_a_number_that_just_had_a_code(client, owner, no_mobile_user, sms_outbox):
    # Someone else's session asked for a code to +14155550166 seconds ago.
    other = Client()
    log_in_with_email_code(other, no_mobile_user)
    other.post(reverse("account_change_phone"), {"phone": "+14155550166"})
    assert [sent.phone for sent in sms_outbox] == ["+14155550166"]
    log_in(client)
    sms_outbox.clear()

    response = client.post(reverse("account_change_phone"), {"phone": "+14155550166"})

    assert response.status_code == 429
    assert "too many requests" in response.content.decode().lower()
    assert not sms_outbox
    owner.refresh_from_db()
    assert owner.mobile_number == OWNER_MOBILE and owner.has_verified_mobile
