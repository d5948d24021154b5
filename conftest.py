"""Fixtures shared by every app's tests: real Redis queues and an in-process RQ worker."""

import contextlib

import django_rq
import pytest
from django.utils import timezone
from rq import SimpleWorker

from clozit.settings import RQ_QUEUES

QUEUE_NAMES = list(RQ_QUEUES)


@pytest.fixture(autouse=True)
def clean_redis():
    """Each test starts with empty queues (the test Redis database is the suite's own)."""
    django_rq.get_connection("default").flushdb()
    yield


@pytest.fixture
def run_jobs():
    """Run every queued job, including the ones jobs enqueue, until the queues are empty."""

    def run(max_rounds: int = 50) -> int:
        queues = [django_rq.get_queue(name) for name in QUEUE_NAMES]
        worker = SimpleWorker(queues, connection=queues[0].connection)
        worker.work(burst=True, max_jobs=None)
        failed = [job for q in queues for job in q.failed_job_registry.get_job_ids()]
        assert not failed, f"jobs failed: {failed}"
        return worker.successful_job_count

    return run


@pytest.fixture
def user(db):
    from accounts.models import User
    from accounts.services import account_created

    user = User.objects.create_user(
        email="owner@example.com",
        password="correct horse battery",
        company_name="Acme",
        mobile_number="+14155550123",
        mobile_verified_at=timezone.now(),
    )
    account_created(user=user)
    return user


def _database_checked_after(request, opt_out: str) -> bool:
    """Whether the test touches the database and did not opt out with `opt_out`; if so, its
    database is requested here so that it outlives the check after the test."""
    marker = request.node.get_closest_marker("django_db")
    uses_db = marker is not None or {"db", "transactional_db", "live_server"} & set(request.fixturenames)
    if not uses_db or request.node.get_closest_marker(opt_out):
        return False
    transactional = (
        (marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
        or "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    return True


@pytest.fixture(autouse=True)
def books_balance(request):
    """After every test that touched the database, `verify_ledger` must find nothing wrong.

    Opt out with @pytest.mark.ledger_corrupted for tests that break the books on purpose.
    """
    if not _database_checked_after(request, "ledger_corrupted"):
        yield
        return
    yield
    from billing.verification import ledger_problems

    problems = ledger_problems()
    assert not problems, f"verify_ledger after the test: {problems}"


@pytest.fixture(autouse=True)
def counters_match(request):
    """After every test that touched the database, `verify_counters` must find no drift: the call
    and contact counters the pages read equal what the rows say, whatever the test wrote.

    Opt out with @pytest.mark.counters_corrupted for tests that break the counters on purpose.
    """
    if not _database_checked_after(request, "counters_corrupted"):
        yield
        return
    yield
    from campaigns.calls.counters import counter_problems

    problems = counter_problems()
    assert not problems, f"verify_counters after the test: {problems}"


@pytest.fixture
def asgi_server(settings):
    """The whole ASGI application (Django and the relay sockets) served by uvicorn on a free
    port in this process, as gunicorn's uvicorn workers serve it. PUBLIC_BASE_URL points at it,
    so URLs given to a carrier (webhooks, relay sockets) come back here. Yields the base URL."""
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from clozit.asgi import application

    # Static files from the apps' folders too, as Django's own live server serves them.
    with _served(ASGIStaticFilesHandler(application), settings) as url:
        yield url


@pytest.fixture
def serve_asgi(settings):
    """Serve another ASGI app the way `asgi_server` serves ours (e.g. a relay socket with a test
    conversation behind it): `serve_asgi(app)` returns its base URL, and PUBLIC_BASE_URL points
    at it. Every app served stops when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(_served(app, settings))


@contextlib.contextmanager
def _served(app, settings):
    import socket
    import threading
    import time

    import uvicorn
    from django.db import connections

    # Each request closes its own connection when it ends (as with CONN_MAX_AGE=0): the server's
    # threads must not hold the test database open after the test.
    persistent = connections.settings["default"].get("CONN_MAX_AGE", 0)
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="websockets-sansio")
    )
    thread = threading.Thread(target=server.run, name="asgi-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    url = f"http://127.0.0.1:{port}"
    settings.PUBLIC_BASE_URL = url
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        connections.settings["default"]["CONN_MAX_AGE"] = persistent
