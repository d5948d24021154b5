"""Who may call the API, over real HTTP (the whole app on uvicorn): a live key of an active
workspace, with write scope for anything but reads; every refusal is a problem document."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from django.utils import timezone

from accounts.models import Membership
from campaigns.models import DoNotCall
from integrations.api.keys import api_key_create, api_key_revoke
from integrations.api.models import ApiKey

from .test_keys import make_key, make_owner

PROBLEM = "application/problem+json"


@pytest.fixture
def live(transactional_db, asgi_server):
    """The whole app served by uvicorn on a free port (the root conftest's `asgi_server`)."""
    return SimpleNamespace(url=asgi_server)


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def away_from_a_minutes_edge() -> None:
    """Rate limits count per clock minute: start a counted sequence with the minute's end well ahead."""
    if time.time() % 60 > 50:
        time.sleep(60 - time.time() % 60 + 0.1)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    assert "Traceback" not in response.text
    return body


def test_requests_without_a_live_key_are_refused_with_401(live):
    owner = make_owner("ada@example.com")
    revoked = make_key(owner, name="Old")
    api_key_revoke(key=ApiKey.objects.get(name="Old"), by=None)
    expired = api_key_create(
        workspace=owner.personal_workspace,
        by=None,
        name="Trial",
        scope="read",
        expires_at=timezone.now() - timedelta(seconds=1),
    ).secret
    good = make_key(owner)
    url = f"{live.url}/api/v1/credits/balance"

    attempts = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {good}"},
        "malformed": bearer("nope"),
        "wrong secret": bearer(good[:-4] + "AAAA"),
        "revoked": bearer(revoked),
        "expired": bearer(expired),
    }
    for why, headers in attempts.items():
        response = requests.get(url, headers=headers, timeout=10)
        body = assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), why
        assert "Bearer" in body["detail"], why

    assert requests.get(url, headers=bearer(good), timeout=10).status_code == 200


def test_a_read_key_may_read_but_not_write(live):
    owner = make_owner("ada@example.com")
    secret = make_key(owner, scope=ApiKey.Scope.READ)

    listed = requests.get(f"{live.url}/api/v1/do-not-call", headers=bearer(secret), timeout=10)
    added = requests.post(
        f"{live.url}/api/v1/do-not-call", json={"phone_number": "+14155550199"}, headers=bearer(secret), timeout=10
    )

    assert listed.status_code == 200
    assert "write scope" in assert_problem(added, 403)["detail"]
    assert not DoNotCall.objects.exists()


@pytest.mark.parametrize("state", ["suspended", "closing"])
def test_a_suspended_or_closing_workspaces_keys_are_refused_with_403(live, state):
    owner = make_owner("ada@example.com")
    secret = make_key(owner)
    workspace = owner.personal_workspace
    if state == "suspended":
        workspace.status = workspace.Status.SUSPENDED
    else:
        workspace.closing_requested_at = timezone.now()
    workspace.save()

    response = requests.get(f"{live.url}/api/v1/credits/balance", headers=bearer(secret), timeout=10)

    assert "suspended or closed" in assert_problem(response, 403)["detail"]


def test_last_use_is_recorded_at_most_once_a_minute(live):
    owner = make_owner("ada@example.com")
    secret = make_key(owner)
    url = f"{live.url}/api/v1/credits/balance"

    requests.get(url, headers=bearer(secret), timeout=10)
    first = ApiKey.objects.get()
    assert first.last_used_at is not None and first.last_used_ip == "127.0.0.1"

    requests.get(url, headers=bearer(secret), timeout=10)
    assert ApiKey.objects.get().last_used_at == first.last_used_at  # within the minute: no write

    ApiKey.objects.update(last_used_at=first.last_used_at - timedelta(minutes=2))
    requests.get(url, headers=bearer(secret), timeout=10)
    assert ApiKey.objects.get().last_used_at > first.last_used_at


def test_a_key_keeps_working_after_the_member_who_made_it_is_removed(live):
    owner, admin = make_owner("ada@example.com"), make_owner("bob@example.com")
    workspace = owner.personal_workspace
    membership = Membership.objects.create(workspace=workspace, user=admin, role=Membership.Role.ADMIN)
    secret = make_key(workspace, by=admin)
    membership.delete()

    response = requests.get(f"{live.url}/api/v1/credits/balance", headers=bearer(secret), timeout=10)

    assert response.status_code == 200


def test_an_address_sending_wrong_keys_is_slowed_down_even_with_a_right_key(live, settings):
    settings.API_AUTH_FAILURES_PER_MINUTE = 3
    owner = make_owner("ada@example.com")
    good = make_key(owner)
    url = f"{live.url}/api/v1/credits/balance"
    away_from_a_minutes_edge()

    for n in range(3):
        assert_problem(requests.get(url, headers=bearer(f"clz_0000000{n}_guess"), timeout=10), 401)
    refused = requests.get(url, headers=bearer(good), timeout=10)

    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Requests without any key are no guesses: they are not counted and not slowed.
    assert_problem(requests.get(url, timeout=10), 401)
