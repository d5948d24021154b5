"""Telnyx Call Control v2, through the `telnyx` SDK (a Stainless-generated client).

Unlike Twilio, a Telnyx call is driven by commands rather than by our answers to webhooks:
every event of every call arrives at one URL (telephony/telnyx_webhook.py), and the platform
reacts by issuing commands (speak, start transcription, hang up, transfer). Our call id travels
in `client_state` (Base64 JSON), which Telnyx repeats on every later event of the call.

The webhook-shaped methods of VoiceProvider (parse_status, parse_turn, respond, ...) belong to
Twilio's wire format and are not implemented here; the Telnyx webhook uses `verify_and_parse`,
`call_event`, `recording_event` and the command helpers instead.

Why one module of about 550 lines: it is one carrier's whole interface, as twilio.py and
twiml.py are Twilio's.
"""

import base64
import binascii
import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib.util import find_spec

import requests
import telnyx
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from requests import RequestException
from telnyx.lib.webhook_verification import WebhookVerificationError

from .base import (
    AvailableNumber,
    CallEvent,
    InboundCall,
    OutboundCall,
    ProviderError,
    RecordingEvent,
    VoiceProvider,
    end_reason,
    relay_voice,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.telnyx.com/v2"
# Seconds per API request. Commands are sent while a webhook waits for our answer: keep it short.
REQUEST_TIMEOUT_SECONDS = 10.0
RING_TIMEOUT_SECONDS = 30
MACHINE_DETECTION = "greeting_end"
DEFAULT_VOICE = "AWS.Polly.Joanna"
# 4xx answers no retry can fix: a malformed or unreachable number, an unusable caller id, bad
# credentials, an unknown resource. 408, 409, 429 and 5xx may pass.
PERMANENT_STATUSES = {400, 401, 403, 404, 422}

# call.hangup `hangup_cause` -> our status. "normal_clearing" and "unspecified" depend on whether
# the call was answered (see call_event).
HANGUP_STATUS = {
    "time_limit": "completed",
    "user_busy": "busy",
    "call_rejected": "busy",
    "timeout": "no_answer",
    "no_answer": "no_answer",
    "not_found": "failed",
    "originator_cancel": "canceled",
}
# `hangup_cause` in the platform's words (base.end_reason), when no SIP code says more.
HANGUP_REASON = {
    "call_rejected": "Declined",
    "not_found": "Number not in service",
    "user_busy": "Busy",
}


def encode_state(state: dict) -> str:
    """`client_state` must be Base64; ours is a small JSON object."""
    return base64.b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_state(value) -> dict:
    """Our `client_state` back; {} for anything that is not ours."""
    if not value or not isinstance(value, str):
        return {}
    try:
        state = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def telnyx_voice(voice: str) -> str:
    """Agent voices are stored Twilio-style ("Polly.Joanna"); Telnyx names them "AWS.Polly.Joanna"."""
    if voice.startswith("Polly."):
        return "AWS." + voice
    if voice in ("man", "woman"):
        return "AWS.Polly.Matthew" if voice == "man" else "AWS.Polly.Joanna"
    if voice.split(".", 1)[0] in ("AWS", "Azure", "ElevenLabs", "Telnyx"):
        return voice
    return DEFAULT_VOICE  # Twilio-only voices (Google.*) do not exist at Telnyx


def telnyx_relay_voice(voice: str) -> str:
    """A relay session's voice: Polly's neural voices ("AWS.Polly.Joanna-Neural", as the SDK
    documents them), the same ones the Twilio relay speaks with (base.relay_voice)."""
    named = relay_voice(voice)
    if named.get("tts_provider") == "Amazon":
        return "AWS.Polly." + named["voice"]
    if voice.split(".", 1)[0] in ("AWS", "Azure", "ElevenLabs", "Telnyx"):
        return voice
    return DEFAULT_VOICE + "-Neural"


def parse_time(value) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) and value else None


def _seconds_between(start: datetime | None, end: datetime | None) -> int | None:
    """Whole seconds from `start` to `end`, every started second counted (as calls are charged)."""
    if start is None or end is None:
        return None
    return max(0, math.ceil((end - start).total_seconds()))


@dataclass(frozen=True)
class TelnyxEvent:
    """One verified webhook: Telnyx's `data` object, plus the whole body as it is stored."""

    id: str
    type: str
    occurred_at: datetime | None
    payload: dict
    body: dict

    @property
    def call_control_id(self) -> str:
        return self.payload.get("call_control_id") or ""

    @property
    def state(self) -> dict:
        return decode_state(self.payload.get("client_state"))


@lru_cache(maxsize=8)
def _client(api_key: str, public_key: str, base_url: str, timeout: float) -> telnyx.Telnyx:
    """One client (and connection pool) per configuration: settings may change at run time.
    The SDK never retries: whether to try again is ours to decide, from ProviderError.permanent."""
    return telnyx.Telnyx(api_key=api_key, public_key=public_key, base_url=base_url, timeout=timeout, max_retries=0)


# "Call has already ended": a command to a call that is over (telephony/tests/carrier_examples.py).
CALL_ENDED_CODE = "90018"


def _codes(exc: telnyx.APIStatusError) -> set[str]:
    errors = exc.body.get("errors") if isinstance(exc.body, dict) else None
    return {str(e.get("code")) for e in errors if isinstance(e, dict)} if isinstance(errors, list) else set()


def _describe(exc: telnyx.APIStatusError) -> str:
    """Telnyx's own words from {"errors": [{"code", "title", "detail"}]}."""
    errors = exc.body.get("errors") if isinstance(exc.body, dict) else None
    if isinstance(errors, list):
        parts = []
        for error in errors:
            if isinstance(error, dict):
                text = error.get("detail") or error.get("title") or "error"
                parts.append(f"{text} ({error['code']})" if error.get("code") else text)
        if parts:
            return "; ".join(parts)
    return f"HTTP {exc.status_code}"


class TelnyxProvider(VoiceProvider):
    name = "telnyx"

    # --- configuration -------------------------------------------------------------------

    @property
    def client(self) -> telnyx.Telnyx:
        """A client for the current settings (never cached on the instance: the registry keeps
        one provider instance for the life of the process)."""
        if not settings.TELNYX_API_KEY:
            raise ProviderError("Telnyx is not configured: set TELNYX_API_KEY.", permanent=True)
        return self._client_for(settings.TELNYX_API_KEY)

    def _client_for(self, api_key: str) -> telnyx.Telnyx:
        return _client(
            api_key,
            settings.TELNYX_PUBLIC_KEY,
            (settings.TELNYX_API_BASE_URL or DEFAULT_BASE_URL).rstrip("/"),
            REQUEST_TIMEOUT_SECONDS,
        )

    def configuration_problem(self) -> str:
        missing = [
            name
            for name in ("TELNYX_API_KEY", "TELNYX_CONNECTION_ID", "TELNYX_PUBLIC_KEY")
            if not getattr(settings, name)
        ]
        if missing:
            names = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
            return f"Telnyx is not configured: set {names}."
        if not settings.PUBLIC_BASE_URL.startswith("https://") and not settings.TELNYX_API_BASE_URL:
            return "PUBLIC_BASE_URL must be the public https address Telnyx sends call events to."
        if find_spec("nacl") is None:  # without it every webhook would be refused as unsigned
            return "Telnyx webhooks cannot be verified: install telnyx[webhooks] (PyNaCl)."
        return ""

    def webhook_url(self) -> str:
        return settings.PUBLIC_BASE_URL + reverse("telnyx_webhook")

    def _connection_id(self) -> str:
        if not settings.TELNYX_CONNECTION_ID:
            raise ProviderError("Telnyx is not configured: set TELNYX_CONNECTION_ID.", permanent=True)
        return settings.TELNYX_CONNECTION_ID

    def _request(self, doing: str, action, *, missing_ok: bool = False, ended_ok: bool = False):
        """Run one SDK request, turning its failures into ProviderError. 404 is fine when
        `missing_ok`; a call that has already ended when `ended_ok`."""
        try:
            return action(self.client)
        except telnyx.APIStatusError as exc:
            if (missing_ok and exc.status_code == 404) or (ended_ok and CALL_ENDED_CODE in _codes(exc)):
                return None
            raise ProviderError(
                f"Telnyx could not {doing}: {_describe(exc)}", permanent=exc.status_code in PERMANENT_STATUSES
            ) from exc
        except telnyx.APIConnectionError as exc:  # also APITimeoutError
            raise ProviderError(f"Telnyx could not be reached: {exc}") from exc
        except telnyx.TelnyxError as exc:  # e.g. an answer the SDK could not read
            raise ProviderError(f"Telnyx could not {doing}: {exc}") from exc
        except ValueError as exc:  # the SDK refuses before sending, e.g. an empty call control id
            raise ProviderError(f"Telnyx could not {doing}: {exc}", permanent=True) from exc

    # --- calls ---------------------------------------------------------------------------

    def place_call(self, request: OutboundCall) -> str:
        state = {"call_id": request.call_id}
        options = {}
        if request.detect_answering_machine:
            # The call goes on at once (a person hears the opening without waiting): Telnyx sends
            # call.machine.detection.ended, then for a machine call.machine.greeting.ended once its
            # greeting ends with a beep or silence, when the voicemail message is left. ("detect"
            # never reports the greeting's end; "detect_beep" only when there is a beep.)
            options["answering_machine_detection"] = MACHINE_DETECTION
        if request.record:
            options.update(record="record-from-answer", record_format="mp3")
        connection_id = self._connection_id()
        dialed = self._request(
            "place the call",
            lambda c: c.calls.dial(
                connection_id=connection_id,
                to=request.to,
                from_=request.from_,
                webhook_url=self.webhook_url(),
                webhook_url_method="POST",
                # The carrier ends the call when the credits reserved for it are used up.
                time_limit_secs=request.time_limit_seconds,
                timeout_secs=RING_TIMEOUT_SECONDS,
                client_state=encode_state(state),
                **options,
            ),
        )
        if dialed is None or dialed.data is None or not dialed.data.call_control_id:
            raise ProviderError("Telnyx accepted the call but returned no call id.")
        return dialed.data.call_control_id

    def hang_up(self, provider_call_id: str, *, command_id: str = "") -> None:
        """End the call; one that has already ended is not an error (the end is what we wanted)."""
        extra = {"command_id": command_id} if command_id else {}
        self._request(
            "end the call",
            lambda c: c.calls.actions.hangup(provider_call_id, **extra),
            missing_ok=True,
            ended_ok=True,
        )

    def transfer(self, provider_call_id: str, to: str, *, command_id: str = "") -> None:
        extra = {"command_id": command_id} if command_id else {}
        self._request("transfer the call", lambda c: c.calls.actions.transfer(provider_call_id, to=to, **extra))

    def answer(self, call_control_id: str, client_state: dict, *, record: bool = False, command_id: str = "") -> None:
        """Pick up an inbound call (Telnyx accepts no other command on it before this one)."""
        extra = {"command_id": command_id} if command_id else {}
        if record:
            extra.update(record="record-from-answer", record_format="mp3")
        self._request(
            "answer the call",
            lambda c: c.calls.actions.answer(
                call_control_id,
                client_state=encode_state(client_state),
                webhook_url=self.webhook_url(),
                webhook_url_method="POST",
                **extra,
            ),
        )

    def speak(
        self,
        call_control_id: str,
        text: str,
        *,
        voice: str,
        language: str,
        client_state: dict,
        command_id: str = "",
        interrupt: bool = False,
    ) -> None:
        """Say `text`; Telnyx reports call.speak.ended with `client_state` when it is done.
        `interrupt`: stop whatever is being said or queued first, and say this at once."""
        extra = {"command_id": command_id} if command_id else {}
        if interrupt:
            extra["stop"] = "all"
        self._request(
            "speak on the call",
            lambda c: c.calls.actions.speak(
                call_control_id,
                payload=text,
                payload_type="text",
                voice=telnyx_voice(voice),
                language=language,  # Telnyx ignores it for Polly voices, which carry their own
                client_state=encode_state(client_state),
                **extra,
            ),
        )

    def start_listening(self, call_control_id: str, *, language: str = "en-US", command_id: str = "") -> None:
        """Start real-time transcription of the callee (it runs until the call ends: start it
        once per call). Final results arrive as call.transcription events."""
        extra = {"command_id": command_id} if command_id else {}
        self._request(
            "start listening on the call",
            lambda c: c.calls.actions.start_transcription(
                call_control_id,
                transcription_engine="Google",
                transcription_engine_config={
                    "transcription_engine": "Google",
                    "language": language.split("-", 1)[0].lower(),  # Google's codes here are "en", "es", ...
                    "interim_results": False,
                },
                transcription_tracks="inbound",
                **extra,
            ),
        )

    def start_relay(
        self,
        call_control_id: str,
        *,
        url: str,
        greeting: str,
        voice: str,
        language: str,
        client_state: dict,
        command_id: str = "",
    ) -> None:
        """Hand the conversation to a Conversation Relay socket at `url` (telephony.relay): Telnyx
        says `greeting`, then does speech recognition, turn-taking and speech, and sends
        call.conversation.ended when the session is over."""
        extra = {"command_id": command_id} if command_id else {}
        if greeting:
            extra["greeting"] = greeting
        self._request(
            "start the conversation",
            lambda c: c.calls.actions.start_conversation_relay(
                call_control_id,
                url=url,
                voice=telnyx_relay_voice(voice),
                # Telnyx's examples name languages by their primary subtag ("en", "fr", "es").
                language=language.split("-", 1)[0].lower(),
                # The callee may speak or press a key over the agent (`interrupt`), and key
                # presses reach the socket as `dtmf` frames: as on Twilio (twiml.py).
                interruptible="any",
                dtmf_detection=True,
                client_state=encode_state(client_state),
                **extra,
            ),
        )

    def stop_relay(self, call_control_id: str, *, command_id: str = "") -> None:
        """End the call's Conversation Relay session (a machine answered: its message follows).
        A call that has already ended needs no stopping."""
        extra = {"command_id": command_id} if command_id else {}
        self._request(
            "stop the conversation",
            lambda c: c.calls.actions.stop_conversation_relay(call_control_id, **extra),
            ended_ok=True,
        )

    # --- recordings ----------------------------------------------------------------------

    def fetch_recording(self, media_url: str, *, recording_id: str = "") -> tuple[bytes, str]:
        # The URLs in call.recording.saved are pre-signed and last 10 minutes (says the SDK's
        # documentation): ask for a fresh one by the recording's id, then a plain GET, without
        # our API key, which must not go to a storage host.
        media_url = self._fresh_recording_url(recording_id) or media_url
        try:
            response = requests.get(media_url, timeout=15)
        except RequestException as exc:
            raise ProviderError(f"Telnyx could not be reached: {exc}") from exc
        if response.status_code != 200:
            raise ProviderError(
                f"Telnyx did not return the recording ({response.status_code}).",
                permanent=response.status_code in (403, 404),
            )
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if not content_type.startswith("audio/"):
            content_type = "audio/wav" if ".wav" in media_url.split("?")[0] else "audio/mpeg"
        return response.content, content_type

    def _fresh_recording_url(self, recording_id: str) -> str:
        if not recording_id:
            return ""
        if recording_id.startswith("leg:"):
            found = self._request(
                "find the recording", lambda c: c.recordings.list(filter={"call_leg_id": recording_id[4:]})
            )
            recordings = list((found.data if found is not None else None) or [])
        else:
            found = self._request("find the recording", lambda c: c.recordings.retrieve(recording_id), missing_ok=True)
            recordings = [found.data] if found is not None and found.data is not None else []
        for recording in recordings:
            urls = recording.download_urls
            if urls is not None and (urls.mp3 or urls.wav):
                return urls.mp3 or urls.wav
        return ""

    def delete_recording(self, recording_id: str) -> None:
        if recording_id.startswith("leg:"):
            # The event named no recording id: delete every recording of the call leg.
            found = self._request(
                "find the recording", lambda c: c.recordings.list(filter={"call_leg_id": recording_id[4:]})
            )
            ids = [r.id for r in (found.data if found is not None else []) or [] if r.id]
        else:
            ids = [recording_id]
        for one in ids:
            self._request("delete the recording", lambda c, one=one: c.recordings.delete(one), missing_ok=True)

    # --- numbers -------------------------------------------------------------------------

    def search_numbers(self, *, country: str, area_code: str = "", limit: int = 20) -> list[AvailableNumber]:
        wanted = {"country_code": country.upper(), "features": ["voice"], "limit": limit}
        if area_code:
            wanted["national_destination_code"] = area_code
        found = self._request("search numbers", lambda c: c.available_phone_numbers.list(filter=wanted))
        numbers = []
        for n in (found.data if found is not None else None) or []:
            if not n.phone_number:
                continue
            region = {r.region_type: r.region_name or "" for r in n.region_information or []}
            numbers.append(
                AvailableNumber(
                    number=n.phone_number,
                    locality=region.get("rate_center") or region.get("location") or "",
                    region=region.get("state", ""),
                    country=region.get("country_code") or country.upper(),
                )
            )
        return numbers

    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> str:
        """Order `number` on our Call Control application, so its calls reach the Telnyx webhook
        (`voice_url` and `status_url` are Twilio's idea: Telnyx routes by connection).

        Returns the number itself: an order completes asynchronously, and the phone number's own
        Telnyx id exists only once it has; release_number finds it by the number."""
        connection_id = self._connection_id()
        order = self._request(
            "buy the number",
            lambda c: c.number_orders.create(connection_id=connection_id, phone_numbers=[{"phone_number": number}]),
        )
        if order is None or order.data is None or order.data.status == "failure":
            raise ProviderError(f"Telnyx could not buy {number}.", permanent=True)
        return number

    def release_number(self, provider_number_id: str) -> None:
        if provider_number_id.startswith("+"):
            found = self._request(
                "find the number", lambda c: c.phone_numbers.list(filter={"phone_number": provider_number_id})
            )
            ids = [n.id for n in (found.data if found is not None else []) or [] if n.id]
        else:
            ids = [provider_number_id]
        for one in ids:
            self._request("release the number", lambda c, one=one: c.phone_numbers.delete(one), missing_ok=True)

    # --- webhooks ------------------------------------------------------------------------

    def verify_and_parse(self, request: HttpRequest) -> TelnyxEvent | None:
        """The event, only when it carries Telnyx's valid ed25519 signature over
        f"{timestamp}|{body}" and was signed within TELNYX_WEBHOOK_TOLERANCE_SECONDS.

        The SDK's own check (`client.webhooks.unwrap`) also refuses anything more than 300 s
        off, so a tolerance above 300 s cannot widen the window; a smaller one narrows it."""
        public_key = settings.TELNYX_PUBLIC_KEY
        signature = request.headers.get("telnyx-signature-ed25519", "")
        timestamp = request.headers.get("telnyx-timestamp", "")
        if not (public_key and signature and timestamp):
            return None
        try:
            if abs(time.time() - int(timestamp)) > settings.TELNYX_WEBHOOK_TOLERANCE_SECONDS:
                return None
            body = request.body.decode("utf-8")
            self._client_for(settings.TELNYX_API_KEY).webhooks.unwrap(
                body,
                headers={"telnyx-signature-ed25519": signature, "telnyx-timestamp": timestamp},
                key=public_key,
            )
            document = json.loads(body)
        except (ValueError, telnyx.TelnyxError, WebhookVerificationError):
            # ValueError covers the SDK's refusals, bad Base64, bad UTF-8 and bad JSON.
            return None
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict) or not data.get("id") or not data.get("event_type"):
            return None
        payload = data.get("payload")
        return TelnyxEvent(
            id=str(data["id"]),
            type=str(data["event_type"]),
            occurred_at=parse_time(data.get("occurred_at")),
            payload=payload if isinstance(payload, dict) else {},
            body=document,
        )

    def verify_webhook(self, request: HttpRequest) -> bool:
        return self.verify_and_parse(request) is not None

    def verify_relay_handshake(self, handshake) -> bool:
        # Telnyx documents no signature on the socket it opens: the URL's token, signed by us,
        # bound to the call and short-lived, is the check (telephony.relay).
        return True

    # --- events in our terms -------------------------------------------------------------

    def call_event(self, event: TelnyxEvent, *, call_id: int, answered_at: datetime | None) -> CallEvent:
        """call.hangup as our final status. Connected time runs from the answer (Telnyx's time
        of call.answered when we have it) to the hang-up's `occurred_at`."""
        payload = event.payload
        cause = payload.get("hangup_cause") or "unspecified"
        status = HANGUP_STATUS.get(cause)
        if status is None and answered_at is not None:
            status = "completed"  # normal_clearing, unspecified: the end of a conversation
        elif status is None and cause == "normal_clearing":
            # Cleared before anyone answered: by us (the outbound call's caller) it was
            # canceled; by the far end it rang out. Never a completed call.
            status = "canceled" if payload.get("hangup_source") == "caller" else "no_answer"
        elif status is None:
            status = "failed"
        duration = _seconds_between(answered_at, event.occurred_at) if status == "completed" else None
        return CallEvent(
            call_id=call_id,
            provider_call_id=event.call_control_id,
            status=status,
            dedupe_key=event.id,
            duration_seconds=duration,
            detail=end_reason(
                status, sip_code=payload.get("sip_hangup_cause") or "", cause=HANGUP_REASON.get(cause, "")
            ),
        )

    def recording_event(self, event: TelnyxEvent, *, call_id: int) -> RecordingEvent | None:
        """call.recording.saved. Its payload may not name the recording: then "leg:<call leg id>"
        stands for it, which delete_recording understands."""
        payload = event.payload
        urls = payload.get("recording_urls") or {}
        media_url = (urls.get("mp3") or urls.get("wav") or "") if isinstance(urls, dict) else ""
        if not media_url:
            return None
        recording_id = payload.get("recording_id") or (
            f"leg:{payload['call_leg_id']}" if payload.get("call_leg_id") else ""
        )
        duration = _seconds_between(
            parse_time(payload.get("recording_started_at")), parse_time(payload.get("recording_ended_at"))
        )
        return RecordingEvent(
            call_id=call_id,
            recording_id=recording_id,
            media_url=media_url,
            duration_seconds=duration or 0,
            dedupe_key=event.id,
        )

    def inbound_call(self, event: TelnyxEvent) -> InboundCall:
        """call.initiated with direction "incoming"."""
        return InboundCall(
            provider_call_id=event.call_control_id,
            from_=event.payload.get("from") or "",
            to=event.payload.get("to") or "",
        )
