"""The simulated provider: a local carrier that behaves like Twilio, for development and tests.

Placing a call enqueues `telephony.simulator.run_call`, which plays the callee and drives our
own webhook endpoints over HTTP, signed with Twilio's algorithm and a local secret.
"""

import uuid

from django.conf import settings

from clozit.queueing import enqueue

from .base import OutboundCall, ProviderError, VoiceProvider
from .twiml import TwilioWireFormat


class SimulatedProvider(TwilioWireFormat, VoiceProvider):
    name = "simulated"

    def signing_secret(self) -> str:
        return settings.SIMULATED_SIGNING_SECRET

    def place_call(self, request: OutboundCall) -> str:
        from telephony import simulator

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
                detect_answering_machine=request.detect_answering_machine,
                job_id=f"sim-{sid}",
            )
        except Exception as exc:  # Redis down: the dialer may retry later
            raise ProviderError(f"The simulated carrier is unreachable: {exc}") from exc
        return sid

    def hang_up(self, provider_call_id: str) -> None:
        from telephony import simulator

        simulator.request_hangup(provider_call_id)
