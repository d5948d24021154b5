"""Public pages, the health check and the dashboard."""

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from campaigns.models import Call
from campaigns.tests.factories import make_campaign

pytestmark = pytest.mark.django_db

CLOSED_REDIS = "redis://127.0.0.1:1/0"


def text(response) -> str:
    return html.unescape(response.content.decode())


def title_of(page: str) -> str:
    match = re.search(r"<title>(.*?)</title>", page, re.S)
    assert match, "page has no <title>"
    return match.group(1).strip()


# --- Public pages ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,title,facts",
    [
        ("landing", "AI agents that make your outbound calls", ["500 credits", "One credit per connected second"]),
        ("terms", "Terms of service", ["500 credits", "0.5 credit", "1 credit for every second", "18 years old"]),
        ("privacy", "Privacy policy", ["Paddle", "within 30 days", "We never sell personal data"]),
        ("refunds", "Cancellation & refunds", ["7 days", "0.5 credit", "never refunded"]),
    ],
)
def test_public_pages_open_without_login_and_state_the_key_facts(client, name, title, facts):
    response = client.get(reverse(name))

    assert response.status_code == 200
    page = text(response)
    assert title_of(page) == f"{title} · Clozit"
    for fact in facts:
        assert fact in page, fact


@pytest.mark.parametrize("name", ["landing", "terms", "privacy", "refunds"])
def test_footer_links_to_the_policies_and_status(client, name):
    page = text(client.get(reverse(name)))

    footer = page[page.index('<footer class="site-footer">') :]
    for target, label in [
        ("terms", "Terms"),
        ("privacy", "Privacy"),
        ("refunds", "Cancellation & refunds"),
        ("healthz", "Status"),
    ]:
        assert f'<a href="{reverse(target)}">{label}</a>' in footer


def test_policies_link_to_each_other(client):
    terms = text(client.get(reverse("terms")))

    assert f'href="{reverse("refunds")}"' in terms
    assert f'href="{reverse("privacy")}"' in terms


def test_landing_invites_visitors_to_sign_up(client):
    page = text(client.get(reverse("landing")))

    assert f'href="{reverse("account_signup")}"' in page
    assert 'data-testid="hero-signup"' in page
    assert 'data-testid="hero-dashboard"' not in page
    assert page.count("Open source and self-hostable") == 1


def test_landing_sends_a_logged_in_user_to_the_dashboard(client, user):
    client.force_login(user)

    page = text(client.get(reverse("landing")))

    assert 'data-testid="hero-dashboard"' in page
    assert 'data-testid="hero-signup"' not in page
    assert 'data-testid="nav-logout"' in page


@pytest.mark.parametrize("name", ["terms", "privacy", "refunds"])
def test_policy_pages_say_who_to_contact(client, name):
    page = text(client.get(reverse(name)))

    assert "Last updated:" in page
    assert "support contact published by the operator" in page or "mailto:" in page


# --- Health check ---------------------------------------------------------------------------
def test_healthz_reports_database_and_redis_ok(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok"},
        "telephony": {"provider": "simulated", "status": "ok"},
    }


def test_healthz_needs_no_login(client):
    assert client.get("/healthz").status_code == 200


def test_healthz_returns_503_naming_redis_when_it_is_unreachable(client, settings):
    settings.RQ_QUEUES = {name: {**config, "URL": CLOSED_REDIS} for name, config in settings.RQ_QUEUES.items()}

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("failed: ")
    assert "ConnectionError" in body["checks"]["redis"]


def test_healthz_recovers_once_redis_is_back(client, settings):
    original = settings.RQ_QUEUES
    settings.RQ_QUEUES = {name: {**config, "URL": CLOSED_REDIS} for name, config in original.items()}
    assert client.get(reverse("healthz")).status_code == 503

    settings.RQ_QUEUES = original

    assert client.get(reverse("healthz")).status_code == 200


def test_healthz_returns_503_naming_the_database_when_it_fails(client, monkeypatch):
    class BrokenConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr("clozit.views.connection", BrokenConnection())

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "failed: OperationalError", "redis": "ok"}


# --- Dashboard ------------------------------------------------------------------------------
def add_call(user, campaign, *, days_ago: int, seconds: int):
    call = Call.objects.create(
        workspace=user.personal_workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number="+12025550101",
        from_number=campaign.caller_number,
        provider="simulated",
        status=Call.Status.COMPLETED,
        duration_seconds=seconds,
        credits_charged=Decimal(seconds),
    )
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return call


def test_dashboard_requires_login(client):
    response = client.get(reverse("dashboard"))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_new_account_dashboard_shows_starter_balance_and_next_steps(client, user):
    client.force_login(user)

    response = client.get(reverse("dashboard"))

    assert response.status_code == 200
    page = text(response)
    assert 'data-testid="balance">100<' in page
    assert "held for calls in progress" not in page
    assert "No campaigns yet." in page
    assert "No calls yet." in page
    assert len(response.context["activity"]) == 7
    assert response.context["week_calls"] == 0


def test_dashboard_shows_balance_held_credits_and_seven_day_activity(client, user):
    campaign = make_campaign(user, ["+12025550101"])
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("-42.50"), kind="call_usage", reference="usage-1"
    )
    ledger.hold_place(
        workspace=user.personal_workspace,
        reference="hold-1",
        max_amount=Decimal("20"),
        min_amount=Decimal("10"),
        lifetime=timedelta(minutes=1),
    )
    add_call(user, campaign, days_ago=0, seconds=30)
    add_call(user, campaign, days_ago=0, seconds=12)
    add_call(user, campaign, days_ago=3, seconds=60)
    add_call(user, campaign, days_ago=8, seconds=500)  # too old for the week
    client.force_login(user)

    response = client.get(reverse("dashboard"))

    page = text(response)
    assert 'data-testid="balance">57.50<' in page
    assert "20 held for calls in progress" in page
    assert response.context["week_calls"] == 3
    assert response.context["week_credits"] == Decimal("102")
    assert '<span class="label">Calls, last 7 days</span><span class="value">3</span>' in page
    assert '<span class="label">Credits spent, last 7 days</span><span class="value">102</span>' in page

    activity = response.context["activity"]
    assert [d["day"] for d in activity] == [timezone.localdate() - timedelta(days=n) for n in range(6, -1, -1)]
    assert [d["calls"] for d in activity] == [0, 0, 0, 1, 0, 0, 2]
    assert activity[-1]["credits"] == Decimal("42")
    assert activity[3]["credits_pct"] == 100 and activity[-1]["calls_pct"] == 100
    assert campaign.name in page


def test_dashboard_shows_only_the_users_own_activity(client, user):
    from accounts.models import User

    other = User.objects.create_user(email="rival@example.com", password="x")
    theirs = make_campaign(other, ["+12025550101"])
    add_call(other, theirs, days_ago=0, seconds=99)
    client.force_login(user)

    response = client.get(reverse("dashboard"))

    assert response.context["week_calls"] == 0
    assert theirs.name not in text(response) or "No campaigns yet." in text(response)
