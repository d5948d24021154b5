"""Outgoing webhooks' rules: endpoints (create, edit, delete, rotate a secret, re-enable), the
outbox (one message per event, one delivery per subscribed endpoint) and sending a delivery
with its retries, until it is delivered, given up, or its endpoint is disabled."""

import functools
import json
import logging
import random
import time
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.admin_history import admin_history_purge
from clozit import events
from clozit.exporting import export_json, export_rows
from clozit.queueing import enqueue
from notices import kinds
from notices.services import notice_send_to_workspace

from .. import http
from . import payloads, signing
from .models import Delivery, Endpoint, Message

logger = logging.getLogger(__name__)

TEST_EVENT = "webhook.test"  # sent from the endpoint's page only, never published

# Seconds to wait after each failed attempt: the first retry comes at once (a receiver that
# restarted), then less and less often, for about three days (67 hours) in all; 12 attempts.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000, 36000, 36000)
# Each wait is stretched by up to this share at random, so the retries of a receiver that was
# down for everyone do not all come back at the same second.
JITTER = 0.2
LEASE_SECONDS = 60  # longer than a request may last (10 s): a crashed worker's lease runs out


class WebhookError(Exception):
    """A change to an endpoint that is refused; the message is for the person who asked."""


def _workspace_id(workspace) -> int:
    return getattr(workspace, "pk", workspace)


def _check_url(url: str) -> None:
    try:
        http.check_target(url)
    except http.TransportError as exc:
        if exc.permanent:
            raise WebhookError(exc.message) from exc
        # Not resolvable today may be a DNS change in progress: saved, and each delivery checks again.


def _check_event_types(event_types) -> list[str]:
    chosen = [t for t in events.EVENT_TYPES if t in set(event_types)]
    if not chosen or len(chosen) != len(set(event_types)):
        raise WebhookError("Choose at least one event, from the list.")
    return chosen


@transaction.atomic
def endpoint_create(*, workspace, by, url: str, event_types, description: str = "", enabled: bool = True) -> Endpoint:
    _check_url(url)
    endpoint = Endpoint.objects.create(
        workspace_id=_workspace_id(workspace),
        url=url,
        description=description[:200],
        event_types=_check_event_types(event_types),
        enabled=enabled,
        secret=signing.secret_new(),
    )
    audit.record(workspace=workspace, actor=by, action="webhook.create", summary=f"Added the webhook endpoint {url}.")
    return endpoint


@transaction.atomic
def endpoint_update(
    *, endpoint: Endpoint, by, url: str, event_types, description: str = "", enabled: bool = True
) -> Endpoint:
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    if url != endpoint.url:
        _check_url(url)
    endpoint.url = url
    endpoint.description = description[:200]
    endpoint.event_types = _check_event_types(event_types)
    if enabled and not endpoint.enabled:
        endpoint.failing_since = None  # a fresh start: the failure period counts from now
        endpoint.disabled_reason = ""
    endpoint.enabled = enabled
    endpoint.save()
    audit.record(
        workspace=endpoint.workspace_id, actor=by, action="webhook.edit", summary=f"Changed the webhook endpoint {url}."
    )
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint, by) -> None:
    url = endpoint.url
    workspace_id = endpoint.workspace_id
    endpoint.delete()
    audit.record(
        workspace=workspace_id, actor=by, action="webhook.delete", summary=f"Deleted the webhook endpoint {url}."
    )


@transaction.atomic
def endpoint_secret_rotate(*, endpoint: Endpoint, by) -> Endpoint:
    """A new secret signs from now on; the current one keeps signing too (both signatures are
    sent) for WEBHOOK_SECRET_OVERLAP_HOURS, so the receiver can switch without losing a message."""
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = timezone.now() + timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
    endpoint.secret = signing.secret_new()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"])
    audit.record(
        workspace=endpoint.workspace_id,
        actor=by,
        action="webhook.rotate",
        summary=f"Rotated the signing secret of the webhook endpoint {endpoint.url}.",
    )
    return endpoint


@transaction.atomic
def endpoint_enable(*, endpoint: Endpoint, by) -> Endpoint:
    """Turn a disabled endpoint back on. Deliveries given up while it was failing stay given up
    (Resend sends one again); new events go to it from now on."""
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    if endpoint.enabled:
        return endpoint
    endpoint.enabled = True
    endpoint.failing_since = None
    endpoint.disabled_reason = ""
    endpoint.save(update_fields=["enabled", "failing_since", "disabled_reason", "updated_at"])
    audit.record(
        workspace=endpoint.workspace_id,
        actor=by,
        action="webhook.enable",
        summary=f"Turned the webhook endpoint {endpoint.url} back on.",
    )
    return endpoint


def endpoint_signing_secrets(endpoint: Endpoint, *, now=None) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    now = now or timezone.now()
    found = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        found.append(endpoint.previous_secret)
    return found


# --- The outbox --------------------------------------------------------------------


def _enqueue_after_commit(delivery_ids: list[int]) -> None:
    def send():
        from .jobs import delivery_attempt

        for delivery_id in delivery_ids:
            try:
                enqueue(settings.WEBHOOK_QUEUE, delivery_attempt, delivery_id, result_ttl=0)
            except Exception:  # Redis away: the sweep finds them (deliveries_sweep)
                logger.exception("webhook delivery %s not enqueued; the sweep will send it", delivery_id)

    transaction.on_commit(send)


# One drain at a time per endpoint sends its new deliveries one after another: a job per delivery
# would spend more on the queue's own work than on sending, and a flood of events to one endpoint
# would take every worker. Retries, Resend and test events still get a job each.
DRAIN_SECONDS = 20  # then the drain goes back in the queue, so other endpoints get their turn
DRAIN_BATCH = 50
DRAIN_FLAG_SECONDS = DRAIN_SECONDS + LEASE_SECONDS  # a crashed drain's flag runs out; the sweep covers it meanwhile


@functools.cache
def _redis(config: str):
    return django_rq.get_connection(settings.WEBHOOK_QUEUE)


def _drain_key(endpoint_id: int) -> str:
    return f"webhooks:draining:{endpoint_id}"


def _drains_start(endpoint_ids) -> None:
    """Start a drain for each endpoint that has none running (a Redis flag, set if absent)."""
    from .jobs import endpoint_drain

    redis = _redis(repr(settings.RQ_QUEUES[settings.WEBHOOK_QUEUE]))
    for endpoint_id in endpoint_ids:
        try:
            if redis.set(_drain_key(endpoint_id), "1", nx=True, ex=DRAIN_FLAG_SECONDS):
                enqueue(settings.WEBHOOK_QUEUE, endpoint_drain, endpoint_id, result_ttl=0)
        except Exception:  # Redis away: the sweep finds the deliveries (deliveries_sweep)
            logger.exception("webhook drain of endpoint %s not started; the sweep will send", endpoint_id)


def _due(endpoint_id: int, *, now):
    return (
        Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .order_by("next_attempt_at", "id")
    )


def _lease_batch(endpoint_id: int) -> list[Delivery]:
    """Lease up to DRAIN_BATCH due deliveries of the endpoint at once, with their messages. The
    lease outlasts the drain (it stops taking them after DRAIN_SECONDS and gives back the rest),
    plus one request."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            _due(endpoint_id, now=now).select_for_update(skip_locked=True).values_list("pk", flat=True)[:DRAIN_BATCH]
        )
        if not ids:
            return []
        Delivery.objects.filter(pk__in=ids).update(leased_until=now + timedelta(seconds=DRAIN_FLAG_SECONDS))
    return list(
        Delivery.objects.filter(pk__in=ids).select_related("message", "endpoint").order_by("next_attempt_at", "id")
    )


def endpoint_drain(*, endpoint_id: int) -> int:
    """Send the endpoint's due deliveries, oldest first, for up to DRAIN_SECONDS; returns how many
    were tried. Each is leased before it is sent, so a drain running beside a retry's job or the
    sweep's never sends one twice."""
    started = time.monotonic()
    tried = 0
    redis = _redis(repr(settings.RQ_QUEUES[settings.WEBHOOK_QUEUE]))
    while batch := _lease_batch(endpoint_id):
        for index, delivery in enumerate(batch):
            if time.monotonic() - started > DRAIN_SECONDS:
                from .jobs import endpoint_drain as job

                # Give back what this drain leased and did not send, and go on in a new job.
                unsent = [d.pk for d in batch[index:]]
                Delivery.objects.filter(pk__in=unsent, status=Delivery.Status.PENDING).update(leased_until=None)
                redis.expire(_drain_key(endpoint_id), DRAIN_FLAG_SECONDS)
                enqueue(settings.WEBHOOK_QUEUE, job, endpoint_id, result_ttl=0)
                return tried
            _send_leased(delivery)
            tried += 1
    redis.delete(_drain_key(endpoint_id))
    # A delivery committed between the last look and the flag's removal saw the flag and started
    # nothing: look once more.
    if _due(endpoint_id, now=timezone.now()).exists():
        _drains_start([endpoint_id])
    return tried


def event_received(*, event: events.Event) -> Message | None:
    """The listener's (clozit.events): inside the publisher's transaction, one message and one
    delivery per enabled endpoint that asked for this type, sent after commit. A rolled-back
    change takes its message with it; a crash after the commit leaves the deliveries pending for
    the sweep. Costs one query when nobody listens."""
    endpoints = [
        endpoint.pk
        for endpoint in Endpoint.objects.filter(workspace_id=event.workspace_id, enabled=True).only("event_types")
        if event.type in endpoint.event_types
    ]
    if not endpoints:
        return None
    # Atomic on its own too, for a publisher outside a transaction: a message is never left without its deliveries.
    with transaction.atomic():
        message = Message.objects.create(workspace_id=event.workspace_id, event_type=event.type, data=event.data)
        now = timezone.now()
        Delivery.objects.bulk_create(
            [Delivery(message=message, endpoint_id=pk, next_attempt_at=now) for pk in endpoints]
        )
    transaction.on_commit(lambda: _drains_start(endpoints))
    return message


@transaction.atomic
def endpoint_test_send(*, endpoint: Endpoint, by) -> Delivery:
    """A `webhook.test` message to this endpoint alone, whatever events it asked for."""
    message = Message.objects.create(workspace_id=endpoint.workspace_id, event_type=TEST_EVENT, data={})
    delivery = Delivery.objects.create(message=message, endpoint=endpoint, next_attempt_at=timezone.now())
    _enqueue_after_commit([delivery.pk])
    return delivery


@transaction.atomic
def delivery_resend(*, delivery: Delivery, by) -> Delivery:
    """Send a message again to its endpoint: same body, same webhook-id (a receiver that already
    has it can tell), a fresh set of attempts."""
    delivery = Delivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
    if delivery.status == Delivery.Status.PENDING and delivery.attempts == 0:
        return delivery  # on its way already
    delivery.status = Delivery.Status.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.leased_until = None
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "leased_until"])
    _enqueue_after_commit([delivery.pk])
    return delivery


# --- Sending -----------------------------------------------------------------------


def _message_body(message: Message) -> str:
    """The message's JSON, built at its first attempt and kept (every endpoint and retry sends
    the same bytes)."""
    if not message.body:
        payload = {
            "type": message.event_type,
            "timestamp": message.created_at.isoformat().replace("+00:00", "Z"),
            "data": payloads.build(event_type=message.event_type, workspace_id=message.workspace_id, data=message.data),
        }
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        # Another endpoint's job may have built it meanwhile: the first one written is the one.
        if Message.objects.filter(pk=message.pk, body="").update(body=body):
            message.body = body
        else:
            message.body = Message.objects.values_list("body", flat=True).get(pk=message.pk)
    return message.body


def _lease(delivery_id: int, now) -> bool:
    """Take the delivery for this worker if it is due and nobody else has it: the guard that
    makes a job run twice (or the sweep's copy of it) send once."""
    return bool(
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .update(leased_until=now + timedelta(seconds=LEASE_SECONDS))
    )


def retry_delay(attempts: int) -> timedelta | None:
    """How long after the `attempts`-th failed attempt to try again; None: no more tries."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[attempts - 1]
    return timedelta(seconds=base * (1 + random.uniform(0, JITTER)))


def delivery_send(*, delivery_id: int) -> str:
    """One attempt at a delivery, if it is due and not taken. Returns its status afterwards."""
    now = timezone.now()
    if not _lease(delivery_id, now):
        return Delivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first() or ""
    return _send_leased(Delivery.objects.select_related("message", "endpoint").get(pk=delivery_id))


def _send_leased(delivery: Delivery) -> str:
    """Send a delivery this worker has leased, and record the answer."""
    delivery_id = delivery.pk
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        # Turned off (by its owner or by failing) after this was queued: it waits as it is, and
        # is given up once the endpoint is; Resend sends it after it is turned on again.
        Delivery.objects.filter(pk=delivery_id).update(
            status=Delivery.Status.FAILED, leased_until=None, last_error="The endpoint is disabled."
        )
        return Delivery.Status.FAILED
    body = _message_body(delivery.message)
    sent_at = timezone.now()
    headers = signing.headers(
        secrets_=endpoint_signing_secrets(endpoint, now=sent_at),
        msg_id=delivery.message.msg_id,
        timestamp=sent_at,
        body=body,
    )
    status_code = latency = None
    excerpt = error = ""
    permanent = False
    try:
        response = http.request("POST", endpoint.url, body=body.encode(), headers=headers)
    except http.TransportError as exc:
        error, permanent = exc.message, exc.permanent
    except Exception as exc:  # a bug or a library's surprise: counted as an attempt, never a job that loops
        logger.exception("webhook delivery %s: unexpected error", delivery_id)
        error = f"Could not send: {type(exc).__name__}."
    else:
        status_code, latency = response.status, response.elapsed_ms
        excerpt = response.body.decode("utf-8", errors="replace")
        if 300 <= status_code < 400:
            error = f"The receiver answered {status_code} (a redirect): webhooks do not follow redirects."
        elif not 200 <= status_code < 300:
            error = f"The receiver answered {status_code}."
    if not error:
        # The common case in one statement: delivered (no retry to plan, no endpoint to judge).
        Delivery.objects.filter(pk=delivery_id).update(
            status=Delivery.Status.DELIVERED,
            attempts=F("attempts") + 1,
            last_attempt_at=sent_at,
            delivered_at=sent_at,
            next_attempt_at=None,
            leased_until=None,
            last_status_code=status_code,
            last_latency_ms=latency,
            last_error="",
            response_excerpt=excerpt[: http.KEEP_BYTES],
        )
        if endpoint.failing_since is not None:
            Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        return Delivery.Status.DELIVERED
    return _record_attempt(
        delivery_id=delivery_id,
        at=sent_at,
        status_code=status_code,
        latency=latency,
        excerpt=excerpt,
        error=error,
        permanent=permanent,
    )


@transaction.atomic
def _record_attempt(*, delivery_id, at, status_code, latency, excerpt, error, permanent) -> str:
    delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
    if delivery is None:  # its endpoint was deleted while it was being sent
        return ""
    endpoint = Endpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    delivery.attempts += 1
    delivery.last_attempt_at = at
    delivery.last_status_code = status_code
    delivery.last_latency_ms = latency
    delivery.response_excerpt = excerpt[: http.KEEP_BYTES]
    delivery.last_error = error[:300]
    delivery.leased_until = None
    if not error:
        delivery.status = Delivery.Status.DELIVERED
        delivery.delivered_at = at
        delivery.next_attempt_at = None
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
            endpoint.save(update_fields=["failing_since"])
    else:
        delay = None if permanent else retry_delay(delivery.attempts)
        if delay is None:
            delivery.status = Delivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = at + delay
            retry_id, seconds = delivery.pk, delay.total_seconds()
            transaction.on_commit(lambda: _enqueue_retry(retry_id, seconds))
        if endpoint.failing_since is None:
            endpoint.failing_since = at
            endpoint.save(update_fields=["failing_since"])
        elif endpoint.enabled and at - endpoint.failing_since >= timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS):
            _endpoint_disable(endpoint, at=at)
            delivery.status = Delivery.Status.FAILED  # with the endpoint's other pending ones
            delivery.next_attempt_at = None
    delivery.save()
    return delivery.status


def _enqueue_retry(delivery_id: int, seconds: float) -> None:
    import django_rq

    from .jobs import delivery_attempt

    try:
        django_rq.get_queue(settings.WEBHOOK_QUEUE).enqueue_in(
            timedelta(seconds=seconds), delivery_attempt, delivery_id
        )
    except Exception:  # the sweep sends it when its time comes
        logger.exception("webhook retry of delivery %s not scheduled; the sweep will send it", delivery_id)


def _endpoint_disable(endpoint: Endpoint, *, at) -> None:
    """Every delivery has failed for WEBHOOK_DISABLE_AFTER_DAYS: stop trying (its pending
    deliveries are given up) and tell the workspace's owners, who can fix it and turn it on."""
    days = settings.WEBHOOK_DISABLE_AFTER_DAYS
    endpoint.enabled = False
    endpoint.disabled_reason = f"Turned off after {days} days in which every delivery failed."
    endpoint.save(update_fields=["enabled", "disabled_reason", "updated_at"])
    Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED, next_attempt_at=None, last_error="Given up: the endpoint was turned off."
    )
    audit.record(
        workspace=endpoint.workspace_id,
        actor=None,
        action="webhook.disable",
        summary=f"Turned off the webhook endpoint {endpoint.url}: every delivery failed for {days} days.",
    )
    notice_send_to_workspace(
        workspace=endpoint.workspace,
        kind=kinds.WEBHOOK_DISABLED,
        # `at` names this time it was turned off: turned on again and failing again is a new event.
        key=f"webhook-endpoint:{endpoint.pk}:disabled:{at.isoformat()}",
        context={
            "endpoint": endpoint,
            "days": days,
            "link": settings.PUBLIC_BASE_URL + reverse("webhook_detail", args=[endpoint.pk]),
        },
        link=reverse("webhook_detail", args=[endpoint.pk]),
    )


def deliveries_sweep(*, now=None) -> int:
    """Enqueue pending deliveries whose time has come a while ago and that nobody is sending: the
    ones whose enqueue a crash (or Redis) lost, after commit or between retries. Returns how many."""
    from .jobs import delivery_attempt

    now = now or timezone.now()
    due = (
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now - timedelta(seconds=30))
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .values_list("pk", flat=True)[:1000]
    )
    count = 0
    for delivery_id in due:
        enqueue(settings.WEBHOOK_QUEUE, delivery_attempt, delivery_id, result_ttl=0)
        count += 1
    return count


def webhooks_workspace_erase(*, workspace_id: int, **_) -> None:
    """A purged workspace keeps no endpoints, secrets or sent payloads (they carry transcripts and
    numbers). Receiver of `clozit.events.workspace_purging`."""
    endpoints = Endpoint.objects.filter(workspace_id=workspace_id)
    admin_history_purge([endpoints, Delivery.objects.filter(endpoint__workspace_id=workspace_id)])
    endpoints.delete()  # and their deliveries
    Message.objects.filter(workspace_id=workspace_id).delete()


def webhooks_workspace_export(*, workspace_id: int, **_) -> dict[str, str]:
    """Endpoints (not their secrets), the messages sent and every delivery attempt's record."""
    data = {
        "endpoints": export_rows(
            Endpoint.objects.filter(workspace_id=workspace_id), leave_out=["secret", "previous_secret"]
        ),
        "messages": export_rows(Message.objects.filter(workspace_id=workspace_id)),
        "deliveries": export_rows(Delivery.objects.filter(endpoint__workspace_id=workspace_id)),
    }
    return {"integrations/webhooks.json": export_json(data)}
