"""The pre-flight summary shown before a campaign is launched (and, compactly, while paused):
who can be called now and who cannot (and why), what it may cost, and how long it may take.

A fixed number of queries however long the list: one aggregate-annotated pass over the
contacts (do-not-call flags computed in SQL, streamed), one over the account's recent calls,
one for the balance. Time zones and windows are worked out in Python once per number prefix
and once per zone set, so 100,000 contacts take well under two seconds.
"""

import math
import re
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, Trim
from django.db.models.lookups import Exact
from django.utils import timezone
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from billing import ledger, prices
from telephony.rate_limit import calls_per_second

from ..agents.variables import fallback_example, variables_without_fallback
from ..contacts.windows import WAITING_CLOSED, WindowCheck, number_facts_uncached, zone
from ..models import Call, Campaign, CampaignContact, Contact, DoNotCall
from .budget import campaign_budget_left
from .state import call_reserve

# The account's history: its last calls that reached the carrier.
HISTORY_CALLS = 500
# Fewer finished calls than this say too little; the defaults are used instead.
MIN_HISTORY_CALLS = 20
DEFAULT_ANSWER_RATE = 0.35
DEFAULT_CONNECTED_SECONDS = 60
# Ringing (and the carrier setting up the call) before an answer or a give-up.
DEFAULT_RING_SECONDS = 25
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
FINISHED = [Call.Status.COMPLETED, Call.Status.BUSY, Call.Status.NO_ANSWER, Call.Status.FAILED]


@dataclass
class Preflight:
    contacts: int = 0
    callable_now: int = 0
    dnc_account: int = 0
    dnc_platform: int = 0
    invalid: int = 0
    no_time_zone: int = 0
    outside_window: int = 0
    windows_enforced: bool = True
    # The estimate, for everyone who will be called (now or when their window opens).
    to_call: int = 0
    history_calls: int = 0  # 0: the defaults were used
    answer_rate: float = DEFAULT_ANSWER_RATE
    connected_seconds: int = DEFAULT_CONNECTED_SECONDS
    attempt_seconds: int = 0
    estimated_credits: Decimal = Decimal(0)
    estimated_seconds: int = 0
    concurrency: int = 1
    calls_per_second: float = 0.0
    available_credits: Decimal = Decimal(0)
    budget_left: Decimal | None = None
    # When the first call can be placed if nobody is callable now (None: someone is, or nobody
    # ever will be with these hours), and the zone of a callee whose window opens then.
    first_call_at: datetime | None = None
    first_call_zone: str = ""
    # The most one call reserves while it runs, and why (campaigns.state.call_reserve).
    call_reserve: Decimal = Decimal(0)
    call_reserve_why: str = ""
    # Credits a connected second costs now, and the next scheduled change of it (None: none).
    call_rate: Decimal = Decimal(1)
    call_rate_change: prices.Change | None = None

    @property
    def dnc(self) -> int:
        return self.dnc_account + self.dnc_platform

    @property
    def estimated_duration(self) -> timedelta:
        return timedelta(seconds=self.estimated_seconds)

    @property
    def duration_words(self) -> str:
        """ "about 3 h 20 min", "about 45 min", "under a minute"."""
        minutes = math.ceil(self.estimated_seconds / 60)
        if self.estimated_seconds < 60:
            return "under a minute"
        hours, minutes = divmod(minutes, 60)
        if hours >= 48:
            return f"about {hours // 24} days {hours % 24} h"
        return f"about {hours} h {minutes} min" if hours else f"about {minutes} min"

    @property
    def answer_percent(self) -> int:
        return round(self.answer_rate * 100)

    @property
    def over_balance(self) -> bool:
        return self.estimated_credits > self.available_credits

    @property
    def over_budget(self) -> bool:
        return self.budget_left is not None and self.estimated_credits > self.budget_left


def _tz_prefix(number: str) -> str:
    """The longest prefix of the number that phonenumbers' zone data knows ("" when none)."""
    digits = number[1:]
    for length in range(min(TIMEZONE_LONGEST_PREFIX, len(digits)), 0, -1):
        if digits[:length] in TIMEZONE_DATA:
            return digits[:length]
    return ""


class _NumberFacts:
    """number_facts per zone-data prefix and length: numbers that share both share their zones,
    country and validity in practice, so a list costs one full parse per area, not per number."""

    def __init__(self):
        self._cache: dict[tuple[str, int], tuple[tuple[str, ...], str, bool]] = {}

    def __call__(self, number: str) -> tuple[tuple[str, ...], str, bool]:
        if not E164.match(number):
            return (), "", False
        key = (_tz_prefix(number), len(number))
        facts = self._cache.get(key)
        if facts is None:
            facts = self._cache[key] = number_facts_uncached(number)
        return facts


def _history(workspace) -> tuple[int, float, int, int]:
    """(calls, answer rate, typical connected seconds, average attempt seconds incl. ringing)."""
    rows = list(
        Call.objects.filter(workspace=workspace, direction=Call.Direction.OUTBOUND, status__in=FINISHED)
        .order_by("-created_at", "-id")
        .values_list("duration_seconds", "dialing_started_at", "ended_at")[:HISTORY_CALLS]
    )
    if len(rows) < MIN_HISTORY_CALLS:
        ring = DEFAULT_RING_SECONDS + DEFAULT_ANSWER_RATE * DEFAULT_CONNECTED_SECONDS
        return 0, DEFAULT_ANSWER_RATE, DEFAULT_CONNECTED_SECONDS, round(ring)
    connected = [seconds for seconds, _, _ in rows if seconds > 0]
    rate = len(connected) / len(rows)
    typical = round(statistics.median(connected)) if connected else DEFAULT_CONNECTED_SECONDS
    lengths = [(end - start).total_seconds() for _, start, end in rows if start and end and end >= start]
    attempt = round(statistics.fmean(lengths)) if lengths else round(DEFAULT_RING_SECONDS + rate * typical)
    return len(rows), rate, typical, max(attempt, 1)


def campaign_preflight(*, campaign: Campaign, now=None) -> Preflight:
    """Counts and estimates for the people this campaign would call next: the whole list for a
    draft, the contacts still queued for a launched campaign."""
    now = now or timezone.now()
    workspace = campaign.workspace
    if campaign.status == Campaign.Status.DRAFT:
        contacts = Contact.objects.filter(contact_list_id=campaign.contact_list_id)
    else:
        queued = CampaignContact.objects.filter(campaign=campaign, status=CampaignContact.Status.PENDING)
        contacts = Contact.objects.filter(pk__in=queued.values("contact_id"))
    rows = (
        contacts.annotate(
            on_account=Exists(DoNotCall.objects.filter(workspace=workspace, phone_number=OuterRef("phone_number"))),
            on_platform=Exists(DoNotCall.objects.filter(workspace__isnull=True, phone_number=OuterRef("phone_number"))),
        )
        .values_list("phone_number", "time_zone", "on_account", "on_platform")
        .order_by()
        .iterator(chunk_size=5000)
    )
    report = Preflight(windows_enforced=settings.CALLING_WINDOWS_ENFORCED)
    facts_of = _NumberFacts()
    windows = WindowCheck(campaign, now)
    for number, own_zone, on_account, on_platform in rows:
        report.contacts += 1
        # A number on both lists counts once, as the account's.
        if on_account:
            report.dnc_account += 1
            continue
        if on_platform:
            report.dnc_platform += 1
            continue
        zones, country, valid = facts_of(number)
        if not valid:
            report.invalid += 1
            continue
        own_zone = (own_zone or "").strip()
        if own_zone:
            zones = (own_zone,) if zone(own_zone) is not None else ()
        if not zones and report.windows_enforced:
            report.no_time_zone += 1
            continue
        wait = windows.wait_for_zones(zones, country)
        if wait is None:
            report.callable_now += 1
            continue
        report.outside_window += 1
        opens = wait.until if wait.reason.startswith(WAITING_CLOSED) else None
        if opens is not None and (report.first_call_at is None or opens < report.first_call_at):
            report.first_call_at, report.first_call_zone = opens, zones[0]
    if report.callable_now:
        report.first_call_at, report.first_call_zone = None, ""
    _estimate(report, campaign=campaign, workspace=workspace)
    report.call_reserve, report.call_reserve_why = call_reserve(campaign)
    if campaign.status != Campaign.Status.DRAFT:
        report.budget_left = campaign_budget_left(campaign)
    elif campaign.budget_credits is not None:
        report.budget_left = campaign.budget_credits
    return report


def _estimate(report: Preflight, *, campaign: Campaign, workspace) -> None:
    report.to_call = report.callable_now + report.outside_window
    report.history_calls, report.answer_rate, report.connected_seconds, report.attempt_seconds = _history(workspace)
    seconds = report.to_call * report.answer_rate * report.connected_seconds
    # At the rate in force now: until a change takes effect, the old rate is what calls pay.
    report.call_rate = prices.call_second_rate()
    report.call_rate_change = prices.next_change(prices.Item.CALL_SECOND)
    report.estimated_credits = (Decimal(math.ceil(seconds)) * report.call_rate).quantize(Decimal("1"), ROUND_CEILING)
    report.concurrency = max(min(campaign.max_concurrent_calls, workspace.call_limit), 1)
    report.calls_per_second = calls_per_second(settings.TELEPHONY_PROVIDER)
    by_lines = report.to_call * report.attempt_seconds / report.concurrency
    by_rate = report.to_call / report.calls_per_second if report.calls_per_second > 0 else 0
    report.estimated_seconds = math.ceil(max(by_lines, by_rate))
    report.available_credits = ledger.balance_of(workspace=workspace).available


# --- Variables without a value (a section of its own) -----------------------------------------------
@dataclass
class VariableGap:
    """A variable the agent's lines use without a fallback, and how many of the contacts to be
    called have no value for it (they hear nothing in its place)."""

    name: str
    missing: int
    total: int

    @property
    def tag(self) -> str:
        return "{{" + self.name + "}}"

    @property
    def example(self) -> str:
        return fallback_example(self.name)

    @property
    def everyone(self) -> bool:
        return self.missing == self.total


def campaign_variable_gaps(*, campaign: Campaign) -> list[VariableGap]:
    """For each variable the campaign's agent uses without a fallback (phone_number aside, which
    every contact has), the contacts it would call next that have no value for it, blank counting
    as none. One aggregate query over the same contacts as `campaign_preflight`."""
    names = [name for name in variables_without_fallback(campaign.agent) if name != "phone_number"]
    if not names:
        return []
    if campaign.status == Campaign.Status.DRAFT:
        contacts = Contact.objects.filter(contact_list_id=campaign.contact_list_id)
    else:
        queued = CampaignContact.objects.filter(campaign=campaign, status=CampaignContact.Status.PENDING)
        contacts = Contact.objects.filter(pk__in=queued.values("contact_id"))

    def blank(name: str):
        value = name if name in ("first_name", "last_name") else KeyTextTransform(name, "variables")
        return Exact(Trim(Coalesce(value, Value(""), output_field=TextField())), "")

    counts = contacts.order_by().aggregate(
        total=Count("pk"), **{f"v{i}": Count("pk", filter=blank(name)) for i, name in enumerate(names)}
    )
    return [
        VariableGap(name=name, missing=counts[f"v{i}"], total=counts["total"])
        for i, name in enumerate(names)
        if counts[f"v{i}"]
    ]
