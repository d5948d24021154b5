"""Phone numbers in the one form everything stores and compares: E.164 ("+12025550101").

Below telephony and campaigns alike: contact imports, the do-not-call list, caller numbers
bought from a carrier and the admin's searches all read numbers people typed through here.
"""

import functools

import phonenumbers


def normalise_number(raw: str, *, default_country: str) -> str:
    """E.164 form of `raw`, or ValueError with a reason a person can act on."""
    # A leading apostrophe is how spreadsheets (and our exports before they wrote numbers exactly) keep "+1…" text.
    raw = (raw or "").strip().removeprefix("'")
    return _nanp_number(raw, default_country) or _parsed_number(raw, default_country)


def _parsed_number(raw: str, default_country: str) -> str:
    if not raw:
        raise ValueError("the phone number is empty")
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else default_country)
    except phonenumbers.NumberParseException:
        raise ValueError(f"'{raw}' is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(
            f"'{raw}' is not a valid number for {phonenumbers.region_code_for_number(number) or default_country}"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


NANP_FORMATTING = str.maketrans("", "", " ()-.")


@functools.cache
def _in_nanp(region: str) -> bool:
    return phonenumbers.country_code_for_region(region or "") == 1


def _nanp_number(raw: str, default_country: str) -> str:
    """The E.164 form of a North American number written only with digits and " ()-.", or "" for
    anything else (and for invalid numbers, so their reason comes from `_parsed_number`).

    Half the cost of `_parsed_number` is `phonenumbers.parse` finding the country and national
    number. For these spellings that is certain without it: "+1" and ten digits starting 2-9, or in
    a NANP default country ten such digits, optionally after the trunk "1" (national numbers never
    start with 1, so parse strips no prefix). Validity is still phonenumbers' own check. A test
    compares both paths on generated numbers.
    """
    digits = raw.translate(NANP_FORMATTING)
    if not digits.isascii():
        return ""
    if len(digits) == 12 and digits.startswith("+1"):
        national = digits[2:]
    elif len(digits) == 10 and _in_nanp(default_country):
        national = digits
    elif len(digits) == 11 and digits[0] == "1" and _in_nanp(default_country):
        national = digits[1:]
    else:
        return ""
    if not national.isdigit() or national[0] in "01":
        return ""
    if not phonenumbers.is_valid_number(phonenumbers.PhoneNumber(country_code=1, national_number=int(national))):
        return ""
    return "+1" + national
