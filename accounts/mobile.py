"""Mobile numbers as people type them, in E.164: used by the sign-in forms (accounts.adapter) and
by the security log (accounts.security) to find the account a failed sign-in tried."""

import phonenumbers
from django import forms


def normalise_mobile(raw: str, *, default_country: str = "US") -> str:
    """E.164 form of a mobile number, or ValidationError with a reason a person can act on."""
    raw = (raw or "").strip()
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else default_country)
    except phonenumbers.NumberParseException:
        raise forms.ValidationError("Enter a mobile number with its country code, e.g. +14155550123.") from None
    if not phonenumbers.is_valid_number(number):
        raise forms.ValidationError("This is not a valid phone number. Include the country code, e.g. +44 7911 123456.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
