"""The simulated provider: a local carrier that behaves like Twilio, for development and tests.

Placing a call enqueues `telephony.simulator.run_call`, which plays the callee and drives our
own webhook endpoints over HTTP, signed with Twilio's algorithm and a local secret.
"""

import io
import math
import struct
import uuid
import wave

import phonenumbers
from django.conf import settings
from twilio.twiml.voice_response import VoiceResponse

from clozit.queueing import enqueue
from telephony import simulator

from .base import AgentStep, AvailableNumber, OutboundCall, ProviderError, VoiceProvider
from .twiml import MACHINE_DETECTION, TwilioWireFormat, machine_detection_url


class SimulatedProvider(TwilioWireFormat, VoiceProvider):
    name = "simulated"

    def signing_secret(self) -> str:
        return settings.SIMULATED_SIGNING_SECRET

    def place_call(self, request: OutboundCall) -> str:
        sid = "SM" + uuid.uuid4().hex
        try:
            enqueue(
                "simulator",
                simulator.run_call,
                sid=sid,
                to=request.to,
                from_=request.from_,
                answer_url=request.answer_url,
                status_url=request.status_url,
                time_limit=request.time_limit_seconds,
                # Detection as on Twilio (providers/twiml.py): the greeting's end, in the background.
                machine_detection=MACHINE_DETECTION if request.detect_answering_machine else "",
                async_amd=request.detect_answering_machine,
                amd_status_url=machine_detection_url(self.name, request.call_id)
                if request.detect_answering_machine
                else "",
                recording_url=request.recording_url if request.record else "",
                job_id=f"sim-{sid}",
            )
        except Exception as exc:  # Redis down: the dialer may retry later
            raise ProviderError(f"The simulated carrier is unreachable: {exc}") from exc
        return sid

    def fetch_recording(self, media_url: str, *, recording_id: str = "") -> tuple[bytes, str]:
        # simulated://<sid>?seconds=<n>: the simulated carrier keeps no audio; make some.
        seconds = int(media_url.rsplit("seconds=", 1)[-1]) if "seconds=" in media_url else 1
        return _tone_wav(seconds), "audio/wav"

    def hang_up(self, provider_call_id: str) -> None:
        simulator.request_hangup(provider_call_id)

    def transfer(self, provider_call_id: str, to: str) -> None:
        response = VoiceResponse()
        response.dial(to)
        self._redirect(provider_call_id, str(response), doing="transfer the call")

    def update_call(self, provider_call_id: str, step: AgentStep) -> None:
        self._redirect(provider_call_id, self.twiml(step), doing="redirect the call")

    def _redirect(self, provider_call_id: str, twiml: str, *, doing: str) -> None:
        """New instructions for a live call, refused as Twilio refuses them (20404, 21220)."""
        state = simulator.call_state(provider_call_id)
        if not state:
            raise ProviderError(f"The simulated carrier could not {doing}: no such call.", permanent=True)
        if state != "in-progress":
            raise ProviderError(
                f"The simulated carrier could not {doing}: the call is not in progress ({state}).", permanent=True
            )
        simulator.request_update(provider_call_id, twiml)

    def delete_recording(self, recording_id: str) -> None:
        """The simulated carrier keeps no audio: nothing to delete."""

    def search_numbers(self, *, country: str, area_code: str = "", limit: int = 20) -> list[AvailableNumber]:
        """Fictional numbers: +1 <area code> 555-01XX in North America, example-shaped elsewhere."""
        country = country.upper()
        if country in ("US", "CA"):
            area = area_code if len(area_code) == 3 and area_code.isdigit() else "415"
            candidates = [f"+1{area}55501{i:02d}" for i in range(limit)]
        else:
            example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.FIXED_LINE)
            if example is None:
                return []
            base = str(example.national_number)[:-2]
            candidates = [f"+{example.country_code}{base}{i:02d}" for i in range(limit)]
        return [AvailableNumber(number=n, locality="Simulated", country=country) for n in candidates]

    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> str:
        return "PN" + uuid.uuid4().hex

    def release_number(self, provider_number_id: str) -> None:
        """Nothing is held at a simulated carrier."""


def _tone_wav(seconds: int) -> bytes:
    """A quiet tone standing in for a simulated call's audio (at most 30 s, 8 kHz mono)."""
    rate, length = 8000, max(1, min(seconds, 30))
    frames = b"".join(
        struct.pack("<h", int(2000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(rate * length)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(frames)
    return buffer.getvalue()
