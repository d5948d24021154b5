"""Idempotency-Key on POSTs, end to end over real HTTP with `POST /do-not-call`: a repeat answers
the first answer and does nothing again; the same key for another request, or while the first is
running, is refused; concurrent duplicates run once.

`POST /do-not-call` answers 201 when it added the number and 200 when the number was there
already, so "the action ran twice" shows as a 200 that was not replayed."""

import threading
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from django.http import HttpResponse
from django.utils import timezone

from campaigns.models import DoNotCall
from integrations.api import idempotency
from integrations.api.models import ApiKey, IdempotencyRecord

from .test_api_auth import assert_problem, bearer
from .test_keys import make_key, make_owner


@pytest.fixture
def live(transactional_db, asgi_server):
    return SimpleNamespace(url=asgi_server)


NUMBER = "+14155550199"


def post(url, secret, key, body):
    headers = {**bearer(secret), idempotency.HEADER: key}
    return requests.post(f"{url}/api/v1/do-not-call", json=body, headers=headers, timeout=10)


def test_a_repeat_answers_the_first_answer_and_does_nothing_again(live):
    owner = make_owner("ada@example.com")
    secret = make_key(owner)
    key = str(uuid.uuid4())
    body = {"phone_number": NUMBER, "reason": "Asked us to stop"}

    first = post(live.url, secret, key, body)
    assert first.status_code == 201 and idempotency.REPLAYED_HEADER not in first.headers
    # Taken off the list meanwhile: a replay must not put it back.
    assert (
        requests.delete(
            f"{live.url}/api/v1/do-not-call/{first.json()['id']}", headers=bearer(secret), timeout=10
        ).status_code
        == 204
    )
    again = post(live.url, secret, key, body)

    assert again.status_code == 201
    assert again.headers[idempotency.REPLAYED_HEADER] == "true"
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.json() == first.json()
    assert not DoNotCall.objects.exists()
    # Without the key the same request does run again.
    assert post(live.url, secret, str(uuid.uuid4()), body).status_code == 201


def test_the_same_key_for_another_request_is_refused_with_422(live):
    owner = make_owner("ada@example.com")
    secret = make_key(owner)
    key = str(uuid.uuid4())
    post(live.url, secret, key, {"phone_number": NUMBER})

    other = post(live.url, secret, key, {"phone_number": "+14155550198"})

    assert "another request" in assert_problem(other, 422)["detail"]
    assert list(DoNotCall.objects.values_list("phone_number", flat=True)) == [NUMBER]


def test_keys_are_per_api_key(live):
    owner = make_owner("ada@example.com")
    first_secret, second_secret = make_key(owner, name="One"), make_key(owner, name="Two")
    key = str(uuid.uuid4())

    assert post(live.url, first_secret, key, {"phone_number": NUMBER}).status_code == 201
    second = post(live.url, second_secret, key, {"phone_number": NUMBER})

    # Another API key's request ran on its own (the number was there already: 200, not replayed).
    assert second.status_code == 200 and idempotency.REPLAYED_HEADER not in second.headers


def test_a_repeat_while_the_first_is_running_is_refused_with_409_until_it_is_abandoned(live):
    owner = make_owner("ada@example.com")
    secret = make_key(owner)
    key = str(uuid.uuid4())
    body = b'{"phone_number": "+14155550199"}'
    running = IdempotencyRecord.objects.create(
        api_key=ApiKey.objects.get(),
        key=key,
        request_hash=idempotency.request_fingerprint(method="POST", path="/api/v1/do-not-call", body=body),
    )
    headers = {**bearer(secret), idempotency.HEADER: key, "Content-Type": "application/json"}

    busy = requests.post(f"{live.url}/api/v1/do-not-call", data=body, headers=headers, timeout=10)

    assert "still running" in assert_problem(busy, 409)["detail"]
    assert not DoNotCall.objects.exists()

    # A request marked running for longer than any request may run died with its process.
    IdempotencyRecord.objects.filter(pk=running.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    retried = requests.post(f"{live.url}/api/v1/do-not-call", data=body, headers=headers, timeout=10)

    assert retried.status_code == 201
    assert IdempotencyRecord.objects.get().status == 201


def test_concurrent_duplicates_run_once(live):
    owner = make_owner("ada@example.com")
    secret = make_key(owner)
    key = str(uuid.uuid4())
    start = threading.Barrier(2)
    answers = []

    def send():
        start.wait()
        answers.append(post(live.url, secret, key, {"phone_number": NUMBER}))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    ran = [a for a in answers if a.headers.get(idempotency.REPLAYED_HEADER) != "true" and a.status_code < 300]
    others = [a for a in answers if a not in ran]
    assert [a.status_code for a in ran] == [201], [(a.status_code, a.text) for a in answers]
    # The other waited for nothing: told the first is running, or given its answer.
    assert others[0].status_code == 409 or others[0].headers.get(idempotency.REPLAYED_HEADER) == "true"
    assert DoNotCall.objects.count() == 1


def test_refused_requests_keep_no_key(live):
    """A request refused before it ran (invalid fields here) keeps nothing: the key stays free."""
    owner = make_owner("ada@example.com")
    secret = make_key(owner)
    key = str(uuid.uuid4())

    assert_problem(post(live.url, secret, key, {"reason": "no number"}), 422)
    assert post(live.url, secret, key, {"phone_number": NUMBER}).status_code == 201


def test_a_key_that_is_too_long_or_has_spaces_is_refused_with_400(live):
    owner = make_owner("ada@example.com")
    secret = make_key(owner)

    for key in ("x" * 256, "has spaces"):
        assert_problem(post(live.url, secret, key, {"phone_number": NUMBER}), 400)
    assert not DoNotCall.objects.exists()


@pytest.mark.django_db
def test_a_server_error_is_not_kept_so_the_client_may_retry():
    owner = make_owner("ada@example.com")
    make_key(owner)
    record = IdempotencyRecord.objects.create(api_key=ApiKey.objects.get(), key="k", request_hash="0" * 64)

    idempotency.idempotency_finish(record=record, response=HttpResponse(b"{}", status=503))

    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_the_daily_job_forgets_keys_older_than_a_day(settings):
    settings.API_IDEMPOTENCY_HOURS = 24
    owner = make_owner("ada@example.com")
    make_key(owner)
    api_key = ApiKey.objects.get()
    old = IdempotencyRecord.objects.create(api_key=api_key, key="old", request_hash="0" * 64, status=201)
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyRecord.objects.create(api_key=api_key, key="new", request_hash="0" * 64, status=201)

    assert idempotency.idempotency_records_purge() == 1

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
