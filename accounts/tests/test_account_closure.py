"""What an account that cannot be used says, and how to get help: a suspended account shows how
to reach support; a closed one says when it was closed and until when support can restore it; a
terminated one says so; closing with a wrong confirmation shows the error at the field."""

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import AccountStatusChange, User

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # the `user` fixture's


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def log_in(client, user):
    return client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD}, follow=True)


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="admin@example.com", password="admin pass 1234")


@pytest.fixture
def closed(user, settings):
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    services.account_delete(user=user)
    user.refresh_from_db()
    return user


def test_support_has_an_address_even_when_none_is_configured(settings):
    from clozit.settings import default_support_email

    assert default_support_email("Clozit <no-reply@calls.example.com>") == "support@calls.example.com"
    assert default_support_email("no-reply@localhost") == "support@localhost"
    assert settings.SUPPORT_EMAIL  # the suite runs without SUPPORT_EMAIL set


def test_the_suspended_page_says_how_to_reach_support(client, user, settings):
    settings.SUPPORT_EMAIL = "help@clozit.example.com"
    services.account_set_status(user=user, status=User.Status.SUSPENDED, reason="Complaints from callees", by=None)
    client.force_login(user)

    page = text(client.get(reverse("account_suspended")))

    assert "Complaints from callees" in page
    assert 'href="mailto:help@clozit.example.com?subject=' in page
    assert "help@clozit.example.com" in page and user.email in page


def test_a_closed_account_says_when_it_was_closed_and_until_when_it_can_be_restored(client, closed, settings):
    settings.SUPPORT_EMAIL = "help@clozit.example.com"
    closed_on = timezone.localtime(closed.deletion_requested_at)
    restore_until = closed_on + timedelta(days=settings.ACCOUNT_PURGE_AFTER_DAYS)

    page = text(log_in(client, closed))

    assert "This account is inactive" not in page
    assert f"This account was closed on {closed_on.day} {closed_on:%B %Y}." in page
    assert f"Until {restore_until.day} {restore_until:%B %Y}, support can restore it" in page
    assert "help@clozit.example.com" in page


def test_a_closed_account_past_its_restore_date_says_it_can_no_longer_be_restored(client, closed, settings):
    User.objects.filter(pk=closed.pk).update(deletion_requested_at=timezone.now() - timedelta(days=31))

    page = text(log_in(client, closed))

    assert "can no longer be restored" in page
    assert "support can restore it" not in page


def test_a_terminated_account_says_so_with_the_reason(client, user, settings):
    settings.SUPPORT_EMAIL = "help@clozit.example.com"
    services.account_set_status(user=user, status=User.Status.TERMINATED, reason="Robocalls without consent", by=None)

    page = text(log_in(client, user))

    assert "This account was terminated" in page and "Robocalls without consent" in page
    assert "help@clozit.example.com" in page
    assert "restore" not in page


def test_support_restores_a_closed_account_within_the_window(closed, staff):
    restored = services.account_restore(user=closed, by=staff, reason="Asked by email")

    assert restored.is_active and restored.deletion_requested_at is None
    change = AccountStatusChange.objects.filter(user=closed).first()
    assert change.reason == "Restored after closing: Asked by email" and change.changed_by == staff
    assert Client().post(reverse("account_login"), {"login": closed.email, "password": PASSWORD})[
        "Location"
    ] == reverse("account_confirm_login_code")


def test_a_closed_account_cannot_be_restored_after_its_window_or_twice(closed, staff):
    with pytest.raises(services.AccountError, match="was not closed"):
        services.account_restore(user=services.account_restore(user=closed, by=staff, reason="x"), by=staff, reason="x")
    services.account_delete(user=closed)
    User.objects.filter(pk=closed.pk).update(deletion_requested_at=timezone.now() - timedelta(days=31))
    closed.refresh_from_db()
    with pytest.raises(services.AccountError, match="can no longer be restored"):
        services.account_restore(user=closed, by=staff, reason="too late")


def test_a_restored_terminated_account_stays_terminated(user, staff):
    services.account_set_status(user=user, status=User.Status.TERMINATED, reason="Abuse", by=staff)
    services.account_delete(user=user)

    restored = services.account_restore(user=user, by=staff, reason="Data request")

    assert restored.deletion_requested_at is None and not restored.is_active


def test_a_wrong_confirmation_on_the_close_form_is_shown_at_the_field(client, user):
    client.force_login(user)

    response = client.post(reverse("account_delete"), {"confirm_email": "someone.else@example.com"})

    page = text(response)
    assert response.status_code == 400
    assert 'action="/settings/delete/#close-account"' in page  # the browser comes back to the form
    field = re.search(r'<input[^>]*name="confirm_email"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field
    assert page.index('name="confirm_email"') < page.index("That is not your account") < page.index("Close my account")
