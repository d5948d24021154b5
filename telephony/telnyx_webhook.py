"""POST /telephony/telnyx/webhook/: every event of every Telnyx call, outbound and inbound.

A Telnyx call is driven by commands, not by our answers to its webhooks. Each event is:

1. verified (ed25519 over f"{timestamp}|{body}"); anything else gets 403 and changes nothing;
2. stored once under its Telnyx id, in the same transaction that applies it: a crash halfway
   rolls both back and Telnyx's retry applies it in full; a second delivery is ignored;
3. applied through campaigns.calls (which locks the call and only moves it forward);
4. after that transaction has committed, with nothing locked, the next command goes out (speak,
   start transcription, hang up or transfer) and a callee's words are answered: the engine may
   ask a model, which must never keep a transaction open or the call row locked
   (`campaigns.calls.services.call_turn` thinks outside its own short transactions).

One module, about 500 lines: every Telnyx event goes through one dispatcher and one outbox of
commands, and a call's turns, detection and relay sessions share its client state; split, the
order of a call's commands would be scattered across files.

Commands carry a `command_id` made of the call and its turn, so one sent again is ignored by
Telnyx. A failed command is logged and the event still acknowledged: the call ends at its time
limit or when the callee hangs up.

The conversation: the agent speaks a step; when its speech ends (call.speak.ended) the step's
`then` happens: listen (transcription, started once per call, plus a silence check), hang up or
transfer. A final transcript answers the current turn.

Answering machines: the opening is spoken on call.answered, whoever answered (a person must not
wait for the detection). call.machine.detection.ended records who it was; for a machine the
conversation then holds (no listening, no questions) until call.machine.greeting.ended, when the
agent's voicemail choice replaces it: the message, spoken over anything still playing, then a
hang-up; or just the hang-up.

Real-time conversations: a step whose `then` is "relay" starts Conversation Relay (Telnyx says
the greeting, then talks with our relay socket, telephony/relay.py). When the session is over,
call.conversation.ended asks `campaigns.calls.services.call_relay_ended` what the call does next (its
goodbye then a hang-up, a transfer, or back to listening), carried out by commands. A machine
detected during a session stops it: the voicemail step takes the call, and the session's end
asks nothing.
"""

import logging
from datetime import timedelta

import django_rq
from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from campaigns.calls.services import (
    NOBODY_AVAILABLE,
    call_answered,
    call_apply_event,
    call_id_for,
    call_inbound_start,
    call_machine_detected,
    call_recording_saved,
    call_relay_ended,
    call_turn,
)
from campaigns.models import Call

from .models import ProviderEvent
from .providers.base import AgentStep, CallEvent, ProviderError, RelayEnded, TurnInput
from .providers.telnyx import TelnyxEvent, TelnyxProvider, parse_time
from .registry import get_provider

logger = logging.getLogger(__name__)

PROVIDER = "telnyx"
# How long the callee may stay silent after the agent's question before the engine hears "".
SILENCE_SECONDS = 8
# call.conversation.ended's `reason` when our relay socket went away (telnyx SDK 4.189.0,
# types/call_conversation_ended.py): the session failed, whatever the call does now.
RELAY_SOCKET_GONE = "customer_disconnect"


def _voice() -> TelnyxProvider:
    return get_provider(PROVIDER)


@csrf_exempt
@require_POST
def webhook(request):
    voice = _voice()
    event = voice.verify_and_parse(request)
    if event is None:
        logger.warning("refused unsigned, forged or stale Telnyx webhook")
        return HttpResponseForbidden("Invalid signature")
    handler = HANDLERS.get(event.type)
    if handler is None or (event.type == "call.transcription" and not _final_transcript(event)):
        return HttpResponse("ignored")  # speak.started, interim transcripts, ...: nothing to do
    inbound = event.type == "call.initiated" and event.payload.get("direction") == "incoming"
    if inbound and not event.call_control_id:
        # Nothing can answer, speak to or hang up a call without its id: refuse it whole, so
        # no half-made call (with credits held) is left behind.
        logger.warning("refused Telnyx inbound call.initiated %s without a call_control_id", event.id)
        return HttpResponseBadRequest("call_control_id is missing")
    call_id = None if inbound else _call_id(event)
    if call_id is None and not inbound and not event.state.get("nobody"):
        logger.info("ignored %s for unknown Telnyx call %s", event.type, event.call_control_id)
        return HttpResponse("unknown call")
    out = Outbox(voice)
    with transaction.atomic():
        try:
            with transaction.atomic():
                stored = ProviderEvent.objects.create(
                    provider=PROVIDER, dedupe_key=event.id, call_id=call_id, kind=event.type[:40], payload=event.body
                )
        except IntegrityError:
            return HttpResponse("duplicate ignored")
        # Database errors propagate and roll the event back, so Telnyx retries it (it retries
        # anything but a 2xx).
        if inbound:
            stored.call_id = _inbound(out, event)
            stored.save(update_fields=["call_id"])
        else:
            handler(out, event, call_id)
    out.carry_out(after=event.type, call_id=call_id)
    return HttpResponse("ok")


class Outbox:
    """What an event leads to beyond the database: commands to Telnyx and callee's words to
    answer, collected while the event is applied and carried out, in order, once its transaction
    has committed. Nothing here runs with a transaction open or a row locked."""

    def __init__(self, voice: TelnyxProvider):
        self.voice = voice
        self._pending: list = []

    def command(self, name: str, *args, **kwargs) -> None:
        self._pending.append(lambda: getattr(self.voice, name)(*args, **kwargs))

    def later(self, action) -> None:
        """`action()` after the commit (it may add more to this outbox)."""
        self._pending.append(action)

    def carry_out(self, *, after: str, call_id: int | None) -> None:
        while self._pending:
            try:
                self._pending.pop(0)()
            except ProviderError as exc:
                # The event stays applied; only this command failed.
                logger.warning("Telnyx command after %s for call %s failed: %s", after, call_id, exc.message)


def _final_transcript(event: TelnyxEvent) -> bool:
    data = event.payload.get("transcription_data") or {}
    return bool(isinstance(data, dict) and data.get("is_final") and str(data.get("transcript") or "").strip())


def _call_id(event: TelnyxEvent) -> int | None:
    """Our call: named in client_state, else found by Telnyx's call control id."""
    named = event.state.get("call_id")
    if not isinstance(named, int):
        return call_id_for(provider=PROVIDER, provider_call_id=event.call_control_id)
    known = Call.objects.filter(pk=named, provider=PROVIDER).values_list("provider_call_id", flat=True).first()
    if known is None:
        return None
    if known and event.call_control_id and known != event.call_control_id:
        return None  # another leg (a transfer's) that carries our state: not the call we bill
    return named


def _live(call_id: int) -> dict | None:
    """The call's conversation state, or None once it has ended."""
    return (
        Call.objects.filter(pk=call_id, status__in=Call.LIVE_STATUSES)
        .values("engine_state", "answered_by", "agent__language", "agent__record_calls")
        .first()
    )


def _waiting_for_the_beep(call: dict) -> bool:
    """A machine answered and the agent's last words were a question: its greeting is playing,
    so nothing is listened to or asked until call.machine.greeting.ended brings the message."""
    then = (call["engine_state"].get("last_step") or {}).get("then")
    return call["answered_by"] == "machine" and then in ("listen", "redirect")


def _control_id(event: TelnyxEvent, call_id: int | None) -> str:
    """The call control id to command: the event's, else the one we stored for the call (Telnyx's
    own example of call.machine.greeting.ended names the call by client_state only)."""
    if event.call_control_id or call_id is None:
        return event.call_control_id
    return Call.objects.filter(pk=call_id).values_list("provider_call_id", flat=True).first() or ""


# --- executing the agent's steps ---------------------------------------------------------------


def _act(out: Outbox, step: AgentStep, *, call_id: int, call_control_id: str, interrupt: bool = False) -> None:
    """Carry out a step: speak it (its `then` follows on call.speak.ended), or do `then` now.
    `interrupt`: whatever is still being said gives way to it."""
    if step.replayed:
        return  # the same step again for a repeated event: its commands went out the first time
    call = _live(call_id)
    if call is None:
        return  # ended meanwhile: nothing to say to a closed line
    turn = call["engine_state"].get("turn", 0)
    if step.then == "relay":  # the greeting is the session's own: no speak first
        _relay(out, step, call_id=call_id, call_control_id=call_control_id, turn=turn)
    elif step.say:
        out.command(
            "speak",
            call_control_id,
            step.say,
            voice=step.voice,
            language=step.language,
            client_state={"call_id": call_id, "turn": turn, "then": step.then, "transfer_to": step.transfer_to},
            command_id=f"speak-{call_id}-{turn}",
            interrupt=interrupt,
        )
    else:
        _then(
            out,
            call_id=call_id,
            call_control_id=call_control_id,
            turn=turn,
            then=step.then,
            transfer_to=step.transfer_to,
            language=step.language,
        )


def _relay(out: Outbox, step: AgentStep, *, call_id: int, call_control_id: str, turn: int) -> None:
    """Start the call's Conversation Relay session. A marker, stored like an event, says a session
    was started on the call (a machine detected later stops it)."""
    marker = f"{call_control_id}:relay_start:{turn}"
    try:
        with transaction.atomic():
            ProviderEvent.objects.create(
                provider=PROVIDER, dedupe_key=marker, call_id=call_id, kind="command:relay_start"
            )
    except IntegrityError:
        return  # already started for this step
    out.command(
        "start_relay",
        call_control_id,
        url=step.relay_url,
        greeting=step.say,
        voice=step.voice,
        language=step.language,
        client_state={"call_id": call_id, "turn": turn, "then": "relay"},
        command_id=f"relay-{call_id}-{turn}",
    )


def _relay_started(call_id: int) -> bool:
    return ProviderEvent.objects.filter(provider=PROVIDER, call_id=call_id, kind="command:relay_start").exists()


def _then(out: Outbox, *, call_id: int, call_control_id: str, turn: int, then: str, transfer_to: str, language: str):
    if then == "relay":
        return  # a relay step starts its session itself (_act); its end is call.conversation.ended
    if then == "listen":
        _listen(out, call_id=call_id, call_control_id=call_control_id, language=language)
        transaction.on_commit(lambda: _schedule_silence_check(call_id, turn))
    elif then == "transfer" and transfer_to:
        out.command("transfer", call_control_id, transfer_to, command_id=f"transfer-{call_id}")
    elif then == "redirect":
        # The holding line has been said while the model was slow: ask the engine again now.
        _answer_later(out, call_id=call_id, turn=turn, speech="", call_control_id=call_control_id)
    else:
        out.command("hang_up", call_control_id, command_id=f"hangup-{call_id}")


def _answer_later(out: Outbox, *, call_id: int, turn: int, speech: str, call_control_id: str) -> None:
    """The engine answers the turn after the commit (it may think for seconds), then acts."""

    def answer():
        step = call_turn(turn=TurnInput(call_id=call_id, turn=turn, speech=speech))
        _act(out, step, call_id=call_id, call_control_id=call_control_id)

    out.later(answer)


def _listen(out: Outbox, *, call_id: int, call_control_id: str, language: str) -> None:
    """Start transcription, once per call: it runs until the call ends. The marker is stored like
    an event, so it is unique; if the command then fails, the marker goes, so a later step may
    try again."""
    marker = f"{call_control_id}:transcription_start"
    try:
        with transaction.atomic():
            ProviderEvent.objects.create(
                provider=PROVIDER, dedupe_key=marker, call_id=call_id, kind="command:transcription_start"
            )
    except IntegrityError:
        return  # already listening

    def start():
        try:
            out.voice.start_listening(call_control_id, language=language, command_id=f"transcribe-{call_id}")
        except ProviderError:
            ProviderEvent.objects.filter(provider=PROVIDER, dedupe_key=marker).delete()
            raise

    out.later(start)


def _schedule_silence_check(call_id: int, turn: int) -> None:
    django_rq.get_queue("dialing").enqueue_in(timedelta(seconds=SILENCE_SECONDS), telnyx_silence_check, call_id, turn)


def telnyx_silence_check(call_id: int, turn: int) -> None:
    """RQ job: the callee said nothing since the agent finished `turn`. A turn answered in the
    meantime makes this a stale turn, which call_turn replays and we ignore."""
    call = _live(call_id)
    if call is None or _waiting_for_the_beep(call):
        return  # ended, or a machine's greeting is playing: nobody was asked anything
    call_control_id = Call.objects.filter(pk=call_id).values_list("provider_call_id", flat=True).first()
    if not call_control_id:
        return
    out = Outbox(_voice())
    _answer_later(out, call_id=call_id, turn=turn, speech="", call_control_id=call_control_id)
    out.carry_out(after="silence", call_id=call_id)


# --- one handler per event --------------------------------------------------------------------


def _inbound(out: Outbox, event: TelnyxEvent) -> int | None:
    """Someone called a number: the number's agent answers, or a short message and goodbye."""
    caller = out.voice.inbound_call(event)
    call_id = call_inbound_start(
        provider=PROVIDER, provider_call_id=caller.provider_call_id, from_=caller.from_, to=caller.to
    )
    if call_id is None:
        # Answered anyway, to tell the caller (call.answered then says NOBODY_AVAILABLE).
        out.command("answer", caller.provider_call_id, {"nobody": 1}, command_id="answer")
        return None
    call = _live(call_id) or {}
    out.command(
        "answer",
        caller.provider_call_id,
        {"call_id": call_id, "inbound": 1},
        record=bool(call.get("agent__record_calls")),
        command_id=f"answer-{call_id}",
    )
    return call_id


def _initiated(out: Outbox, event: TelnyxEvent, call_id: int) -> None:
    # Our own dial: note that it rings, and its call control id should the dial's answer be lost.
    call_apply_event(
        event=CallEvent(call_id=call_id, provider_call_id=event.call_control_id, status="ringing", dedupe_key=event.id)
    )


def _answered(out: Outbox, event: TelnyxEvent, call_id: int | None) -> None:
    state = event.state
    if state.get("nobody"):
        out.command(
            "speak",
            event.call_control_id,
            NOBODY_AVAILABLE.say,
            voice="",
            language="en-US",
            client_state={"nobody": 1},
            command_id="nobody",
        )
        return
    # The opening at once, whoever answered: machine detection reports later, and a person must
    # not wait in silence for it.
    step = call_answered(call_id=call_id, answered_by="human" if state.get("inbound") else "")
    _act(out, step, call_id=call_id, call_control_id=event.call_control_id)


# call.machine[.premium].detection.ended `result` -> who answered. not_sure and silence say
# nothing: the conversation goes on. A fax has no greeting to wait for.
DETECTED = {
    "human": ("human", False),
    "human_residence": ("human", False),
    "human_business": ("human", False),
    "machine": ("machine", False),
    "fax_detected": ("machine", True),
}


def _machine_detected(out: Outbox, event: TelnyxEvent, call_id: int) -> None:
    answered_by, greeting_ended = DETECTED.get(event.payload.get("result"), ("", False))
    step = call_machine_detected(call_id=call_id, answered_by=answered_by, greeting_ended=greeting_ended)
    if step is not None:
        _stop_relay(out, call_id=call_id, call_control_id=_control_id(event, call_id))
        _act(out, step, call_id=call_id, call_control_id=_control_id(event, call_id), interrupt=True)


def _greeting_ended(out: Outbox, event: TelnyxEvent, call_id: int) -> None:
    """A machine's greeting has ended (beep_detected, ended, not_sure; premium: beep_detected,
    no_beep_detected, prompt_ended): leave the agent's message now, over whatever still plays."""
    step = call_machine_detected(call_id=call_id, answered_by="machine", greeting_ended=True)
    if step is not None:
        _stop_relay(out, call_id=call_id, call_control_id=_control_id(event, call_id))
        _act(out, step, call_id=call_id, call_control_id=_control_id(event, call_id), interrupt=True)


def _stop_relay(out: Outbox, *, call_id: int, call_control_id: str) -> None:
    """A machine's verdict replaces the conversation: a relay session on the call gives way first
    (Telnyx runs one session or one speech at a time)."""
    if _relay_started(call_id):
        out.command("stop_relay", call_control_id, command_id=f"relay-stop-{call_id}")


def _speak_ended(out: Outbox, event: TelnyxEvent, call_id: int | None) -> None:
    if event.state.get("nobody"):
        out.command("hang_up", event.call_control_id, command_id="hangup")
        return
    if event.state.get("after_relay"):
        # The goodbye (or the words before a transfer) that follow a relay session: its `then`
        # travels in client_state, as the step was never a turn of the conversation.
        if event.payload.get("status", "completed") == "completed" and _live(call_id) is not None:
            _after_relay_then(out, call_id=call_id, call_control_id=event.call_control_id, state=event.state)
        return
    if event.payload.get("status", "completed") != "completed":
        return  # cut short by a hang-up or by machine detection
    call = _live(call_id)
    if call is None or _waiting_for_the_beep(call):
        return
    engine_state = call["engine_state"]
    if event.state.get("turn") != engine_state.get("turn"):
        return  # an earlier step's speech: a newer step is already under way
    last = engine_state.get("last_step") or {}
    _then(
        out,
        call_id=call_id,
        call_control_id=event.call_control_id,
        turn=engine_state.get("turn", 0),
        then=last.get("then"),
        transfer_to=last.get("transfer_to") or "",
        language=call["agent__language"] or "en-US",
    )


def _transcribed(out: Outbox, event: TelnyxEvent, call_id: int) -> None:
    call = _live(call_id)
    if call is None or _waiting_for_the_beep(call):
        return  # ended, or a machine's greeting being transcribed
    engine_state = call["engine_state"]
    if (engine_state.get("last_step") or {}).get("then") != "listen":
        return  # the agent is saying goodbye or transferring: nothing left to answer
    speech = str(event.payload["transcription_data"]["transcript"]).strip()
    turn = engine_state.get("turn", 0)
    _answer_later(out, call_id=call_id, turn=turn, speech=speech, call_control_id=event.call_control_id)


def _conversation_ended(out: Outbox, event: TelnyxEvent, call_id: int) -> None:
    """The call's Conversation Relay session is over: our `end` (the handoff is stored on the
    call by the conversation, Telnyx echoes none), our socket gone (`customer_disconnect`: the
    session failed), or the call ending. The conversation says what the call does next."""
    call = _live(call_id)
    if call is not None and call["answered_by"] == "machine":
        return  # stopped for a machine: the voicemail step already has the call
    reason = str(event.payload.get("reason") or "")
    step = call_relay_ended(
        RelayEnded(
            call_id=call_id,
            handoff={},
            status="failed" if reason == RELAY_SOCKET_GONE else "completed",
            error=reason,
            call_live=call is not None,
        )
    )
    _after_relay(out, step, call_id=call_id, call_control_id=_control_id(event, call_id))


def _after_relay(out: Outbox, step: AgentStep, *, call_id: int, call_control_id: str) -> None:
    """Carry out what follows a relay session: back to listening (a turn of the conversation, as
    any step), or the last words then a hang-up or a transfer."""
    if step.replayed or _live(call_id) is None:
        return  # the same answer again, or the line is closed
    if step.then in ("listen", "redirect", "relay"):
        _act(out, step, call_id=call_id, call_control_id=call_control_id)
        return
    state = {"call_id": call_id, "after_relay": 1, "then": step.then, "transfer_to": step.transfer_to}
    if step.say:
        out.command(
            "speak",
            call_control_id,
            step.say,
            voice=step.voice,
            language=step.language,
            client_state=state,
            command_id=f"relay-ended-speak-{call_id}",
        )
    else:
        _after_relay_then(out, call_id=call_id, call_control_id=call_control_id, state=state)


def _after_relay_then(out: Outbox, *, call_id: int, call_control_id: str, state: dict) -> None:
    if state.get("then") == "transfer" and state.get("transfer_to"):
        out.command("transfer", call_control_id, state["transfer_to"], command_id=f"transfer-{call_id}")
    else:
        out.command("hang_up", call_control_id, command_id=f"hangup-{call_id}")


def _hung_up(out: Outbox, event: TelnyxEvent, call_id: int | None) -> None:
    if call_id is None:
        return  # a caller told that nobody was available: no call of ours
    call_apply_event(event=out.voice.call_event(event, call_id=call_id, answered_at=_answered_at(call_id)))


def _answered_at(call_id: int):
    """When the call was answered: Telnyx's time of call.answered, else our own record of it."""
    answered = (
        ProviderEvent.objects.filter(provider=PROVIDER, call_id=call_id, kind="call.answered")
        .values_list("payload", flat=True)
        .first()
    )
    if answered:
        at = parse_time((answered.get("data") or {}).get("occurred_at"))
        if at is not None:
            return at
    return Call.objects.filter(pk=call_id).values_list("answered_at", flat=True).first()


def _recording_saved(out: Outbox, event: TelnyxEvent, call_id: int) -> None:
    recording = out.voice.recording_event(event, call_id=call_id)
    if recording is not None:
        call_recording_saved(event=recording)


HANDLERS = {
    "call.initiated": _initiated,
    "call.answered": _answered,
    "call.machine.detection.ended": _machine_detected,
    "call.machine.premium.detection.ended": _machine_detected,
    "call.machine.greeting.ended": _greeting_ended,
    "call.machine.premium.greeting.ended": _greeting_ended,
    "call.speak.ended": _speak_ended,
    "call.transcription": _transcribed,
    "call.conversation.ended": _conversation_ended,
    "call.hangup": _hung_up,
    "call.recording.saved": _recording_saved,
}
