"""Many live real-time calls share a few database connections: an operator sizing PostgreSQL's
max_connections counts server threads, not calls (one connection per call ran out at 100 calls).
"""

import contextlib
import json
from decimal import Decimal

import pytest
from django.db import connection, connections

from billing import ledger
from campaigns.tests import relay_examples as examples
from campaigns.tests.fake_llm import fake_llm_fixture  # noqa: F401 - the `fake_llm` fixture
from campaigns.tests.test_relay_calls import answer, connected, frames, open_socket, relay_call, spoken, wait_for

CALLS = 16  # twice the threads a server process gives relay sessions


@pytest.fixture
def server(asgi_server, settings):
    settings.SIMULATED_SIGNING_SECRET = "simulated-test-secret"
    return asgi_server


@pytest.fixture
def persistent_connections():
    """Database connections kept between uses, as in production (DB_CONN_MAX_AGE); the test
    server's own default is to close them after each request."""
    connections.settings["default"]["CONN_MAX_AGE"] = 60
    try:
        yield
    finally:
        connections.settings["default"]["CONN_MAX_AGE"] = 0


def others_connected() -> int:
    """Connections to this test database besides the test's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_live_calls_share_a_few_database_connections_and_let_them_go(server, user, fake_llm, settings, request):
    settings.LLM_TIMEOUT_SECONDS = 3.0
    ledger.credit_adjust(
        workspace=user.personal_workspace, amount=Decimal(100_000), memo="credits for many calls", by=user
    )
    urls = [connected(answer(server, relay_call(user)))[0] for _ in range(CALLS)]
    request.getfixturevalue("persistent_connections")  # for the sockets' sessions
    with contextlib.ExitStack() as open_sockets:
        sockets = [open_sockets.enter_context(open_socket(url)) for url in urls]
        for ws in sockets:
            ws.send(json.dumps(examples.TWILIO_SETUP))
            ws.send(json.dumps(examples.twilio_prompt("Yes, that's me.")))
        for ws in sockets:
            assert spoken(frames(ws)) == "Okay."  # every call answered, all of them still open
        assert others_connected() < CALLS
    # The last call gone, the server holds no connection for them.
    assert wait_for(lambda: others_connected() == 0, timeout=10)
