"""Signing up, logging in and out through allauth's pages, and the credits a new account gets."""

from decimal import Decimal

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from accounts.models import User
from accounts.services import account_created
from billing import ledger
from billing.models import CreditAccount, LedgerEntry

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase-42"


def signup(client, **overrides):
    data = {
        "email": "new.owner@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "company_name": "Widgets Ltd",
    }
    data.update(overrides)
    return client.post(reverse("account_signup"), data)


def logged_in_user_id(client):
    return client.session.get(SESSION_KEY)


def test_signup_page_has_the_company_field(client):
    response = client.get(reverse("account_signup"))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="email"' in page and 'name="company_name"' in page
    assert 'name="username"' not in page


def test_signup_creates_the_account_grants_starter_credits_logs_in_and_opens_the_dashboard(client, settings):
    settings.STARTER_CREDITS = 100

    response = signup(client)

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    user = User.objects.get()
    assert user.email == "new.owner@example.com"
    assert user.company_name == "Widgets Ltd"
    assert user.check_password(PASSWORD)
    assert user.status == User.Status.ACTIVE and user.can_dial
    assert str(logged_in_user_id(client)) == str(user.pk)

    entries = LedgerEntry.objects.filter(account__user=user)
    assert entries.count() == 1
    entry = entries.get()
    assert entry.kind == LedgerEntry.Kind.STARTER_GRANT
    assert entry.amount == Decimal("100")
    assert entry.balance_after == Decimal("100")
    assert ledger.balance_of(user=user).balance == Decimal("100")

    dashboard = client.get(response["Location"])
    assert dashboard.status_code == 200
    assert 'data-testid="balance">100<' in dashboard.content.decode()


def test_signup_without_company_is_fine(client):
    response = signup(client, company_name="")

    assert response.status_code == 302
    assert User.objects.get().company_name == ""


def test_starter_grant_uses_the_configured_amount(client, settings):
    settings.STARTER_CREDITS = 250

    signup(client)

    assert ledger.balance_of(user=User.objects.get()).balance == Decimal("250")


def test_starter_credits_zero_grants_nothing_but_opens_a_balance(client, settings):
    settings.STARTER_CREDITS = 0

    response = signup(client)

    assert response.status_code == 302
    user = User.objects.get()
    assert not LedgerEntry.objects.exists()
    assert CreditAccount.objects.get(user=user).balance == Decimal("0")


def test_starter_grant_is_given_once_even_if_account_created_runs_again(client):
    signup(client)
    user = User.objects.get()

    account_created(user=user)

    assert LedgerEntry.objects.filter(account__user=user, kind=LedgerEntry.Kind.STARTER_GRANT).count() == 1
    assert ledger.balance_of(user=user).balance == Decimal("100")


def test_signup_with_an_email_already_in_use_is_refused(client, user):
    response = signup(client, email=user.email)

    assert response.status_code == 200
    assert "already" in response.content.decode()
    assert User.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.STARTER_GRANT).count() == 1


def test_signup_with_mismatched_passwords_is_refused(client):
    response = signup(client, password2=PASSWORD + "x")

    assert response.status_code == 200
    assert not User.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert logged_in_user_id(client) is None


def test_signup_with_a_weak_password_is_refused(client):
    response = signup(client, password1="password", password2="password")

    assert response.status_code == 200
    assert not User.objects.exists()


def test_login_with_email_and_password_opens_the_dashboard(client, user):
    response = client.post(
        reverse("account_login"), {"login": "owner@example.com", "password": "correct horse battery"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    assert str(logged_in_user_id(client)) == str(user.pk)


def test_login_follows_next(client, user):
    response = client.post(
        reverse("account_login") + "?next=/campaigns/",
        {"login": "owner@example.com", "password": "correct horse battery", "next": "/campaigns/"},
    )

    assert response["Location"] == "/campaigns/"


def test_login_with_a_wrong_password_fails(client, user):
    response = client.post(reverse("account_login"), {"login": "owner@example.com", "password": "wrong"})

    assert response.status_code == 200
    assert logged_in_user_id(client) is None
    assert client.get(reverse("dashboard")).status_code == 302


def test_logout_is_a_post(client, user):
    client.force_login(user)

    # Following a link (GET) only asks for confirmation.
    confirm = client.get(reverse("account_logout"))
    assert confirm.status_code == 200
    assert logged_in_user_id(client) is not None

    response = client.post(reverse("account_logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("landing")
    assert logged_in_user_id(client) is None
    assert client.get(reverse("dashboard"))["Location"].startswith("/accounts/login/")


def test_navigation_offers_log_out_as_a_form(client, user):
    client.force_login(user)

    page = client.get(reverse("dashboard")).content.decode()

    assert f'action="{reverse("account_logout")}"' in page
    assert 'data-testid="nav-logout"' in page
    assert 'data-testid="nav-login"' not in page
