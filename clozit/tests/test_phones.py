"""Numbers as people type them, read into E.164 (or refused with a reason they can act on)."""

import pytest

from clozit import phones
from clozit.phones import normalise_number


def test_normalise_number_reasons():
    assert normalise_number("(202) 555-0101", default_country="US") == "+12025550101"
    assert normalise_number("+44 20 7946 0123", default_country="US") == "+442079460123"
    with pytest.raises(ValueError, match="empty"):
        normalise_number("   ", default_country="US")
    with pytest.raises(ValueError, match="not a phone number"):
        normalise_number("call me", default_country="US")


@pytest.mark.parametrize("country", ["US", "CA", "JM", "GB", "DE", "FR"])
def test_north_american_fast_path_gives_what_phonenumbers_gives(country):
    """`normalise_number` skips phonenumbers.parse for plain North American numbers; the result
    (number or reason) must be exactly the one of the full parse, valid or not."""
    import random

    rng = random.Random(country)
    formats = ["+1{d}", "{d}", "1{d}", "({a}) {b}-{c}", "1-{a}-{b}-{c}", "+1 {a}.{b}.{c}", "+1{d}5", "0{d}"]
    for _ in range(4000):
        d = "".join(rng.choice("0123456789") for _ in range(10))
        if rng.random() < 0.7:
            d = rng.choice("23456789") + d[1:]
        raw = rng.choice(formats).format(d=d, a=d[:3], b=d[3:6], c=d[6:])
        try:
            fast = normalise_number(raw, default_country=country)
        except ValueError as exc:
            fast = f"error: {exc}"
        try:
            slow = phones._parsed_number(raw, country)
        except ValueError as exc:
            slow = f"error: {exc}"
        assert fast == slow, raw
