"""Calling windows in the callee's own time.

A contact may be called when, in *every* time zone it may be in, the local time is inside the
campaign's calling hours on one of its calling days *and* inside the legal window of the
number's country (settings.CALLING_WINDOWS, else CALLING_WINDOW_DEFAULT). Zones are IANA names
read with zoneinfo, so daylight saving time needs no fix-up job.

The zone comes from the contact's own field, else from the number (phonenumbers). A number that
maps to several zones (some US area codes span two) must be inside the window in all of them;
a number with no known zone is not dialled at all until the user sets one on the contact.
"""

import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as phone_timezone

UNKNOWN_ZONE = "Etc/Unknown"
# How long a contact without a usable zone waits before it is looked at again (setting its
# zone re-checks it at once: services.campaign_targets_recheck).
NO_ZONE_RECHECK = dt.timedelta(hours=1)
NEVER_OPEN_RECHECK = dt.timedelta(hours=6)
# next_window_opening looks this far ahead (a campaign calling one day a week opens within 7).
SEARCH_DAYS = 8

WAITING_NO_ZONE = "No time zone known for this number: set one on the contact"
WAITING_CLOSED = "Outside calling hours"
WAITING_NEVER = "Never inside calling hours in all of this number's time zones: set one on the contact"
WAITING_NO_DAYS = "The campaign has no calling days"
# Waits that end when the contact's zone or the campaign's hours change (not a retry's spacing).
WINDOW_WAIT_PREFIXES = (WAITING_NO_ZONE, WAITING_CLOSED, WAITING_NEVER, WAITING_NO_DAYS)


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    """The ZoneInfo for an IANA name, or None when the name is not a zone."""
    if not name or name == UNKNOWN_ZONE:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def number_facts_uncached(phone_number: str) -> tuple[tuple[str, ...], str, bool]:
    """(time zones, country code, valid) of an E.164 number; zones are () when unknown."""
    try:
        parsed = phonenumbers.parse(phone_number, None)
    except phonenumbers.NumberParseException:
        return (), "", False
    if not phonenumbers.is_valid_number(parsed):
        return (), phonenumbers.region_code_for_number(parsed) or "", False
    zones = tuple(z for z in phone_timezone.time_zones_for_number(parsed) if zone(z) is not None)
    return zones, phonenumbers.region_code_for_number(parsed) or "", True


# The dialer looks the same numbers up again and again (every claim, every last-moment check).
number_facts = functools.lru_cache(maxsize=20_000)(number_facts_uncached)


def callee_time_zones(contact) -> list[str]:
    """The zones the callee may be in: the contact's own zone, else the number's; [] = unknown.

    A zone name that is not a real zone counts as unknown (never as "any time is fine")."""
    own = (contact.time_zone or "").strip()
    if own:
        return [own] if zone(own) is not None else []
    return list(number_facts(contact.phone_number)[0])


def _parse_window(text: str) -> tuple[dt.time, dt.time]:
    start, _, end = text.partition("-")
    return dt.time.fromisoformat(start.strip()), dt.time.fromisoformat(end.strip())


def legal_window(country: str) -> tuple[dt.time, dt.time]:
    """The hours (start, end) calls to `country` (ISO code) are allowed, in the callee's time."""
    windows = settings.CALLING_WINDOWS
    return _parse_window(windows.get((country or "").upper()) or settings.CALLING_WINDOW_DEFAULT)


def _hours(campaign, country: str) -> tuple[dt.time, dt.time]:
    legal_start, legal_end = legal_window(country)
    return max(campaign.calling_hours_start, legal_start), min(campaign.calling_hours_end, legal_end)


def _open_in(zone_name: str, campaign, now: dt.datetime, hours: tuple[dt.time, dt.time]) -> bool:
    info = zone(zone_name)
    if info is None:
        return False
    local = now.astimezone(info)
    start, end = hours
    return local.weekday() in (campaign.calling_days or []) and start <= local.time() < end


def window_open(campaign, zones, now: dt.datetime, *, country: str = "") -> bool:
    """Is it inside the campaign's hours and days and the legal window of `country`, in every zone?

    No zones means an unknown zone: never open."""
    if not zones:
        return False
    hours = _hours(campaign, country)
    return all(_open_in(z, campaign, now, hours) for z in zones)


def next_window_opening(campaign, zones, now: dt.datetime, *, country: str = "") -> dt.datetime | None:
    """The earliest instant at or after `now` when the window is open in every zone, or None when
    it never is in the next week (no calling days, or zones too far apart to share an hour).

    Exact, not sampled: where several zones' windows overlap, the overlap begins when the last of
    them opens, so the answer is `now` or the local opening time of one zone on some day."""
    if not zones or not campaign.calling_days or any(zone(z) is None for z in zones):
        return None
    if window_open(campaign, zones, now, country=country):
        return now
    start, end = _hours(campaign, country)
    if start >= end:
        return None
    candidates = set()
    for name in zones:
        info = zone(name)
        today = now.astimezone(info).date()
        for offset in range(-1, SEARCH_DAYS + 1):
            day = today + dt.timedelta(days=offset)
            if day.weekday() not in campaign.calling_days:
                continue
            # A start inside a spring-forward gap maps (fold=0) to just after the gap: still open.
            opening = dt.datetime.combine(day, start, tzinfo=info).astimezone(dt.UTC)
            if opening > now:
                candidates.add(opening)
    for candidate in sorted(candidates):
        if window_open(campaign, zones, candidate, country=country):
            return candidate
    return None


@dataclass(frozen=True)
class AnyHours:
    """The calling hours of a call placed on request, outside any campaign (dialing/single.py):
    any hour of any day, so only the legal window of the callee's country limits it."""

    calling_hours_start: dt.time = dt.time.min
    calling_hours_end: dt.time = dt.time.max
    calling_days: tuple = (0, 1, 2, 3, 4, 5, 6)


@dataclass(frozen=True)
class Wait:
    """Why a contact may not be called now, and when to look at it again."""

    until: dt.datetime
    reason: str


class WindowCheck:
    """May this campaign call this contact at `now`? One per claim batch (or pre-flight pass):
    answers are cached by zones and country, so a long list costs one computation per area."""

    def __init__(self, campaign, now: dt.datetime):
        self.campaign = campaign
        self.now = now
        self.enforced = settings.CALLING_WINDOWS_ENFORCED
        self._answers: dict[tuple[tuple[str, ...], str], Wait | None] = {}

    def wait_for(self, contact) -> Wait | None:
        """None when the contact may be called now; else the wait, with a reason for the user."""
        if not self.enforced:
            return None
        zones = tuple(callee_time_zones(contact))
        country = number_facts(contact.phone_number)[1]
        return self.wait_for_zones(zones, country)

    def wait_for_zones(self, zones: tuple[str, ...], country: str) -> Wait | None:
        if not self.enforced:
            return None
        key = (zones, country)
        if key not in self._answers:
            self._answers[key] = self._wait(zones, country)
        return self._answers[key]

    def _wait(self, zones: tuple[str, ...], country: str) -> Wait | None:
        now = self.now
        if not zones:
            return Wait(now + NO_ZONE_RECHECK, WAITING_NO_ZONE)
        if window_open(self.campaign, zones, now, country=country):
            return None
        opening = next_window_opening(self.campaign, zones, now, country=country)
        if opening is None:
            reason = WAITING_NO_DAYS if not self.campaign.calling_days else WAITING_NEVER
            return Wait(now + NEVER_OPEN_RECHECK, reason)
        return Wait(opening, f"{WAITING_CLOSED} ({opening_words(opening, zones, now)})")


def opening_words(opening: dt.datetime, zones, now: dt.datetime) -> str:
    """ "opens at 09:00 callee time", with the weekday when that is not within the next day."""
    local = opening.astimezone(zone(zones[0]))
    if opening - now < dt.timedelta(hours=20):
        return f"opens at {local:%H:%M} callee time"
    return f"opens {local:%A} at {local:%H:%M} callee time"
