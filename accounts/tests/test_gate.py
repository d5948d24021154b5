"""The account gate: a signed-in account without a verified mobile only reaches the mobile step."""

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import User

pytestmark = pytest.mark.django_db

GATED = ["/dashboard/", "/agents/", "/campaigns/", "/calls/", "/credits/", "/contacts/", "/do-not-call/"]
OPEN = ["/settings/", "/accounts/email/", "/accounts/phone/change/", "/terms/", "/privacy/", "/refunds/", "/healthz"]


@pytest.fixture
def unverified(db):
    """A social sign-up or an abandoned sign-up: signed in, but no verified mobile."""
    user = User.objects.create_user(email="social@example.com", password="x")
    services.account_created(user=user)
    return user


def test_account_without_a_mobile_is_sent_to_the_mobile_step(client, unverified):
    client.force_login(unverified)

    for url in GATED:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == reverse("account_change_phone"), url


def test_a_posted_form_is_gated_too(client, unverified):
    client.force_login(unverified)

    response = client.post(reverse("agent_create"), {"name": "Sneaky"})

    assert response["Location"] == reverse("account_change_phone")
    assert not unverified.personal_workspace.agents.exists()


def test_a_number_entered_but_not_verified_is_still_gated(client, unverified):
    unverified.mobile_number = "+14155550177"
    unverified.save()
    client.force_login(unverified)

    assert client.get("/dashboard/")["Location"] == reverse("account_change_phone")


def test_mobile_step_settings_policies_and_health_stay_reachable(client, unverified):
    client.force_login(unverified)

    for url in OPEN:
        assert client.get(url).status_code == 200, url
    response = client.post(reverse("account_logout"))
    assert response["Location"] == reverse("landing")
    assert client.get("/dashboard/")["Location"].startswith(reverse("account_login"))


def test_verifying_the_mobile_opens_the_app(client, unverified):
    client.force_login(unverified)
    assert client.get("/dashboard/").status_code == 302

    services.mobile_verified(user=unverified, phone="+14155550177")

    for url in GATED:
        assert client.get(url).status_code == 200, url


def test_verified_account_is_not_gated(client, user):
    client.force_login(user)

    for url in GATED:
        assert client.get(url).status_code == 200, url


def test_staff_are_not_gated(client):
    staff = User.objects.create_user(email="clerk@example.com", password="x", is_staff=True)
    client.force_login(staff)

    assert client.get("/dashboard/").status_code == 200
    assert client.get(reverse("admin:index")).status_code == 200


def test_anonymous_visitors_go_to_the_login_page_not_the_mobile_step(client, db):
    response = client.get("/dashboard/")

    assert response["Location"].startswith(reverse("account_login"))


def test_mobile_verified_elsewhere_cannot_be_taken(unverified, user):
    with pytest.raises(services.AccountError, match="already in use"):
        services.mobile_verified(user=unverified, phone=user.mobile_number)

    unverified.refresh_from_db()
    assert not unverified.has_verified_mobile


@pytest.fixture
def default_time_zone():
    yield
    timezone.deactivate()


def test_each_request_uses_its_own_accounts_time_zone(client, user, default_time_zone):
    user.time_zone = "Asia/Tokyo"
    user.save()
    client.force_login(user)

    assert client.get("/dashboard/").status_code == 200
    assert timezone.get_current_timezone_name() == "Asia/Tokyo"

    # The next request on the same thread is a visitor's: it must not inherit Tokyo.
    client.post(reverse("account_logout"))
    client.get(reverse("landing"))
    assert timezone.get_current_timezone_name() == "UTC"
