"""Twilio Programmable Voice, through the `twilio` SDK.

Webhooks use the same wire format as the simulated carrier (providers/twiml.py), signed with
TWILIO_AUTH_TOKEN and checked against PUBLIC_BASE_URL.
"""

import requests
from django.conf import settings
from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from .base import AgentStep, AvailableNumber, OutboundCall, ProviderError, VoiceProvider
from .twiml import MACHINE_DETECTION, TwilioWireFormat, machine_detection_url

# Errors no retry can fix: bad or unreachable numbers, blocked or unpermitted destinations,
# an unusable caller id, wrong credentials, a call that is not (or no longer) in progress.
PERMANENT_ERRORS = {13223, 13224, 20003, 20404, 21210, 21211, 21212, 21214, 21215, 21216, 21217, 21220, 21401, 21610}
# A call that has already ended: Twilio answers 404 (20404) to ending it again, 21220 to
# redirecting it (telephony/tests/carrier_examples.py).
CALL_ENDED_ERRORS = {20404, 21220}
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class TwilioProvider(TwilioWireFormat, VoiceProvider):
    name = "twilio"

    @property
    def client(self) -> Client:
        """A client for the current settings (cheap to build; credentials may change at run time)."""
        if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
            raise ProviderError(
                "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.", permanent=True
            )
        client = Client(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=TwilioHttpClient(timeout=15)
        )
        if settings.TWILIO_API_BASE_URL:
            client.api.base_url = settings.TWILIO_API_BASE_URL.rstrip("/")
        return client

    def configuration_problem(self) -> str:
        if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
            return "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN."
        if not settings.PUBLIC_BASE_URL.startswith("https://") and not settings.TWILIO_API_BASE_URL:
            return "PUBLIC_BASE_URL must be the public https address Twilio calls back on."
        return ""

    def signing_secret(self) -> str:
        return settings.TWILIO_AUTH_TOKEN

    def place_call(self, request: OutboundCall) -> str:
        options = {}
        if request.detect_answering_machine:
            options.update(
                machine_detection=MACHINE_DETECTION,
                async_amd="true",
                async_amd_status_callback=machine_detection_url(self.name, request.call_id),
                async_amd_status_callback_method="POST",
            )
        if request.record:
            options.update(
                record=True,
                recording_status_callback=request.recording_url,
                recording_status_callback_method="POST",
                recording_status_callback_event=["completed"],
            )
        try:
            call = self.client.calls.create(
                to=request.to,
                from_=request.from_,
                url=request.answer_url,
                method="POST",
                status_callback=request.status_url,
                status_callback_method="POST",
                status_callback_event=STATUS_EVENTS,
                # The carrier ends the call when the credits reserved for it are used up.
                time_limit=request.time_limit_seconds,
                **options,
            )
        except TwilioRestException as exc:
            raise ProviderError(
                f"Twilio refused the call: {exc.msg} ({exc.code})", permanent=exc.code in PERMANENT_ERRORS
            ) from exc
        except (TwilioException, RequestException) as exc:
            raise ProviderError(f"Twilio could not be reached: {exc}") from exc
        return call.sid

    def fetch_recording(self, media_url: str, *, recording_id: str = "") -> tuple[bytes, str]:
        # A plain authenticated GET of the media URL Twilio gave us: the SDK's client decodes
        # response bodies as text, which would corrupt audio.
        try:
            response = requests.get(
                media_url + ".mp3", auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN), timeout=15
            )
        except RequestException as exc:
            raise ProviderError(f"Twilio could not be reached: {exc}") from exc
        if response.status_code != 200:
            raise ProviderError(
                f"Twilio did not return the recording ({response.status_code}).", permanent=response.status_code == 404
            )
        return response.content, "audio/mpeg"

    def _request(self, doing: str, action, *, missing_ok: bool = False, ended_ok: bool = False):
        """Run one SDK request, turning its failures into ProviderError. 404 is fine when
        `missing_ok`; a call that has already ended (or never existed) when `ended_ok`."""
        try:
            return action(self.client)
        except (TwilioRestException, TwilioServiceException) as exc:
            status, code = exc.status, exc.code
            if (missing_ok and status == 404) or (ended_ok and code in CALL_ENDED_ERRORS):
                return None
            message = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
            raise ProviderError(
                f"Twilio could not {doing}: {message} ({code})",
                permanent=status in (400, 401, 403, 404, 422) or code in PERMANENT_ERRORS,
            ) from exc
        except (TwilioException, RequestException) as exc:
            raise ProviderError(f"Twilio could not be reached: {exc}") from exc

    def hang_up(self, provider_call_id: str) -> None:
        """End the call; one that has already ended is not an error (the end is what we wanted)."""
        self._request("end the call", lambda c: c.calls(provider_call_id).update(status="completed"), ended_ok=True)

    def transfer(self, provider_call_id: str, to: str) -> None:
        response = VoiceResponse()
        response.dial(to)
        self._request("transfer the call", lambda c: c.calls(provider_call_id).update(twiml=str(response)))

    def update_call(self, provider_call_id: str, step: AgentStep) -> None:
        twiml = self.twiml(step)
        self._request("redirect the call", lambda c: c.calls(provider_call_id).update(twiml=twiml))

    def delete_recording(self, recording_id: str) -> None:
        self._request("delete the recording", lambda c: c.recordings(recording_id).delete(), missing_ok=True)

    def search_numbers(self, *, country: str, area_code: str = "", limit: int = 20) -> list[AvailableNumber]:
        filters = {"voice_enabled": True, "limit": limit}
        if area_code:
            filters["area_code"] = area_code
        found = self._request(
            "search numbers", lambda c: c.available_phone_numbers(country.upper()).local.list(**filters)
        )
        return [
            AvailableNumber(
                number=n.phone_number, locality=n.locality or "", region=n.region or "", country=n.iso_country or ""
            )
            for n in found
        ]

    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> str:
        bought = self._request(
            "buy the number",
            lambda c: c.incoming_phone_numbers.create(
                phone_number=number,
                voice_url=voice_url,
                voice_method="POST",
                status_callback=status_url,
                status_callback_method="POST",
            ),
        )
        return bought.sid

    def release_number(self, provider_number_id: str) -> None:
        self._request(
            "release the number", lambda c: c.incoming_phone_numbers(provider_number_id).delete(), missing_ok=True
        )
