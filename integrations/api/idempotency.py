"""`Idempotency-Key` for every POST of the API, as Stripe has it: a client that did not hear
the answer (a timeout, a dropped connection) sends the same request with the same key again and
gets the first answer, without the action happening twice.

- The first request with a key (per API key) runs; its answer (status, content type, body) is kept.
- The same key with the same request (method, path with query, body) answers the kept answer
  again, with `Idempotent-Replayed: true`, and runs nothing.
- The same key with another request: 422. While the first is still running: 409.
- An answer with a 5xx status is not kept: the client may try the same key again.
- Requests refused before they run (no key, wrong key, rate limit, invalid fields) keep nothing.
- Keys are kept API_IDEMPOTENCY_HOURS (24 by default), then removed by a daily job.

The API applies this to every operation (api.py): routers do nothing for it.
"""

import hashlib
import re
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from .errors import ApiProblem
from .models import ApiKey, IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Printable ASCII without spaces, as Stripe accepts (UUIDs, or any id the client keeps).
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
# A request still marked running after this long died with its process (no request runs this long:
# gunicorn kills a worker after its timeout), so a retry may take its key over.
ABANDONED_AFTER = timedelta(minutes=5)


class Replay(Exception):
    """The kept answer of an earlier request with the same key (errors.install answers it)."""

    def __init__(self, record: IdempotencyRecord):
        super().__init__(record.key)
        self.record = record


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same request": method, path with its query, and body."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), hashlib.sha256(body).hexdigest().encode()):
        digest.update(part + b"\n")
    return digest.hexdigest()


def _insert(*, api_key: ApiKey, key: str, fingerprint: str) -> IdempotencyRecord | None:
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(api_key=api_key, key=key, request_hash=fingerprint)
    except IntegrityError:
        return None


def idempotency_claim(*, api_key: ApiKey, key: str, fingerprint: str) -> IdempotencyRecord:
    """The record this request now owns (it should run), or raises Replay (answer the kept
    answer) or ApiProblem (409 running, 422 another request). The insert is the lock: of two
    concurrent requests with one key, the database lets exactly one insert."""
    if not KEY_PATTERN.match(key):
        raise ApiProblem(
            400,
            "Invalid idempotency key",
            f"{HEADER} must be 1 to 255 printable characters without spaces (a UUID is a good choice).",
        )
    for _ in range(2):
        record = _insert(api_key=api_key, key=key, fingerprint=fingerprint)
        if record is not None:
            return record
        record = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
        if record is not None:
            break
        # The holder failed with a 5xx and let the key go between our insert and this read: once more.
    else:
        raise ApiProblem(409, "Idempotency key in use", "A request with this key is still running; try again.")
    if record.request_hash != fingerprint:
        raise ApiProblem(
            422,
            "Idempotency key reused",
            f"This {HEADER} was used for another request (method, path or body differ); use a new key.",
        )
    if record.status is None:
        abandoned = timezone.now() - ABANDONED_AFTER
        if record.created_at < abandoned:
            # Conditional: of several retries of an abandoned request, one takes it over.
            taken = IdempotencyRecord.objects.filter(pk=record.pk, status=None, created_at=record.created_at).update(
                created_at=timezone.now()
            )
            if taken:
                return record
        raise ApiProblem(
            409,
            "Idempotency key in use",
            "A request with this key is still running; try again when it has finished.",
            headers={"Retry-After": "1"},
        )
    raise Replay(record)


def idempotency_finish(*, record: IdempotencyRecord, response) -> None:
    """Keep the answer of the request that owns `record`; a 5xx (or an answer that cannot be
    kept) lets the key go so the client may retry."""
    if response is None or response.status_code >= 500 or getattr(response, "streaming", False):
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=response.status_code,
        content_type=response.get("Content-Type", "")[:100],
        body=response.content,
    )


def replay_response(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.body), status=record.status, content_type=record.content_type or None)
    response[REPLAYED_HEADER] = "true"
    return response


def claim_before_view(view_func):
    """Operation decorator (api.py): runs after authentication and validation, before the view."""

    @wraps(view_func)
    def claimed(request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if request.method == "POST" and key is not None:
            fingerprint = request_fingerprint(method=request.method, path=request.get_full_path(), body=request.body)
            request.idempotency_record = idempotency_claim(api_key=request.auth, key=key, fingerprint=fingerprint)
        return view_func(request, *args, **kwargs)

    return claimed


def finish_after_response(run):
    """View decorator (api.py): wraps the whole operation, so it sees the final response,
    whatever the view returned or raised."""

    @wraps(run)
    def finished(request, *args, **kwargs):
        response = None
        try:
            response = run(request, *args, **kwargs)
            return response
        finally:
            record = getattr(request, "idempotency_record", None)
            if record is not None:
                idempotency_finish(record=record, response=response)

    return finished


def idempotency_records_purge() -> int:
    """Daily job: forget keys older than API_IDEMPOTENCY_HOURS. Returns how many were removed."""
    cutoff = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
