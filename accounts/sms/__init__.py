"""One-time codes by SMS: one small interface, two senders.

allauth generates every code and checks it (expiry, attempts, resends, rate limits all live
in one place); a sender only delivers it and, once allauth has accepted it, reports the
verification as approved. With Twilio configured, Verify delivers the code as a *custom code*
(its templates, sender pools and fraud guard still apply) and is told when it was approved.
"""

from functools import cache

from django.conf import settings

from .base import SmsError, SmsSender
from .console import OUTBOX, ConsoleSmsSender

__all__ = ["OUTBOX", "ConsoleSmsSender", "SmsError", "SmsSender", "get_sms_sender"]


@cache
def _twilio_sender(account_sid: str, auth_token: str, service_sid: str, base_url: str) -> SmsSender:
    from .twilio_verify import TwilioVerifySender  # loaded only when configured, like the other optional senders

    return TwilioVerifySender(
        account_sid=account_sid, auth_token=auth_token, service_sid=service_sid, base_url=base_url
    )


def get_sms_sender() -> SmsSender:
    """Twilio Verify when its three settings are present, else the console sender."""
    if settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_VERIFY_SERVICE_SID:
        return _twilio_sender(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            settings.TWILIO_VERIFY_SERVICE_SID,
            settings.TWILIO_VERIFY_BASE_URL,
        )
    return ConsoleSmsSender()
