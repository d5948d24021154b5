"""POST /billing/paddle/webhook/: verify Paddle's signature with the SDK, store the event under
its id, apply it once. A forged, unsigned or stale request is refused and changes nothing."""

import json
import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from paddle_billing.Notifications import Secret, Verifier

from billing.purchases import EventNotReady, paddle_event_apply, paddle_event_record

logger = logging.getLogger(__name__)


def signature_is_valid(request) -> bool:
    try:
        return bool(
            Verifier(maximum_variance=settings.PADDLE_WEBHOOK_MAX_AGE).verify(
                request, Secret(settings.PADDLE_WEBHOOK_SECRET)
            )
        )
    except (ValueError, TypeError):  # a malformed Paddle-Signature header
        return False


@csrf_exempt
@require_POST
def paddle_webhook(request):
    if not signature_is_valid(request):
        logger.warning("refused a Paddle webhook with a missing, forged or stale signature")
        return HttpResponseForbidden("Invalid signature")
    try:
        payload = json.loads(request.body)
        payload["event_id"] and payload["data"]  # noqa: B018 - both must be present
    except (ValueError, KeyError, TypeError):
        return HttpResponseBadRequest("Malformed event")
    event, _ = paddle_event_record(payload=payload)
    try:
        applied = paddle_event_apply(event_id=event.event_id)
    except EventNotReady as exc:
        # Stored but not applied: a non-2xx answer makes Paddle deliver it again later.
        logger.info("paddle event %s not ready: %s", event.event_id, exc)
        return HttpResponse("Not ready; deliver again later.", status=409)
    return HttpResponse("ok" if applied else "duplicate ignored")
