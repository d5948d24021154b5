"""Deliveries to a real receiver: signed per Standard Webhooks, retried on the schedule, never
following a redirect, sent once however often their job runs, given up and the endpoint turned
off (and its owners told) after failing for days."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from clozit import events
from integrations.webhooks import services
from integrations.webhooks.models import Delivery, Endpoint, Message

pytestmark = pytest.mark.django_db(transaction=True)


def make_endpoint(user, url, types=events.EVENT_TYPES) -> Endpoint:
    return services.endpoint_create(workspace=user.personal_workspace, by=user, url=url, event_types=list(types))


def publish(user, type=events.CREDITS_LOW, **data):
    with transaction.atomic():
        events.publish(type=type, workspace_id=user.personal_workspace.pk, **(data or {"balance": "500"}))


def test_an_event_reaches_the_receiver_signed(user, receiver, run_jobs):
    endpoint = make_endpoint(user, receiver.url)
    publish(user, balance="512.00", threshold="600")
    run_jobs()

    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    body = Webhook(endpoint.secret).verify(got.body, got.headers)
    assert body["type"] == "credits.low"
    assert body["data"]["balance"] == "512.00" and body["data"]["threshold"] == "600.00"
    assert body["timestamp"].endswith("Z")
    assert got.headers["webhook-id"].startswith("msg_")
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 1
    assert delivery.last_status_code == 200 and delivery.response_excerpt == "ok"


def test_only_subscribed_enabled_endpoints_get_it(user, receiver, run_jobs):
    make_endpoint(user, receiver.url, types=[events.CALL_COMPLETED])
    off = make_endpoint(user, receiver.url + "/off")
    Endpoint.objects.filter(pk=off.pk).update(enabled=False)
    publish(user)
    run_jobs()
    assert receiver.requests == [] and not Message.objects.exists()


def test_a_rolled_back_change_publishes_nothing(user, receiver, run_jobs):
    make_endpoint(user, receiver.url)
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish(type=events.CREDITS_LOW, workspace_id=user.personal_workspace.pk, balance="1")
        raise RuntimeError("the change fails")
    run_jobs()
    assert receiver.requests == [] and not Delivery.objects.exists()


def test_a_failure_is_retried_on_the_schedule_with_the_same_id(user, receiver, run_jobs):
    receiver.answers = [500, 503, 200]
    make_endpoint(user, receiver.url)
    publish(user)
    run_jobs()
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 1
    assert delivery.last_status_code == 500 and "500" in delivery.last_error
    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=5) <= wait <= timedelta(seconds=5 * (1 + services.JITTER))

    for attempt, base in [(2, 300), (3, None)]:
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        services.delivery_send(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
        if base:
            wait = delivery.next_attempt_at - delivery.last_attempt_at
            assert timedelta(seconds=base) <= wait <= timedelta(seconds=base * (1 + services.JITTER))
    assert delivery.status == Delivery.Status.DELIVERED
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1
    assert len({r.body for r in receiver.requests}) == 1  # the same body every time


def test_the_schedule_spans_about_three_days_then_gives_up():
    total = sum(services.RETRY_SCHEDULE)
    assert timedelta(days=2.5) <= timedelta(seconds=total) <= timedelta(days=3.5)
    assert services.retry_delay(len(services.RETRY_SCHEDULE) + 1) is None


def test_the_last_attempt_failing_gives_up(user, receiver):
    receiver.answers = [500]
    make_endpoint(user, receiver.url)
    publish(user)
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(attempts=len(services.RETRY_SCHEDULE))
    services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and delivery.next_attempt_at is None


def test_a_slow_receiver_is_a_failure_retried(user, receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.answers = [(200, {}, b"late", 2.0)]
    make_endpoint(user, receiver.url)
    publish(user)
    delivery = Delivery.objects.get()
    assert services.delivery_send(delivery_id=delivery.pk) == Delivery.Status.PENDING
    delivery.refresh_from_db()
    assert "longer than 0.5 s" in delivery.last_error and delivery.last_status_code is None
    assert delivery.next_attempt_at > timezone.now()


def test_a_redirect_is_not_followed(user, receiver):
    receiver.answers = [(302, {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}, b"", 0.0)]
    make_endpoint(user, receiver.url)
    publish(user)
    delivery = Delivery.objects.get()
    services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert [r.path for r in receiver.requests] == ["/hook"]
    assert delivery.status == Delivery.Status.PENDING and delivery.last_status_code == 302
    assert "redirect" in delivery.last_error


def test_a_job_run_twice_sends_once(user, receiver, run_jobs):
    make_endpoint(user, receiver.url)
    publish(user)
    delivery = Delivery.objects.get()
    from integrations.webhooks.jobs import delivery_attempt

    delivery_attempt(delivery.pk)
    delivery_attempt(delivery.pk)
    run_jobs()  # and the copy enqueued after commit
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_the_sweep_sends_what_a_crash_did_not_enqueue(user, receiver, run_jobs):
    endpoint = make_endpoint(user, receiver.url)
    # As if the process died between the commit and the enqueue: rows written, no job.
    message = Message.objects.create(workspace=user.personal_workspace, event_type=events.CREDITS_LOW, data={})
    delivery = Delivery.objects.create(
        message=message, endpoint=endpoint, next_attempt_at=timezone.now() - timedelta(minutes=2)
    )
    assert services.deliveries_sweep() == 1
    run_jobs()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED and len(receiver.requests) == 1
    assert services.deliveries_sweep() == 0


def test_rotation_signs_with_both_secrets_until_the_overlap_ends(user, receiver, run_jobs):
    endpoint = make_endpoint(user, receiver.url)
    old = endpoint.secret
    endpoint = services.endpoint_secret_rotate(endpoint=endpoint, by=user)
    assert endpoint.secret != old and endpoint.secret.startswith("whsec_")
    publish(user)
    run_jobs()
    got = receiver.requests[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(got.body, got.headers)
    Webhook(endpoint.secret).verify(got.body, got.headers)

    Endpoint.objects.filter(pk=endpoint.pk).update(previous_secret_until=timezone.now() - timedelta(seconds=1))
    publish(user)
    run_jobs()
    got = receiver.requests[-1]
    Webhook(endpoint.secret).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(got.body, got.headers)


def test_an_endpoint_failing_for_days_is_turned_off_and_its_owners_told(user, receiver, settings, run_jobs, client):
    settings.WEBHOOK_DISABLE_AFTER_DAYS = 3
    receiver.answers = [500]
    endpoint = make_endpoint(user, receiver.url)
    publish(user)
    publish(user)
    first, second = Delivery.objects.order_by("pk")
    services.delivery_send(delivery_id=first.pk)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since is not None
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=3, minutes=1))
    services.delivery_send(delivery_id=second.pk)

    endpoint.refresh_from_db()
    assert not endpoint.enabled and "3 days" in endpoint.disabled_reason
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.FAILED}
    run_jobs()  # the notice's email
    # (the account's other notices, such as low credits, have their own emails)
    (email,) = [message for message in mail.outbox if "Webhook endpoint turned off" in message.subject]
    assert email.to == [user.email] and receiver.url in email.subject
    assert f"/integrations/webhooks/{endpoint.pk}/" in email.body
    assert email.alternatives and "turn it back on" in email.alternatives[0][0]
    client.force_login(user)
    # Listed on the owner's notices page (without the "[Clozit] " an inbox needs).
    assert email.subject.removeprefix("[Clozit] ") in client.get("/notices/").content.decode()

    # Nothing more goes to it; turned on again, it gets new events.
    publish(user)
    assert Delivery.objects.count() == 2
    services.endpoint_enable(endpoint=endpoint, by=user)
    receiver.answers = [200]
    publish(user)
    assert Delivery.objects.count() == 3


def test_a_success_clears_the_failing_period(user, receiver):
    receiver.answers = [500, 200]
    endpoint = make_endpoint(user, receiver.url)
    publish(user)
    delivery = Delivery.objects.get()
    services.delivery_send(delivery_id=delivery.pk)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    services.delivery_send(delivery_id=delivery.pk)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_resend_and_test_event(user, receiver, run_jobs):
    endpoint = make_endpoint(user, receiver.url)
    publish(user)
    run_jobs()
    delivery = Delivery.objects.get()
    services.delivery_resend(delivery=delivery, by=user)
    run_jobs()
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]

    services.endpoint_test_send(endpoint=endpoint, by=user)
    run_jobs()
    body = json.loads(receiver.requests[-1].body)
    assert body["type"] == "webhook.test"


def test_the_documented_plain_hmac_verifier_accepts_what_we_send(user, receiver, run_jobs):
    """docs/integrations.md's standard-library verifier, run on a real delivery (and a rotation's two signatures)."""
    import re
    from pathlib import Path

    from django.conf import settings

    docs = (Path(settings.BASE_DIR) / "docs" / "integrations.md").read_text()
    namespace: dict = {}
    exec(re.search(r"```python\n(import base64.*?)```", docs, re.S).group(1), namespace)  # noqa: S102
    verify = namespace["verify"]

    endpoint = make_endpoint(user, receiver.url)
    old = endpoint.secret
    endpoint = services.endpoint_secret_rotate(endpoint=endpoint, by=user)
    publish(user)
    run_jobs()
    got = receiver.requests[0]
    assert verify(endpoint.secret, got.body, got.headers)["type"] == "credits.low"
    assert verify(old, got.body, got.headers)["type"] == "credits.low"
    with pytest.raises(ValueError):
        verify(endpoint.secret, got.body + b" ", got.headers)


def test_an_endpoint_deleted_while_sending_leaves_nothing_behind(user, receiver):
    endpoint = make_endpoint(user, receiver.url)
    publish(user)
    delivery = Delivery.objects.get()
    receiver.answers = [(500, {}, b"", 0.3)]
    import threading

    from django.db import connection

    def delete():
        services.endpoint_delete(endpoint=endpoint, by=user)
        connection.close()  # this thread's own

    deleter = threading.Timer(0.1, delete)
    deleter.start()
    assert services.delivery_send(delivery_id=delivery.pk) == ""
    deleter.join()
    assert not Delivery.objects.exists()


def test_one_drain_per_endpoint_sends_a_burst(user, receiver, run_jobs):
    import django_rq
    from django.conf import settings

    endpoint = make_endpoint(user, receiver.url)
    for _ in range(5):
        publish(user)
    queue = django_rq.get_queue(settings.WEBHOOK_QUEUE)
    # One drain for the five, not a job each (the owners' low-credit email is a job of notices).
    assert [job.func_name for job in queue.jobs].count("integrations.webhooks.jobs.endpoint_drain") == 1
    run_jobs()
    assert len(receiver.requests) == 5
    assert [r.headers["webhook-id"] for r in receiver.requests] == list(
        Message.objects.order_by("pk").values_list("msg_id", flat=True)
    )  # oldest first
    redis = queue.connection
    assert not redis.exists(services._drain_key(endpoint.pk))
    publish(user)  # the drain ended: the next event starts another
    run_jobs()
    assert len(receiver.requests) == 6
