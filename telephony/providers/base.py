"""The one interface every voice provider implements, and the types it speaks in.

Nothing outside `telephony/providers/` imports a telephony SDK: the rest of Clozit sees
`VoiceProvider`, `OutboundCall`, `CallEvent`, `TurnInput`, `AgentStep` and `ProviderError`.
"""

from dataclasses import dataclass
from typing import Literal

from django.http import HttpRequest, HttpResponse


class ProviderError(Exception):
    """A provider refused or failed. `permanent` says whether retrying can ever help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class OutboundCall:
    """What the dialer asks a provider to do; `call_id` is ours and comes back on every event."""

    call_id: int
    to: str
    from_: str
    time_limit_seconds: int
    answer_url: str
    status_url: str
    detect_answering_machine: bool = True
    record: bool = False
    recording_url: str = ""


# Our own call states (campaigns.models.Call.Status values) that providers report.
EventStatus = Literal["ringing", "in_progress", "completed", "busy", "no_answer", "failed", "canceled"]


@dataclass(frozen=True)
class CallEvent:
    """A provider's status callback, in our own terms."""

    call_id: int
    provider_call_id: str
    status: EventStatus
    dedupe_key: str
    duration_seconds: int | None = None
    answered_by: str = ""  # "human", "machine" or "" when unknown
    detail: str = ""


# Why a call did not connect, in words for people: one vocabulary for every carrier, so the call
# page and list read the same whoever carried the call. SIP final responses (RFC 3261 §21) first,
# since both carriers report them; then the carrier's own cause; then the status itself.
SIP_REASONS = {
    "404": "Number not in service",
    "410": "Number not in service",
    "484": "Number not in service",
    "604": "Number not in service",
    "486": "Busy",
    "600": "Busy",
    "603": "Declined",
    "607": "Declined",
    "408": "No answer",
    "480": "No answer",
    "403": "Refused by the network",
    "488": "Refused by the network",
    "500": "Network unavailable",
    "502": "Network unavailable",
    "503": "Network unavailable",
}
STATUS_REASONS = {
    "busy": "Busy",
    "no_answer": "No answer",
    "failed": "Could not connect",
    "canceled": "Canceled before it was answered",
}


def end_reason(status: str, *, sip_code: str = "", cause: str = "") -> str:
    """Why a call that never connected ended, in the platform's own words ("" for a completed
    call). `cause` is the carrier's word for it, already mapped to ours (see the providers)."""
    if status == "completed":
        return ""
    if status in ("no_answer", "canceled"):
        # Carriers report a SIP code for these too (487: the ringing was stopped), which says
        # only who stopped it: the status is the reason.
        return STATUS_REASONS[status]
    return SIP_REASONS.get(str(sip_code or "")) or cause or STATUS_REASONS.get(status, "")


@dataclass(frozen=True)
class RecordingEvent:
    """The carrier finished storing a call's recording."""

    call_id: int
    recording_id: str
    media_url: str
    duration_seconds: int
    dedupe_key: str


@dataclass(frozen=True)
class MachineDetection:
    """Who answered, known only after the call was answered (asynchronous detection): a person,
    a machine (whose greeting has ended, or is still playing), or "" when the carrier could not
    tell."""

    call_id: int
    provider_call_id: str
    answered_by: str  # "human", "machine" or ""
    greeting_ended: bool
    dedupe_key: str


@dataclass(frozen=True)
class TurnInput:
    """What the callee said (or nothing) in reply to the agent's last step."""

    call_id: int
    turn: int
    speech: str
    answered_by: str = ""


@dataclass(frozen=True)
class AgentStep:
    """The next thing the platform tells the provider to do on a live call: say `say`, then
    listen for the callee's reply, hang up, or transfer the call to `transfer_to`; or hand the
    conversation to a ConversationRelay socket ("relay")."""

    say: str
    # "redirect": say a holding line, then come straight back to `next_turn_url` with no speech.
    # "relay": the carrier greets with `say`, then talks with the socket at `relay_url` (speech
    # recognition, turn-taking and voice at the carrier, replies streamed from us); when the
    # session ends it asks `relay_action_url` what the call does next.
    then: Literal["listen", "hangup", "transfer", "redirect", "relay"]
    language: str = "en-US"
    voice: str = ""
    next_turn_url: str = ""
    transfer_to: str = ""
    relay_url: str = ""
    relay_action_url: str = ""
    # The same step given again for a repeated webhook: command-driven providers must not
    # issue its commands a second time.
    replayed: bool = False


@dataclass(frozen=True)
class RelayEnded:
    """A ConversationRelay session of our call is over: we sent `end` (`handoff` is what we put
    in it), the socket failed or was dropped, or the callee hung up. `status` is the carrier's
    word for how it ended ("completed", "ended", "failed", ...)."""

    call_id: int
    handoff: dict
    status: str = ""
    error: str = ""
    # False when the callee is gone: nothing can be said or dialled any more.
    call_live: bool = True


@dataclass(frozen=True)
class InboundCall:
    """Someone called one of our numbers."""

    provider_call_id: str
    from_: str
    to: str


@dataclass(frozen=True)
class AvailableNumber:
    """A number the provider offers for purchase."""

    number: str  # E.164
    locality: str = ""
    region: str = ""
    country: str = ""


# Amazon Polly voices, which Twilio and Telnyx both offer: (our id, label, languages).
POLLY_VOICES = [
    ("Polly.Joanna", "Joanna (female, US)", ("en-US",)),
    ("Polly.Matthew", "Matthew (male, US)", ("en-US",)),
    ("Polly.Amy", "Amy (female, British)", ("en-GB",)),
    ("Polly.Brian", "Brian (male, British)", ("en-GB",)),
    ("Polly.Lucia", "Lucia (female, Spanish)", ("es-ES",)),
    ("Polly.Enrique", "Enrique (male, Spanish)", ("es-ES",)),
    ("Polly.Lea", "Léa (female, French)", ("fr-FR",)),
    ("Polly.Mathieu", "Mathieu (male, French)", ("fr-FR",)),
    ("Polly.Vicki", "Vicki (female, German)", ("de-DE",)),
    ("Polly.Hans", "Hans (male, German)", ("de-DE",)),
]


# ConversationRelay names voices by provider, not with <Say>'s "Polly." prefix: ttsProvider="Amazon"
# with the Polly voice id and its engine, e.g. voice="Joanna-Neural" (Twilio, "ConversationRelay:
# Picking a voice", https://www.twilio.com/docs/voice/conversationrelay/voice-configuration).
# Relay speech is neural; our Polly voices that exist only as standard voices take the neural
# voice of the same language and sex (Polly's neural list: Sergio es-ES, Rémi fr-FR, Daniel de-DE).
RELAY_POLLY_VOICES = {
    "Enrique": "Sergio",
    "Mathieu": "Remi",
    "Hans": "Daniel",
}
# <Say>'s generic voices, as <Say> renders them in English.
RELAY_GENERIC_VOICES = {"man": "Matthew", "woman": "Joanna"}


def relay_voice(voice: str) -> dict:
    """<ConversationRelay>'s ttsProvider and voice for an agent's voice id ("Polly.Joanna",
    "Google.en-US-Neural2-F", "man"); {} leaves Twilio's default voice for the language."""
    if voice.startswith("Polly."):
        name = voice.removeprefix("Polly.").removesuffix("-Neural")
        return {"tts_provider": "Amazon", "voice": RELAY_POLLY_VOICES.get(name, name) + "-Neural"}
    if voice in RELAY_GENERIC_VOICES:
        return {"tts_provider": "Amazon", "voice": RELAY_GENERIC_VOICES[voice] + "-Neural"}
    if voice.startswith("Google."):
        return {"tts_provider": "Google", "voice": voice.removeprefix("Google.")}
    return {}


class VoiceProvider:
    """Places and controls calls for one carrier. Implementations must never raise anything
    but ProviderError from network calls, and must be safe to construct at import time."""

    name: str = ""

    def voices(self, language: str = "") -> list[tuple[str, str]]:
        """The voices agents can speak with on this provider, as (id, label); `language` filters."""
        return [(vid, label) for vid, label, langs in POLLY_VOICES if not language or language in langs]

    def configuration_problem(self) -> str:
        """What stops this provider from working, in words for the user and /healthz; "" if nothing."""
        return ""

    def place_call(self, request: OutboundCall) -> str:
        """Dial, with a hard time limit at the carrier; returns the provider's call id."""
        raise NotImplementedError

    def hang_up(self, provider_call_id: str) -> None:
        """End the call. One that has already ended (or that the carrier does not know) is not an
        error: the end is what was asked for, and no retry is needed."""
        raise NotImplementedError

    def transfer(self, provider_call_id: str, to: str) -> None:
        """Hand a live call over to a human at `to`. A call that is not in progress (any more) is
        a ProviderError with `permanent` set."""
        raise NotImplementedError

    def update_call(self, provider_call_id: str, step: AgentStep) -> None:
        """Replace whatever a live call is doing with `step` (say, then its `then`), at once: how
        the voicemail message is left once asynchronous detection reports the end of a machine's
        greeting. A call not in progress (any more) is a ProviderError with `permanent` set."""
        raise NotImplementedError

    def delete_recording(self, recording_id: str) -> None:
        """Delete a recording at the carrier (an already-deleted one is not an error)."""
        raise NotImplementedError

    def search_numbers(self, *, country: str, area_code: str = "", limit: int = 20) -> list[AvailableNumber]:
        raise NotImplementedError

    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> str:
        """Buy `number` with inbound calls routed to `voice_url`; returns the provider's id for it."""
        raise NotImplementedError

    def release_number(self, provider_number_id: str) -> None:
        """Give a bought number back (an already-released one is not an error)."""
        raise NotImplementedError

    def verify_relay_handshake(self, handshake) -> bool:
        """Whether a ConversationRelay socket's opening request carries this carrier's signature
        (`telephony.relay.Handshake`). Carriers that sign nothing there return True: the socket's
        own token, bound to the call, is then the check."""
        raise NotImplementedError

    def verify_webhook(self, request: HttpRequest) -> bool:
        """True only when the request carries the provider's valid signature."""
        raise NotImplementedError

    def parse_status(self, request: HttpRequest, *, call_id: int) -> CallEvent:
        raise NotImplementedError

    def parse_turn(self, request: HttpRequest, *, call_id: int, turn: int) -> TurnInput:
        raise NotImplementedError

    def parse_machine_detection(self, request: HttpRequest, *, call_id: int) -> MachineDetection | None:
        """The carrier's late verdict on who answered (asynchronous machine detection)."""
        raise NotImplementedError

    def parse_inbound(self, request: HttpRequest) -> InboundCall:
        raise NotImplementedError

    def parse_relay_ended(self, request: HttpRequest, *, call_id: int) -> RelayEnded:
        """The `<Connect action>` callback that follows a relay session (carriers that report the
        end by event instead parse it there)."""
        raise NotImplementedError

    def parse_recording(self, request: HttpRequest, *, call_id: int) -> RecordingEvent | None:
        raise NotImplementedError

    def fetch_recording(self, media_url: str, *, recording_id: str = "") -> tuple[bytes, str]:
        """The recording's audio and its content type, fetched with the provider's credentials."""
        raise NotImplementedError

    def respond(self, step: AgentStep) -> HttpResponse:
        """Answer a voice webhook with the provider's instructions for `step`."""
        raise NotImplementedError

    def empty_response(self) -> HttpResponse:
        return HttpResponse(status=204)
