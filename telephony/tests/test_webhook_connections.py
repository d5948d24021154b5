"""Webhooks served under ASGI (as gunicorn's uvicorn workers serve them) take their database
connection from the process's pool and give it back when the request ends: a turn does not pay
for a new PostgreSQL connection, and the connections stay few however many requests come.

The test settings leave the pool off (DB_POOL_SIZE=0); these tests turn it on as the product has it.
"""

import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import requests
from django.db import connection, connections
from twilio.request_validator import RequestValidator

from billing import ledger
from campaigns.models import Call, CallTurn
from telephony.tests.test_webhooks import make_call, params

SECRET = "simulated-test-secret"
TURNS = 6


@pytest.fixture(name="pooled")
def pooled_fixture():
    """The product's connection pool (clozit/settings.py, DB_POOL_SIZE), small; closed afterwards."""
    connection.close()  # the test's own connection, opened before the pool existed
    options = connections.settings["default"].setdefault("OPTIONS", {})
    options["pool"] = {"min_size": 1, "max_size": 3, "timeout": 5}
    try:
        yield connection.pool
    finally:
        connection.close()
        connection.close_pool()
        del options["pool"]


@pytest.fixture
def server(pooled, asgi_server, settings):
    settings.SIMULATED_SIGNING_SECRET = SECRET
    return asgi_server


def post(server: str, path: str, body: dict) -> ET.Element:
    signature = RequestValidator(SECRET).compute_signature(server + path, body)
    response = requests.post(
        server + path,
        data=urlencode(body),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return ET.fromstring(response.content)


def returned(pool) -> dict:
    """The pool's figures once every connection is back in it (a request gives its connection
    back as it ends, a moment after its response went out); fails if one never comes back."""
    for _ in range(100):
        stats = pool.get_stats()
        if stats["pool_available"] == stats["pool_size"]:
            return stats
        time.sleep(0.05)
    raise AssertionError(f"a connection was never given back: {stats}")


def next_path(root: ET.Element, server: str) -> str:
    gather = root.find("Gather")
    assert gather is not None, ET.tostring(root)
    return gather.get("action").removeprefix(server)


@pytest.mark.django_db(transaction=True)
def test_turn_webhooks_under_asgi_reuse_the_pools_connections(pooled, server, user):
    call = make_call(user, questions="\n".join(f"Question {n}?" for n in range(1, TURNS + 2)))
    path = next_path(post(server, f"/telephony/simulated/calls/{call.pk}/answer/", params()), server)
    before = pooled.get_stats()
    for n in range(TURNS):
        root = post(server, path, params(CallStatus="in-progress", SpeechResult=f"Answer {n}", Confidence="0.9"))
        path = next_path(root, server)
    connection.close()  # the test's own, back to the pool too
    after = returned(pooled)
    # Each webhook asked the pool for a connection (a request's thread is new every time)...
    assert after.get("requests_num", 0) - before.get("requests_num", 0) >= TURNS
    # ...and got one it had already opened: no new connection per request.
    assert after.get("connections_num", 0) <= 3
    assert CallTurn.objects.filter(call=call, speaker=CallTurn.Speaker.CALLEE).count() == TURNS
    assert Call.objects.get(pk=call.pk).engine_state["turn"] == TURNS + 1


@pytest.mark.django_db(transaction=True)
def test_a_webhook_waits_for_a_free_connection_rather_than_failing(pooled, server, user):
    """More requests at once than the pool has connections: they queue for one, all answered."""
    ledger.credit_adjust(
        workspace=user.personal_workspace, amount=Decimal(10_000), memo="credits for six calls", by=user
    )
    calls = [make_call(user, name=f"Agent {n}") for n in range(6)]
    with ThreadPoolExecutor(6) as pool:
        roots = list(
            pool.map(lambda call: post(server, f"/telephony/simulated/calls/{call.pk}/answer/", params()), calls)
        )
    assert all(root.find("Gather") is not None for root in roots)
    connection.close()
    assert returned(pooled)["pool_size"] <= 3
