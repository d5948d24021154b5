"""Provider webhooks, handled the same way for every provider:

1. verify the signature with the provider's own algorithm; refuse with 403 and change nothing;
2. store status events under their unique key; a duplicate is acknowledged and ignored;
3. apply through a service that locks the call and only moves it forward;
4. answer quickly.
"""

import logging

from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from campaigns.calls.services import (
    NOBODY_AVAILABLE,
    UnknownCall,
    call_answered,
    call_apply_event,
    call_exists,
    call_id_for,
    call_inbound_start,
    call_machine_detected,
    call_recording_saved,
    call_relay_ended,
    call_turn,
)

from .models import ProviderEvent
from .providers.base import ProviderError
from .registry import UnknownProvider, get_provider

logger = logging.getLogger(__name__)


def _verified_provider(request, provider_name: str, call_id: int | None):
    """The provider, when the request is signed by it and names a call of ours (`call_id` None:
    no call yet, as for an inbound call); else the refusal to send."""
    try:
        provider = get_provider(provider_name)
    except UnknownProvider:
        return None, HttpResponseNotFound("Unknown provider")
    if not provider.verify_webhook(request):
        logger.warning("refused unsigned or forged %s webhook to %s", provider_name, request.path)
        return None, HttpResponseForbidden("Invalid signature")
    if call_id is not None and not call_exists(call_id=call_id, provider=provider_name):
        return None, HttpResponseNotFound("Unknown call")
    return provider, None


@csrf_exempt
@require_POST
def answer(request, provider: str, call_id: int):
    voice, refusal = _verified_provider(request, provider, call_id)
    if refusal:
        return refusal
    answered_by = voice.parse_turn(request, call_id=call_id, turn=0).answered_by
    return voice.respond(call_answered(call_id=call_id, answered_by=answered_by))


@csrf_exempt
@require_POST
def turn(request, provider: str, call_id: int, turn: int):
    # The call is looked for by the turn itself, in the row lock it takes anyway: an unknown call
    # (or another provider's) is refused as on every webhook, without a query of its own.
    voice, refusal = _verified_provider(request, provider, None)
    if refusal:
        return refusal
    try:
        step = call_turn(turn=voice.parse_turn(request, call_id=call_id, turn=turn), provider=provider)
    except UnknownCall:
        return HttpResponseNotFound("Unknown call")
    return voice.respond(step)


@csrf_exempt
@require_POST
def relay_ended(request, provider: str, call_id: int):
    """The carrier asks what the call does now that its relay session is over."""
    voice, refusal = _verified_provider(request, provider, call_id)
    if refusal:
        return refusal
    return voice.respond(call_relay_ended(voice.parse_relay_ended(request, call_id=call_id)))


def _apply_once(request, voice, *, provider: str, call_id: int, dedupe_key: str, kind: str, apply):
    """Store the event under its key and apply it, in one transaction: a crash halfway leaves
    nothing, so the provider's retry applies it in full; a second delivery finds the key taken."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                ProviderEvent.objects.create(
                    provider=provider,
                    dedupe_key=dedupe_key,
                    call_id=call_id,
                    kind=kind,
                    payload=dict(request.POST.items()),
                )
        except IntegrityError:
            return HttpResponse("duplicate ignored", status=200)
        apply()
    return voice.empty_response()


@csrf_exempt
@require_POST
def status(request, provider: str, call_id: int):
    voice, refusal = _verified_provider(request, provider, call_id)
    if refusal:
        return refusal
    return status_apply(request, voice, provider=provider, call_id=call_id)


def status_apply(request, voice, *, provider: str, call_id: int):
    event = voice.parse_status(request, call_id=call_id)
    if event is None:
        return voice.empty_response()
    return _apply_once(
        request,
        voice,
        provider=provider,
        call_id=call_id,
        dedupe_key=event.dedupe_key,
        kind=f"status:{event.status}",
        apply=lambda: call_apply_event(event=event),
    )


@csrf_exempt
@require_POST
def machine_detection(request, provider: str, call_id: int):
    """The asynchronous machine-detection verdict, after the call was answered (and the callee
    heard the opening). A machine whose greeting has ended gets the agent's voicemail choice: the
    live call is redirected to it. Stored once like every event: a repeat changes nothing."""
    voice, refusal = _verified_provider(request, provider, call_id)
    if refusal:
        return refusal
    verdict = voice.parse_machine_detection(request, call_id=call_id)
    if verdict is None:
        return voice.empty_response()
    steps = []
    response = _apply_once(
        request,
        voice,
        provider=provider,
        call_id=call_id,
        dedupe_key=verdict.dedupe_key,
        kind="amd",
        apply=lambda: steps.append(
            call_machine_detected(
                call_id=call_id, answered_by=verdict.answered_by, greeting_ended=verdict.greeting_ended
            )
        ),
    )
    step = steps[0] if steps else None
    if step is not None:
        # After the commit: the carrier may call back at once, and must find the step recorded.
        try:
            voice.update_call(verdict.provider_call_id, step)
        except ProviderError as exc:
            # A call that ended meanwhile (the machine hung up) stays ended: nothing to retry.
            logger.warning("could not leave the voicemail message on call %s: %s", call_id, exc.message)
    return response


@csrf_exempt
@require_POST
def inbound(request, provider: str):
    """Someone called a number we own: the agent assigned to it answers."""
    voice, refusal = _verified_provider(request, provider, None)
    if refusal:
        return refusal
    caller = voice.parse_inbound(request)
    call_id = call_inbound_start(
        provider=provider, provider_call_id=caller.provider_call_id, from_=caller.from_, to=caller.to
    )
    if call_id is None:
        return voice.respond(NOBODY_AVAILABLE)
    return voice.respond(call_answered(call_id=call_id, answered_by="human"))


@csrf_exempt
@require_POST
def inbound_status(request, provider: str):
    """Status callbacks of inbound calls come to the number's one URL: find the call by its id."""
    voice, refusal = _verified_provider(request, provider, None)
    if refusal:
        return refusal
    call_id = call_id_for(provider=provider, provider_call_id=voice.parse_inbound(request).provider_call_id)
    if call_id is None:
        return voice.empty_response()  # a call nobody answered: nothing of ours to update
    return status_apply(request, voice, provider=provider, call_id=call_id)


@csrf_exempt
@require_POST
def recording(request, provider: str, call_id: int):
    voice, refusal = _verified_provider(request, provider, call_id)
    if refusal:
        return refusal
    event = voice.parse_recording(request, call_id=call_id)
    if event is None:
        return voice.empty_response()
    return _apply_once(
        request,
        voice,
        provider=provider,
        call_id=call_id,
        dedupe_key=event.dedupe_key,
        kind="recording",
        apply=lambda: call_recording_saved(event=event),
    )
