"""The banner before a version takes effect, and from its effective date the acceptance every
signed-in person is asked for before anything else."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.tests.conftest import complete_signup
from policies import gate
from policies.models import PolicyAcceptance, PolicyVersion

from .conftest import make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_the_coming_version_is_announced_until_accepted_early(signed_in, user):
    version = make_version(days=10)

    page = signed_in.get(reverse("dashboard")).content.decode()
    assert 'data-testid="policy-banner"' in page
    assert "Our terms of service change on" in page and "Agents may also send texts." in page
    assert reverse("policy_compare", args=["terms", "2027-01"]) in page

    response = signed_in.post(
        reverse("policy_accept"),
        {"version": [version.pk], "next": reverse("dashboard")},
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT="Firefox on a test",
    )

    assert response["Location"] == reverse("dashboard")
    accepted = PolicyAcceptance.objects.get(user=user)
    assert (accepted.version, accepted.ip_address, accepted.user_agent) == (version, "203.0.113.7", "Firefox on a test")
    assert 'data-testid="policy-banner"' not in signed_in.get(reverse("dashboard")).content.decode()


def test_the_banner_is_not_shown_to_people_signed_out(client):
    make_version(days=10)
    assert 'data-testid="policy-banner"' not in client.get(reverse("terms")).content.decode()


def test_from_the_effective_date_the_app_waits_for_acceptance(signed_in, user):
    version = make_version(days=-1)

    response = signed_in.get(reverse("dashboard") + "?tab=calls")

    accept_url = reverse("policy_accept")
    assert response.status_code == 302
    assert response["Location"] == f"{accept_url}?next=%2Fdashboard%2F%3Ftab%3Dcalls"
    page = signed_in.get(response["Location"]).content.decode()
    assert page.count('data-testid="policy-to-accept"') == 1
    assert "Terms of service, version 2027-01" in page and "Agents may also send texts." in page
    assert reverse("policy_compare", args=["terms", "2027-01"]) in page
    assert 'data-testid="policy-accept"' in page and "close your account" in page

    response = signed_in.post(
        accept_url, {"version": [version.pk], "next": "/dashboard/?tab=calls"}, REMOTE_ADDR="198.51.100.4"
    )

    assert response["Location"] == "/dashboard/?tab=calls"
    accepted = PolicyAcceptance.objects.get(user=user)
    assert accepted.version == version and accepted.ip_address == "198.51.100.4" and accepted.accepted_at
    assert signed_in.get(reverse("dashboard")).status_code == 200


def test_every_policy_in_effect_is_asked_for_once_with_one_button(signed_in, user):
    make_version(days=-3)
    make_version(policy="privacy", version="2027-01", days=-1)
    make_version(policy="refunds", version="2027-04", days=30)  # coming: not asked yet

    page = signed_in.get(reverse("policy_accept")).content.decode()
    assert page.count('data-testid="policy-to-accept"') == 2
    assert page.count('data-testid="policy-accept"') == 1
    in_effect = PolicyVersion.objects.filter(effective_at__lte=timezone.now())
    signed_in.post(reverse("policy_accept"), {"version": [v.pk for v in in_effect]})

    assert sorted(a.version.policy for a in PolicyAcceptance.objects.filter(user=user)) == ["privacy", "terms"]
    assert signed_in.get(reverse("dashboard")).status_code == 200


def test_a_version_offered_is_not_accepted_on_a_forged_request(signed_in, user):
    draft = make_version(days=10, published=False)
    response = signed_in.post(reverse("policy_accept"), {"version": [draft.pk]}, follow=True)
    assert "Nothing was accepted" in response.content.decode()
    assert not PolicyAcceptance.objects.exists()


@pytest.mark.parametrize(
    ("method", "name", "expected"),
    [
        ("get", "terms", 200),
        ("get", "privacy", 200),
        ("get", "refunds", 200),
        ("get", "account_settings", 200),
        ("get", "account_data_export", 200),
        ("post", "account_logout", 302),
        ("get", "who_called", 200),
    ],
)
def test_a_person_who_has_not_accepted_can_still_leave(signed_in, method, name, expected):
    make_version(days=-1)
    response = getattr(signed_in, method)(reverse(name))
    assert response.status_code == expected
    if expected == 302:
        assert not response["Location"].startswith(reverse("policy_accept"))


def test_closing_the_account_is_not_blocked(signed_in, user):
    make_version(days=-1)
    response = signed_in.post(reverse("account_delete"), {"confirm_email": user.email})
    assert response["Location"] == reverse("landing")
    user.refresh_from_db()
    assert user.deletion_requested_at is not None


def test_htmx_requests_are_sent_to_the_acceptance_page_whole(signed_in):
    make_version(days=-1)
    response = signed_in.get(reverse("dashboard"), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith(reverse("policy_accept"))


def test_staff_are_asked_in_the_app_but_not_in_the_admin(client, user):
    User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    client.force_login(user)
    make_version(days=-1)

    assert client.get("/admin/").status_code == 200
    assert client.get(reverse("dashboard"))["Location"].startswith(reverse("policy_accept"))


def test_sign_up_accepts_the_versions_in_effect(client):
    in_effect = make_version(days=-1)
    make_version(policy="privacy", version="2027-02", days=10)

    complete_signup(client)

    user = User.objects.get(email="new.workspace@example.com")
    assert [a.version for a in PolicyAcceptance.objects.filter(user=user)] == [in_effect]
    assert client.get(reverse("dashboard")).status_code == 200


def policy_queries(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in queries if "policies_" in q["sql"]]


def test_policies_cost_at_most_one_query_a_page_and_none_once_accepted(signed_in, user):
    in_effect = make_version(days=-1)
    coming = make_version(policy="privacy", version="2027-02", days=10)
    signed_in.post(reverse("policy_accept"), {"version": [in_effect.pk]})
    signed_in.get(reverse("dashboard"))  # the list of published versions, read once per process

    # The coming version, not accepted yet: looked up again at most every RECHECK_SECONDS (it may
    # be accepted on another device), not on every page.
    assert policy_queries(signed_in, reverse("dashboard")) == []
    session = signed_in.session
    session[gate.CHECKED_KEY] = (0, session[gate.CHECKED_KEY][1])  # the interval has passed
    session.save()
    assert len(policy_queries(signed_in, reverse("dashboard"))) == 1
    assert policy_queries(signed_in, reverse("dashboard")) == []

    signed_in.post(reverse("policy_accept"), {"version": [coming.pk]})
    assert policy_queries(signed_in, reverse("dashboard")) == []
