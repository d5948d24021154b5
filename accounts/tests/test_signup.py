"""Signing up (the form, the mobile code, the email code), the new account's records and
credits, logging in and out."""

from datetime import timedelta
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import account_created
from accounts.tests.conftest import PASSWORD, complete_signup, last_email_code, last_sms, log_in, post_signup
from billing import ledger
from billing.models import CreditAccount, LedgerEntry

pytestmark = pytest.mark.django_db


def logged_in_user_id(client):
    return client.session.get(SESSION_KEY)


def test_signup_page_asks_for_everything_a_new_account_needs(client):
    response = client.get(reverse("account_signup"))

    assert response.status_code == 200
    page = response.content.decode()
    for field in (
        "email",
        "phone",
        "password1",
        "password2",
        "first_name",
        "last_name",
        "company_name",
        "is_adult",
        "accept_terms",
    ):
        assert f'name="{field}"' in page, field
    assert 'name="username"' not in page
    assert 'type="tel"' in page
    assert "I am 18 or older" in page
    assert 'href="/terms/"' in page and 'href="/privacy/"' in page


def test_signup_texts_a_code_then_emails_a_code_then_opens_the_dashboard(client, sms_outbox, mailoutbox, settings):
    before = timezone.now()

    response = post_signup(client)

    # Step 1: the account exists, but nobody is signed in until the mobile is proven.
    assert response.status_code == 302
    assert response["Location"] == reverse("account_verify_phone")
    user = User.objects.get()
    assert user.mobile_number == "+14155550177" and user.mobile_verified_at is None
    assert logged_in_user_id(client) is None
    assert [sent.phone for sent in sms_outbox] == ["+14155550177"]
    page = client.get(response["Location"]).content.decode()
    assert "A verification code has been sent to +14155550177." in page
    assert not mailoutbox

    # Step 2: the texted code proves the mobile; the email code is sent next.
    response = client.post(reverse("account_verify_phone"), {"code": last_sms()})
    assert response["Location"] == reverse("account_email_verification_sent")
    user.refresh_from_db()
    assert user.has_verified_mobile
    assert logged_in_user_id(client) is None
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["new.workspace@example.com"]

    # Step 3: the emailed code; then the account is open.
    response = client.post(reverse("account_email_verification_sent"), {"code": last_email_code()})
    assert response["Location"] == reverse("dashboard")
    assert str(logged_in_user_id(client)) == str(user.pk)
    assert EmailAddress.objects.get(user=user).verified

    dashboard = client.get(reverse("dashboard"))
    assert dashboard.status_code == 200
    assert 'data-testid="balance">100<' in dashboard.content.decode()

    user.refresh_from_db()
    after = timezone.now()
    assert user.email == "new.workspace@example.com"
    assert (user.first_name, user.last_name, user.company_name) == ("Ada", "Lovelace", "Widgets Ltd")
    assert user.check_password(PASSWORD)
    assert user.terms_version == settings.TERMS_VERSION
    assert before <= user.terms_accepted_at <= after
    assert before <= user.adult_confirmed_at <= after
    assert before <= user.mobile_verified_at <= after
    assert user.status == User.Status.ACTIVE and user.personal_workspace.can_dial


def test_the_starter_credits_are_granted_once_when_the_account_is_created(client):
    complete_signup(client)
    user = User.objects.get()

    entry = LedgerEntry.objects.get(account__workspace=user.personal_workspace)
    assert entry.kind == LedgerEntry.Kind.STARTER_GRANT
    assert entry.amount == Decimal("100") and entry.balance_after == Decimal("100")

    # Running the new-account hook again (a retried signal, say) grants nothing more.
    account_created(user=user)
    assert (
        LedgerEntry.objects.filter(
            account__workspace=user.personal_workspace, kind=LedgerEntry.Kind.STARTER_GRANT
        ).count()
        == 1
    )
    assert ledger.balance_of(workspace=user.personal_workspace).balance == Decimal("100")


def test_starter_grant_uses_the_configured_amount(client, settings):
    settings.STARTER_CREDITS = 250

    post_signup(client)

    assert ledger.balance_of(workspace=(User.objects.get()).personal_workspace).balance == Decimal("250")


def test_starter_credits_zero_grants_nothing_but_opens_a_balance(client, settings):
    settings.STARTER_CREDITS = 0

    post_signup(client)

    user = User.objects.get()
    assert not LedgerEntry.objects.exists()
    assert CreditAccount.objects.get(workspace=user.personal_workspace).balance == Decimal("0")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("+1 415 555 0177", "+14155550177"),
        ("(415) 555-0177", "+14155550177"),  # no country code: read as a US number
        ("+44 7911 123456", "+447911123456"),
        ("+49 1512 3456789", "+4915123456789"),
    ],
)
def test_the_mobile_number_is_stored_in_e164(client, sms_outbox, raw, stored):
    response = post_signup(client, phone=raw)

    assert response["Location"] == reverse("account_verify_phone")
    assert User.objects.get().mobile_number == stored
    assert [sent.phone for sent in sms_outbox] == [stored]


def refused(response, field):
    """The form came back with an error on `field`; nothing was created or sent."""
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    return " ".join(errors[field])


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("not a number", "Enter a mobile number with its country code, e.g. +14155550123."),
        ("+1 555 0100", "This is not a valid phone number. Include the country code, e.g. +44 7911 123456."),
        ("+44 1234", "This is not a valid phone number."),
        ("", "This field is required."),
    ],
)
def test_a_bad_mobile_number_is_refused_with_a_clear_message(client, sms_outbox, phone, message):
    # (The examples in the messages must themselves be accepted: see the E.164 test.)
    response = post_signup(client, phone=phone)

    assert message in refused(response, "phone")
    assert message in response.content.decode()
    assert not User.objects.exists() and not sms_outbox


def test_signup_requires_confirming_18_or_older(client, sms_outbox):
    response = post_signup(client, is_adult=None)

    assert refused(response, "is_adult") == "You must be 18 or older."
    assert "You must be 18 or older." in response.content.decode()
    assert not User.objects.exists() and not sms_outbox
    assert not LedgerEntry.objects.exists()


def test_signup_requires_accepting_the_terms(client, sms_outbox):
    response = post_signup(client, accept_terms=None)

    assert refused(response, "accept_terms") == "Please accept the terms to create an account."
    assert not User.objects.exists() and not sms_outbox


@pytest.mark.parametrize("field", ["first_name", "last_name", "company_name", "email"])
def test_signup_requires_names_company_and_email(client, sms_outbox, field):
    response = post_signup(client, **{field: ""})

    assert refused(response, field) == "This field is required."
    assert not User.objects.exists() and not sms_outbox


def test_signup_with_mismatched_passwords_is_refused(client, sms_outbox):
    response = post_signup(client, password2=PASSWORD + "x")

    assert refused(response, "password2") == "You must type the same password each time."
    assert not User.objects.exists() and not LedgerEntry.objects.exists() and not sms_outbox
    assert logged_in_user_id(client) is None


def test_signup_with_a_weak_password_is_refused(client, sms_outbox):
    response = post_signup(client, password1="password", password2="password")

    assert "too common" in refused(response, "password1")
    assert not User.objects.exists() and not sms_outbox


def test_login_with_a_wrong_password_fails_and_texts_nothing(client, owner, sms_outbox):
    response = client.post(reverse("account_login"), {"login": "owner@example.com", "password": "wrong"})

    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert logged_in_user_id(client) is None and not sms_outbox
    assert client.get(reverse("dashboard"))["Location"].startswith(reverse("account_login"))


def test_login_with_email_password_and_the_texted_code_opens_the_dashboard(client, owner):
    log_in(client)

    assert str(logged_in_user_id(client)) == str(owner.pk)
    assert client.get(reverse("dashboard")).status_code == 200


def test_login_comes_back_to_the_page_asked_for(client, owner):
    login = reverse("account_login")
    response = client.post(
        f"{login}?next=/campaigns/",
        {"login": "owner@example.com", "password": "correct horse battery", "next": "/campaigns/"},
    )
    response = client.post(response["Location"], {"code": last_sms()})
    response = client.post(response["Location"], {"action": "skip"})

    assert response["Location"] == "/campaigns/"


def test_logout_is_a_post(client, owner):
    client.force_login(owner)

    # Following a link (GET) only asks for confirmation.
    confirm = client.get(reverse("account_logout"))
    assert confirm.status_code == 200
    assert logged_in_user_id(client) is not None

    response = client.post(reverse("account_logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("landing")
    assert logged_in_user_id(client) is None
    assert client.get(reverse("dashboard"))["Location"].startswith(reverse("account_login"))


def test_navigation_offers_log_out_as_a_form(client, owner):
    client.force_login(owner)

    page = client.get(reverse("dashboard")).content.decode()

    assert f'action="{reverse("account_logout")}"' in page
    assert 'data-testid="nav-logout"' in page
    assert 'data-testid="nav-login"' not in page


def test_the_signup_consent_is_recorded_with_the_time_it_was_given(client, settings):
    settings.TERMS_VERSION = "2030-01-01"
    start = timezone.now()

    post_signup(client)

    user = User.objects.get()
    assert user.terms_version == "2030-01-01"
    assert user.terms_accepted_at - start < timedelta(seconds=30)
    assert user.adult_confirmed_at == user.terms_accepted_at
