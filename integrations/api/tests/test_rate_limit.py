"""Each API key has its own rate limit, counted in Redis for all web processes: beyond it, a 429
problem with Retry-After; every answer says where the key stands (RateLimit-* headers)."""

from types import SimpleNamespace

import pytest
import requests

from .test_api_auth import assert_problem, away_from_a_minutes_edge, bearer
from .test_keys import make_key, make_owner


@pytest.fixture
def live(transactional_db, asgi_server):
    return SimpleNamespace(url=asgi_server)


def test_a_key_over_its_limit_waits_and_another_key_does_not(live, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    busy = make_key(make_owner("ada@example.com"))
    calm = make_key(make_owner("eve@example.com"))
    url = f"{live.url}/api/v1/credits/balance"
    away_from_a_minutes_edge()

    answers = [requests.get(url, headers=bearer(busy), timeout=10) for _ in range(4)]

    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert [a.headers["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert all(a.headers["RateLimit-Limit"] == "3" for a in answers)
    refused = answers[3]
    assert "3 requests a minute" in assert_problem(refused, 429)["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Reset"] == refused.headers["Retry-After"]

    other = requests.get(url, headers=bearer(calm), timeout=10)
    assert other.status_code == 200 and other.headers["RateLimit-Remaining"] == "2"


def test_writes_count_against_the_same_limit(live, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    secret = make_key(make_owner("ada@example.com"))
    away_from_a_minutes_edge()

    first = requests.post(
        f"{live.url}/api/v1/do-not-call", json={"phone_number": "+14155550199"}, headers=bearer(secret), timeout=10
    )
    second = requests.get(f"{live.url}/api/v1/do-not-call", headers=bearer(secret), timeout=10)

    assert first.status_code == 201
    assert_problem(second, 429)
