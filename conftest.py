"""Fixtures shared by every app's tests: real Redis queues and an in-process RQ worker."""

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


@pytest.fixture(autouse=True)
def books_balance(request):
    """After every test that touched the database, `verify_ledger` must find nothing wrong.

    Opt out with @pytest.mark.ledger_corrupted for tests that break the books on purpose.
    """
    marker = request.node.get_closest_marker("django_db")
    uses_db = marker is not None or {"db", "transactional_db", "live_server"} & set(request.fixturenames)
    if not uses_db or request.node.get_closest_marker("ledger_corrupted"):
        yield
        return
    transactional = (
        (marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
        or "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
    )
    # Requested here so the database outlives this check.
    request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    from billing.verification import ledger_problems

    problems = ledger_problems()
    assert not problems, f"verify_ledger after the test: {problems}"
