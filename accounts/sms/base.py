class SmsError(Exception):
    """A code could not be delivered. `permanent` is True when retrying cannot help (a bad number)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class SmsSender:
    """Delivers one-time codes that allauth generated and will check."""

    def send_code(self, *, phone: str, code: str) -> None:
        """Text `code` to `phone` (E.164). Raises SmsError."""
        raise NotImplementedError

    def mark_verified(self, *, phone: str) -> None:
        """Tell the provider the code sent to `phone` was entered correctly. Never raises."""
