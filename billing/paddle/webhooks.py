"""POST /billing/paddle/webhook/: verify Paddle's signature with the SDK, check the event's fields,
store it under its id, apply it once. A forged, unsigned or stale request is refused (403) and
changes nothing; a signed but unusable one is refused with 400 saying why, and grants nothing."""

import json
import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from paddle_billing.Notifications import Secret, Verifier

from billing.paddle.events import EventNotReady
from billing.purchases import EventRejected, paddle_event_receive

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
    except ValueError:  # not JSON, or not UTF-8
        return HttpResponseBadRequest("Malformed event: the body is not JSON.")
    try:
        applied = paddle_event_receive(payload=payload)
    except EventRejected as exc:
        logger.warning("refused a signed but malformed Paddle event: %s", exc)
        return HttpResponseBadRequest(f"Malformed event: {exc}.")
    except EventNotReady as exc:
        # Stored but not applied: a non-2xx answer makes Paddle deliver it again later.
        logger.info("paddle event %s not ready: %s", payload["event_id"], exc)
        return HttpResponse("Not ready; deliver again later.", status=409)
    return HttpResponse("ok" if applied else "duplicate ignored")
