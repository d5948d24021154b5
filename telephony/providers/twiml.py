"""Twilio's webhook wire format: signed form posts in, TwiML out.

Shared by the Twilio provider and the simulated carrier, which speaks the same format so a
simulated campaign runs through exactly the code a real Twilio call does.
"""

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Gather, VoiceResponse

from .base import (
    AgentStep,
    CallEvent,
    InboundCall,
    MachineDetection,
    RecordingEvent,
    RelayEnded,
    TurnInput,
    end_reason,
    relay_voice,
)

# Twilio CallStatus -> our status. "queued" and "initiated" say nothing new.
TWILIO_STATUS = {
    "ringing": "ringing",
    "in-progress": "in_progress",
    "answered": "in_progress",
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "failed",
    "canceled": "canceled",
}


# How the callee's speech is gathered. Twilio warns (13335, with 13327 and 13328) on every
# <Gather> that sets a speechModel with speechTimeout="auto": "Set speechTimeout to a positive
# integer, or use auto only when you are not selecting a speech model"
# (https://www.twilio.com/docs/api/errors/13328; 13335 revised 2026-03-20). Of the two valid
# combinations we take the one that answers sooner: no speechModel (Twilio picks the
# speech-to-text model for the language) with "auto", which ends the callee's turn at their first
# real pause instead of after a fixed number of silent seconds on every turn.
SPEECH_TIMEOUT = "auto"


# Answering-machine detection: wait for the end of a machine's greeting (DetectMessageEnd: the
# message left after the beep is heard whole; "Enable" answers machine_start while the greeting
# still plays), in the background (AsyncAmd), so the answer URL is fetched at once and a person
# hears the opening without a silent wait. The verdict comes to the AMD callback (a
# machine_end_* then leaves the message by redirecting the live call).
MACHINE_DETECTION = "DetectMessageEnd"


def machine_detection_url(provider: str, call_id: int) -> str:
    """Where the carrier posts its asynchronous detection verdict for our call."""
    return settings.PUBLIC_BASE_URL + reverse("telephony_amd", kwargs={"provider": provider, "call_id": call_id})


def public_url(request: HttpRequest) -> str:
    """The URL the provider signed: our public address, not the one a proxy forwarded to."""
    return settings.PUBLIC_BASE_URL + request.get_full_path()


def answered_by_kind(value: str) -> str:
    if not value:
        return ""
    return "human" if value == "human" else ("machine" if value.startswith("machine") or value == "fax" else "")


class TwilioWireFormat:
    """Mixin: signature check, event parsing and TwiML rendering. Needs `signing_secret()`."""

    def signing_secret(self) -> str:
        raise NotImplementedError

    def verify_webhook(self, request: HttpRequest) -> bool:
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            return False
        return RequestValidator(self.signing_secret()).validate(public_url(request), request.POST, signature)

    def verify_relay_handshake(self, handshake) -> bool:
        """Twilio signs a ConversationRelay socket's handshake like a webhook: the wss:// URL
        without its query, the query parameters as the parameters."""
        signature = handshake.headers.get("x-twilio-signature", "")
        if not signature:
            return False
        return RequestValidator(self.signing_secret()).validate(handshake.url, handshake.params, signature)

    def parse_status(self, request: HttpRequest, *, call_id: int) -> CallEvent | None:
        post = request.POST
        status = TWILIO_STATUS.get(post.get("CallStatus", ""))
        if status is None:
            return None
        sid = post.get("CallSid", "")
        duration = post.get("CallDuration")
        return CallEvent(
            call_id=call_id,
            provider_call_id=sid,
            status=status,
            dedupe_key=f"{sid}:status:{post.get('CallStatus')}",
            duration_seconds=int(duration) if duration and duration.isdigit() else None,
            answered_by=answered_by_kind(post.get("AnsweredBy", "")),
            # Twilio's SipResponseCode ("486") and ErrorMessage are for engineers (they stay in
            # the stored event); the call shows the platform's words for them.
            detail=end_reason(status, sip_code=post.get("SipResponseCode", "")),
        )

    def parse_recording(self, request: HttpRequest, *, call_id: int) -> RecordingEvent | None:
        post = request.POST
        if post.get("RecordingStatus", "completed") != "completed" or not post.get("RecordingSid"):
            return None
        duration = post.get("RecordingDuration", "0")
        return RecordingEvent(
            call_id=call_id,
            recording_id=post["RecordingSid"],
            media_url=post.get("RecordingUrl", ""),
            duration_seconds=int(duration) if duration.isdigit() else 0,
            dedupe_key=f"{post.get('CallSid', '')}:recording:{post['RecordingSid']}",
        )

    def parse_turn(self, request: HttpRequest, *, call_id: int, turn: int) -> TurnInput:
        post = request.POST
        return TurnInput(
            call_id=call_id,
            turn=turn,
            speech=post.get("SpeechResult", "").strip(),
            answered_by=answered_by_kind(post.get("AnsweredBy", "")),
        )

    def parse_machine_detection(self, request: HttpRequest, *, call_id: int) -> MachineDetection | None:
        """The AsyncAmdStatusCallback: CallSid, AnsweredBy, MachineDetectionDuration. With
        DetectMessageEnd a machine is reported when its greeting has ended (machine_end_beep,
        _silence, _other); machine_start (Enable) would mean it still plays."""
        post = request.POST
        answered_by = post.get("AnsweredBy", "")
        if not answered_by:
            return None
        sid = post.get("CallSid", "")
        return MachineDetection(
            call_id=call_id,
            provider_call_id=sid,
            answered_by=answered_by_kind(answered_by),
            greeting_ended=answered_by != "machine_start",
            dedupe_key=f"{sid}:amd",
        )

    def parse_inbound(self, request: HttpRequest) -> InboundCall:
        post = request.POST
        return InboundCall(provider_call_id=post.get("CallSid", ""), from_=post.get("From", ""), to=post.get("To", ""))

    def parse_relay_ended(self, request: HttpRequest, *, call_id: int) -> RelayEnded:
        """The <Connect action> callback: CallStatus, SessionStatus ("completed" after our `end`,
        "ended" when the call hung up, "failed"), HandoffData (the JSON string of our `end`)."""
        post = request.POST
        try:
            handoff = json.loads(post.get("HandoffData") or "{}")
        except ValueError:
            handoff = {}
        return RelayEnded(
            call_id=call_id,
            handoff=handoff if isinstance(handoff, dict) else {},
            status=post.get("SessionStatus", ""),
            error=" ".join(filter(None, (post.get("ErrorCode", ""), post.get("ErrorMessage", "")))),
            call_live=post.get("CallStatus", "in-progress") == "in-progress",
        )

    def respond(self, step: AgentStep) -> HttpResponse:
        return HttpResponse(self.twiml(step), content_type="text/xml")

    def twiml(self, step: AgentStep) -> str:
        response = VoiceResponse()
        say_args = {"language": step.language}
        if step.voice:
            say_args["voice"] = step.voice
        if step.then == "relay":
            connect = response.connect(action=step.relay_action_url, method="POST")
            connect.conversation_relay(
                url=step.relay_url,
                welcome_greeting=step.say or None,
                # One language for speech recognition and speech (the agent's).
                language=step.language,
                **relay_voice(step.voice),
                # The callee may speak or press a key over the agent: the reply in progress stops
                # (Twilio sends `interrupt`), and key presses reach the socket as `dtmf` frames.
                interruptible="any",
                dtmf_detection=True,
            )
        elif step.then == "listen":
            gather = Gather(
                input="speech",
                action=step.next_turn_url,
                method="POST",
                speech_timeout=SPEECH_TIMEOUT,
                language=step.language,
                action_on_empty_result=True,
            )
            if step.say:
                gather.say(step.say, **say_args)
            response.append(gather)
        elif step.then == "redirect":
            if step.say:
                response.say(step.say, **say_args)
            response.redirect(step.next_turn_url, method="POST")
        else:
            if step.say:
                response.say(step.say, **say_args)
            if step.then == "transfer" and step.transfer_to:
                # The callee stays on the line while Twilio rings the person; the call (and its
                # time limit and billing) continues until either side hangs up.
                response.dial(step.transfer_to)
            else:
                response.hangup()
        return str(response)
