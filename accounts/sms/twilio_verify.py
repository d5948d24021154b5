import logging

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .base import SmsError, SmsSender

logger = logging.getLogger(__name__)

# Twilio error codes that no retry can fix: invalid or unsupported numbers, blocked destinations.
PERMANENT_ERRORS = {60200, 60205, 60220, 60410, 21211, 21614}
# Seconds to wait for Twilio (connect and read). The SDK waits forever by default, which would hold
# a web worker for as long as Twilio hangs.
TIMEOUT = 10


class TwilioVerifySender(SmsSender):
    """Delivers allauth's code through Twilio Verify (custom code) and reports approvals.

    Custom codes must be enabled on the Verify service (Twilio support turns the feature on).
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        service_sid: str,
        base_url: str = "",
        client=None,
        timeout: float = TIMEOUT,
    ):
        self.client = client or Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        if base_url:
            self.client.verify.base_url = base_url.rstrip("/")
        self.service_sid = service_sid

    def _service(self):
        return self.client.verify.v2.services(self.service_sid)

    def send_code(self, *, phone: str, code: str) -> None:
        try:
            self._service().verifications.create(to=phone, channel="sms", custom_code=code)
        except TwilioRestException as exc:
            raise SmsError(f"The code could not be sent ({exc.code}).", permanent=exc.code in PERMANENT_ERRORS) from exc
        except (TwilioException, RequestException) as exc:
            # Twilio's other errors, and the network's: the SDK lets requests' exceptions through.
            raise SmsError("The code could not be sent; try again in a moment.") from exc

    def mark_verified(self, *, phone: str) -> None:
        # Verify counts unreported custom-code verifications as failed conversions, which
        # feeds its fraud guard; tell it the code was right.
        try:
            self._service().verifications(phone).update(status="approved")
        except (TwilioException, RequestException) as exc:
            logger.warning("could not report an approved verification to Twilio: %s", exc)
