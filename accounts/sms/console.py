import logging
from dataclasses import dataclass

from .base import SmsSender

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentCode:
    phone: str
    code: str


# Every code the console sender "sent", newest last; tests read codes from here.
OUTBOX: list[SentCode] = []


class ConsoleSmsSender(SmsSender):
    """Development sender: prints the code to the server's console instead of texting it."""

    def send_code(self, *, phone: str, code: str) -> None:
        OUTBOX.append(SentCode(phone=phone, code=code))
        logger.warning("SMS to %s: your Clozit code is %s", phone, code)
        print(f"[sms] to {phone}: your Clozit code is {code}", flush=True)
