"""Numbers about calls: the live panel on a campaign's page and the analytics page.

Every function here costs a fixed number of queries, and none reads all of a campaign's or an
account's calls: they read the counters the database keeps exact as calls finish
(campaigns/calls/counters.py: calls in a final state per campaign, agent, status, outcome and
answered-or-not, and per hour of `created_at`), plus the few live calls (index `call_live`) and, at
the edges of a period or of a chart's bucket that fall inside an hour, that hour's calls (index
`call_campaign_created` or (owner, created_at)). Python only reshapes the grouped rows, plus one
query for what the agents' outcomes count as.

The same definitions on every page:

- **answered**: the call completed and was not picked up by an answering machine: status
  "completed" and `answered_by` not "machine…". "human" and "" (unknown: answering-machine
  detection off or undecided) both count, since the carrier connected the call.
- **answer rate**: answered / finished calls (a final status: completed, busy, no answer, failed,
  canceled). Calls still live are left out until they end either way.
- **average duration**: mean `duration_seconds` of answered calls.
- **positive / neutral / negative outcome**: what the call's outcome counts as for the agent that
  made it (`engine/spec.py`): the kind the agent builder gave each of the agent's own outcomes, and
  fixed kinds for the platform's ("interested" and "transferred" are always positive). Kinds are
  read from the agents as they are now, so changing one recounts past calls. A call without an
  outcome is none of the three.
- **success rate**: answered calls with a positive outcome / answered calls.
- **cost per positive outcome**: all credits spent in the period (every call, however it ended)
  / positive outcomes; None when there were none.
- calls are placed in time by `created_at` (when the dialer queued them); "calls per minute" and
  the chart count calls by that time, answered ones included in their starting bucket.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Min, Q, Subquery, Sum
from django.db.models.functions import Trunc, TruncDate
from django.utils import timezone

# "answered" and the final statuses are defined with the counters, which count the same.
from ..calls.counters import ANSWERED, FINAL_STATUSES
from ..conversation.engine.spec import KIND_LABELS, NEGATIVE, NEUTRAL, POSITIVE, kind_of, outcome_kinds
from ..models import (
    Agent,
    Call,
    CallCount,
    CallHourCount,
    CallTurn,
    Campaign,
    CampaignContact,
    TargetCount,
    outcome_label,
)

LIVE = Q(status__in=Call.LIVE_STATUSES)
HOUR = timedelta(hours=1)
RECENT_MINUTES = 5
# The chart's default resolution: at most this many points, in the finest unit that fits.
CHART_BUCKETS = 120


class OutcomeKinds:
    """What each agent's outcomes count as: read once (one query) for a page, then looked up per
    grouped row. A call whose agent is gone counts the platform's outcomes by their fixed kinds
    and any other as neutral."""

    def __init__(self, agents):
        self._by_agent = {pk: outcome_kinds(outcomes) for pk, outcomes in agents}
        self._platform = outcome_kinds([])

    @classmethod
    def of_workspace(cls, workspace) -> OutcomeKinds:
        return cls(Agent.objects.filter(workspace=workspace).values_list("id", "outcomes"))

    @classmethod
    def of_agents(cls, agent_ids) -> OutcomeKinds:
        ids = {pk for pk in agent_ids if pk is not None}
        return cls(Agent.objects.filter(pk__in=ids).values_list("id", "outcomes") if ids else [])

    def kind(self, agent_id: int | None, outcome: str) -> str:
        """positive, neutral or negative; "" for a call without an outcome."""
        if not outcome:
            return ""
        return kind_of(self._by_agent.get(agent_id, self._platform), outcome)


@dataclass
class Numbers:
    """What a set of calls came to. Filled from grouped rows with `add` and `add_outcome`;
    everything else derives."""

    calls: int = 0
    finished: int = 0
    answered: int = 0
    answered_seconds: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    positive_answered: int = 0
    credits: Decimal = Decimal("0")
    outcomes: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, set[str]] = field(default_factory=dict)  # outcome -> kinds it has among the agents

    def add(self, row: dict) -> None:
        self.calls += row["calls"]
        self.finished += row["finished"]
        self.answered += row["answered"]
        self.answered_seconds += row["answered_seconds"] or 0
        self.credits += row["credits"] or Decimal("0")

    def add_outcome(self, outcome: str, count: int, *, kind: str = "", answered: int = 0) -> None:
        """`count` calls (`answered` of them answered) ended with `outcome`, which counts as `kind`."""
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count
        if kind:
            self.kinds.setdefault(outcome, set()).add(kind)
        if kind == POSITIVE:
            self.positive += count
            self.positive_answered += answered
        elif kind == NEUTRAL:
            self.neutral += count
        elif kind == NEGATIVE:
            self.negative += count

    @property
    def success_rate(self) -> float | None:
        """Percent of answered calls that ended with a positive outcome, one decimal; None before
        any call was answered."""
        return round(100 * self.positive_answered / self.answered, 1) if self.answered else None

    @property
    def answer_rate(self) -> float | None:
        """Percent of finished calls that were answered, one decimal; None before any call ended."""
        return round(100 * self.answered / self.finished, 1) if self.finished else None

    @property
    def average_duration(self) -> int | None:
        """Seconds, rounded; None when no call was answered."""
        return round(self.answered_seconds / self.answered) if self.answered else None

    @property
    def cost_per_positive(self) -> Decimal | None:
        return (self.credits / self.positive).quantize(Decimal("0.01")) if self.positive else None

    @property
    def outcome_rows(self) -> list[dict]:
        """Outcomes most common first, each with what it counts as ("kind"; "" when agents count
        it differently, or for calls without an outcome (yet), shown as "No outcome recorded")."""
        total = sum(self.outcomes.values())
        rows = []
        for outcome, count in sorted(self.outcomes.items(), key=lambda item: (-item[1], item[0])):
            kinds = self.kinds.get(outcome, set())
            kind = next(iter(kinds)) if len(kinds) == 1 else ""
            rows.append(
                {
                    "outcome": outcome,
                    "label": outcome_label(outcome) if outcome else "No outcome recorded",
                    "kind": kind,
                    "kind_label": KIND_LABELS.get(kind, "Varies by agent" if kinds else ""),
                    "count": count,
                    "percent": round(100 * count / total) if total else 0,
                }
            )
        return rows


def _call_sums(**extra) -> dict:
    """The aggregates a `Numbers` is built from, for .annotate() or .aggregate() over calls."""
    return {
        "calls": Count("id"),
        "finished": Count("id", filter=Q(status__in=FINAL_STATUSES)),
        "answered": Count("id", filter=ANSWERED),
        "answered_seconds": Sum("duration_seconds", filter=ANSWERED),
        "credits": Sum("credits_charged"),
        **extra,
    }


def _hour_sums(hours) -> list[dict]:
    """CallHourCount rows (a .values() queryset) summed into the sums a `Numbers` adds; every
    counted call is finished."""
    rows = hours.annotate(
        total_calls=Sum("calls"),
        total_answered=Sum("answered"),
        total_answered_seconds=Sum("answered_seconds"),
        total_credits=Sum("credits"),
    )
    return [
        {
            **row,
            "calls": row["total_calls"],
            "finished": row["total_calls"],
            "answered": row["total_answered"],
            "answered_seconds": row["total_answered_seconds"],
            "credits": row["total_credits"],
        }
        for row in rows
    ]


def _counted(count) -> dict:
    """A CallCount row as the sums a `Numbers` adds."""
    answered = count.calls if count.answered else 0
    return {
        "calls": count.calls,
        "finished": count.calls,
        "answered": answered,
        "answered_seconds": count.seconds if count.answered else 0,
        "credits": count.credits,
    }


def _hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_ceil(moment: datetime) -> datetime:
    floor = _hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def _partial_hours(edges) -> list[datetime]:
    """The hours (UTC) that bucket edges cut in two: zones whose offset is not whole hours. The
    hour counters cannot be split, so these hours' calls are read instead."""
    return sorted({_hour_floor(edge) for edge in edges if _hour_floor(edge) != edge})


def _in_hours(hours) -> Q:
    """Calls created within any of `hours`; an index range each."""
    condition = Q(pk__in=[])
    for hour in hours:
        condition |= Q(created_at__gte=hour, created_at__lt=hour + HOUR)
    return condition


# --- A campaign, live ---------------------------------------------------------------
@dataclass
class LiveStats:
    numbers: Numbers
    targets_total: int
    targets: list[dict]  # every CampaignContact status in order: {"status", "label", "count"}
    calls_by_status: list[dict]  # statuses with at least one call, in Call.Status order
    live_calls: int
    calls_per_minute: float
    first_call_at: datetime | None
    last_call_at: datetime | None
    kinds: OutcomeKinds = field(default_factory=lambda: OutcomeKinds([]))


def campaign_live_stats(*, campaign: Campaign, now: datetime | None = None) -> LiveStats:
    """Targets by state, calls by status and outcome, calls per minute over the last
    RECENT_MINUTES minutes, credits spent, answer rate, success rate and average answered duration.

    Five queries, none reading more than the campaign's live calls or its last RECENT_MINUTES
    minutes of calls: its contact counter, its call counters (one row per status, agent, outcome
    and answered-or-not), its live calls grouped the same way, its first, last and recent calls
    (the ends of an index), and what those agents' outcomes count as."""
    now = now or timezone.now()
    target_counts = TargetCount.objects.filter(campaign_id=campaign.pk).first()
    counted = list(CallCount.objects.filter(workspace_id=campaign.workspace_id, campaign_id=campaign.pk))
    live = list(campaign.calls.filter(LIVE).order_by().values("status", "outcome", "agent_id").annotate(**_call_sums()))
    # The first and last calls and the recent ones, through the (campaign, created_at) index.
    calls = Call.objects.filter(campaign=campaign.pk).order_by()
    recent_calls = calls.filter(created_at__gte=now - timedelta(minutes=RECENT_MINUTES)).values("campaign")
    ends = (
        Campaign.objects.filter(pk=campaign.pk)
        .values(
            first=Subquery(calls.order_by("created_at").values("created_at")[:1]),
            last=Subquery(calls.order_by("-created_at").values("created_at")[:1]),
            recent=Subquery(recent_calls.annotate(n=Count("id")).values("n")),
        )
        .first()
    )
    recent = ends["recent"] or 0
    kinds = OutcomeKinds.of_agents([count.agent_id or None for count in counted] + [row["agent_id"] for row in live])
    numbers = Numbers()
    by_status: dict[str, int] = {}
    groups = [(count.status, count.outcome, count.agent_id or None, _counted(count)) for count in counted]
    groups += [(row["status"], row["outcome"], row["agent_id"], row) for row in live]
    for status, outcome, agent_id, sums in groups:
        numbers.add(sums)
        kind = kinds.kind(agent_id, outcome)
        numbers.add_outcome(outcome, sums["calls"], kind=kind, answered=sums["answered"])
        by_status[status] = by_status.get(status, 0) + sums["calls"]
    return LiveStats(
        numbers=numbers,
        targets_total=sum(getattr(target_counts, value, 0) for value in CampaignContact.Status.values),
        targets=[
            {"status": value, "label": label, "count": getattr(target_counts, value, 0)}
            for value, label in CampaignContact.Status.choices
        ],
        calls_by_status=[
            {"status": value, "label": label, "count": by_status[value]}
            for value, label in Call.Status.choices
            if by_status.get(value)
        ],
        live_calls=sum(by_status.get(status, 0) for status in Call.LIVE_STATUSES),
        calls_per_minute=round(recent / RECENT_MINUTES, 1),
        first_call_at=ends["first"],
        last_call_at=ends["last"],
        kinds=kinds,
    )


# --- Calls over time ----------------------------------------------------------------
UNITS = (
    ("minute", timedelta(minutes=1)),
    ("hour", timedelta(hours=1)),
    ("day", timedelta(days=1)),
    ("week", timedelta(weeks=1)),
    ("month", timedelta(days=31)),
)
LABEL_FORMATS = {"minute": "%H:%M", "hour": "%b %d %H:00", "day": "%b %d", "week": "%b %d", "month": "%b %Y"}


def bucket_unit(span: timedelta, buckets: int = CHART_BUCKETS) -> str:
    """The finest unit that shows `span` in at most `buckets` points (months when nothing does)."""
    for unit, size in UNITS:
        if span <= size * (buckets - 1):
            return unit
    return "month"


def _floor(moment: datetime, unit: str) -> datetime:
    moment = moment.replace(second=0, microsecond=0)
    if unit == "minute":
        return moment
    moment = moment.replace(minute=0)
    if unit == "hour":
        return moment
    moment = moment.replace(hour=0)
    if unit == "week":  # date_trunc('week') starts on Monday
        return moment - timedelta(days=moment.weekday())
    if unit == "month":
        return moment.replace(day=1)
    return moment


def _next(moment: datetime, unit: str) -> datetime:
    if unit == "month":
        year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
    return moment + dict(UNITS)[unit]


def calls_over_time(
    *,
    campaign: Campaign,
    buckets: int = CHART_BUCKETS,
    span: tuple[datetime | None, datetime | None] | None = None,
    kinds: OutcomeKinds | None = None,
    now: datetime | None = None,
) -> dict:
    """Calls started, answered and ended with a positive outcome per bucket, oldest first, empty
    buckets included, for a chart.

    The bucket size follows the campaign's time span (first call to last call, or to now while it
    runs): per minute for a short campaign, then per hour, day, week or month, so the chart never
    has more than about `buckets` points. Buckets are in the active time zone (the account's).

    Returns {"unit", "labels", "started", "answered", "positive"}. Per-minute charts (a span of
    at most `buckets` minutes) count the campaign's calls in that span; longer ones add up its
    hour counters, plus its live calls and the calls of any hour a bucket's edge cuts in two (a
    zone whose offset is not whole hours). Two queries, plus one for the span and one for what the
    agents' outcomes count as unless the caller passes `span` and `kinds` (campaign_live_stats
    has them).
    """
    now = now or timezone.now()
    if span is None:
        found = campaign.calls.aggregate(first=Min("created_at"), last=Max("created_at"))
        span = (found["first"], found["last"])
    first, last = span
    if first is None:
        return {"unit": "minute", "labels": [], "started": [], "answered": [], "positive": []}
    if campaign.status == Campaign.Status.RUNNING:
        last = max(last, now)
    unit = bucket_unit(last - first, buckets)
    tz = timezone.get_current_timezone()

    def local(moment: datetime) -> datetime:
        # Naive local wall-clock time: the key buckets are matched on.
        return timezone.localtime(moment, tz).replace(tzinfo=None) if timezone.is_aware(moment) else moment

    points = []
    moment, end = _floor(local(first), unit), _floor(local(last), unit)
    while moment <= end:
        points.append(moment)
        moment = _next(moment, unit)
    calls = campaign.calls.order_by()
    counted: list[dict] = []
    if unit != "minute":  # a minute chart spans at most `buckets` minutes: their calls are read
        edges = [point.replace(tzinfo=tz) for point in points] + [moment.replace(tzinfo=tz)]
        partial = _partial_hours(edges)
        hours = CallHourCount.objects.filter(workspace_id=campaign.workspace_id, campaign_id=campaign.pk)
        if partial:
            hours = hours.exclude(hour__in=partial)
        counted = list(
            hours.annotate(bucket=Trunc("hour", unit, tzinfo=tz))
            .values("bucket", "agent_id", "outcome")
            .annotate(started=Sum("calls"), answered_calls=Sum("answered"))
        )
        for row in counted:
            row["answered"] = row.pop("answered_calls")
        calls = calls.filter(LIVE | _in_hours(partial))
    rows = counted + list(
        calls.annotate(bucket=Trunc("created_at", unit, tzinfo=tz))
        .values("bucket", "agent_id", "outcome")
        .annotate(started=Count("id"), answered=Count("id", filter=ANSWERED))
    )
    if kinds is None:
        kinds = OutcomeKinds.of_agents(row["agent_id"] or None for row in rows)

    counts: dict[datetime, list[int]] = {}
    for row in rows:
        bucket = counts.setdefault(_floor(local(row["bucket"]), unit), [0, 0, 0])
        bucket[0] += row["started"]
        bucket[1] += row["answered"]
        if kinds.kind(row["agent_id"] or None, row["outcome"]) == POSITIVE:
            bucket[2] += row["started"]
    points = points[-buckets:]
    label = LABEL_FORMATS[unit]
    if unit == "hour" and points and points[0].date() == points[-1].date():
        label = "%H:00"
    return {
        "unit": unit,
        "labels": [point.strftime(label) for point in points],
        "started": [counts.get(point, (0, 0, 0))[0] for point in points],
        "answered": [counts.get(point, (0, 0, 0))[1] for point in points],
        "positive": [counts.get(point, (0, 0, 0))[2] for point in points],
    }


# --- Across campaigns ---------------------------------------------------------------
@dataclass
class CampaignRow:
    campaign_id: int | None  # None: calls outside any campaign
    name: str
    numbers: Numbers


@dataclass
class AccountAnalytics:
    rows: list[CampaignRow]
    total: Numbers
    since: datetime | None


def account_analytics(*, workspace, since: datetime | None = None) -> AccountAnalytics:
    """Per campaign and in total: calls, answered, answer rate, success rate, average answered
    duration, outcome breakdown, credits spent and cost per positive outcome, for calls placed
    since `since` (all time when None). Campaigns without a call in the period are left out; calls
    outside any campaign are one row of their own.

    Five queries, none reading the account's calls: its call counters (all time: one row per
    campaign, agent, status, outcome and answered-or-not; a period: its hour counters from the
    first whole hour on, summed by campaign, agent and outcome), its live calls together with the
    calls of the period's first, partial hour, the campaigns' names, and what the account's
    agents' outcomes count as."""
    groups: list[tuple[int | None, int | None, str, dict]] = []  # (campaign, agent, outcome, sums)
    calls = Call.objects.filter(workspace=workspace).order_by()
    if since is None:
        for count in CallCount.objects.filter(workspace_id=workspace.pk):
            groups.append((count.campaign_id or None, count.agent_id or None, count.outcome, _counted(count)))
        calls = calls.filter(LIVE)
    else:
        whole_hours = _hour_ceil(since)
        hours = CallHourCount.objects.filter(workspace_id=workspace.pk, hour__gte=whole_hours)
        for row in _hour_sums(hours.values("campaign_id", "agent_id", "outcome")):
            groups.append((row["campaign_id"] or None, row["agent_id"] or None, row["outcome"], row))
        calls = calls.filter(LIVE | Q(created_at__lt=whole_hours), created_at__gte=since)
    for row in calls.values("campaign_id", "agent_id", "outcome").annotate(**_call_sums()):
        groups.append((row["campaign_id"], row["agent_id"], row["outcome"], row))
    names = dict(
        Campaign.objects.filter(workspace=workspace, pk__in={group[0] for group in groups if group[0]}).values_list(
            "pk", "name"
        )
    )
    kinds = OutcomeKinds.of_workspace(workspace)

    rows: dict[int | None, CampaignRow] = {}
    total = Numbers()
    for campaign_id, agent_id, outcome, sums in groups:
        name = names.get(campaign_id, "") if campaign_id is not None else "Calls outside campaigns"
        entry = rows.setdefault(campaign_id, CampaignRow(campaign_id, name, Numbers()))
        kind = kinds.kind(agent_id, outcome)
        for numbers in (entry.numbers, total):
            numbers.add(sums)
            numbers.add_outcome(outcome, sums["calls"], kind=kind, answered=sums["answered"])
    ordered = sorted(rows.values(), key=lambda r: (r.campaign_id is None, -r.numbers.calls, r.name.lower()))
    return AccountAnalytics(rows=ordered, total=total, since=since)


def activity_last_days(*, workspace, days: int = 7) -> list[dict]:
    """Calls placed and credits spent per day, oldest first, days without calls included.

    Two queries: the account's hour counters from the first day's start, summed per local day,
    and its live calls with the calls of any hour a day's edge cuts in two (a zone whose offset
    is not whole hours)."""
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    edges = [datetime.combine(start + timedelta(days=n), datetime.min.time(), tzinfo=tz) for n in range(days + 1)]
    partial = _partial_hours(edges)
    hours = CallHourCount.objects.filter(workspace_id=workspace.pk, hour__gte=edges[0])
    if partial:
        hours = hours.exclude(hour__in=partial)
    per_day = hours.annotate(day=TruncDate("hour", tzinfo=tz)).values("day")
    rows = [
        {"day": row["day"], "calls": row["n"], "credits": row["spent"]}
        for row in per_day.annotate(n=Sum("calls"), spent=Sum("credits"))
    ]
    rows += list(
        Call.objects.filter(LIVE | _in_hours(partial), workspace=workspace, created_at__gte=edges[0])
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(calls=Count("id"), credits=Sum("credits_charged"))
    )
    by_day: dict = {}
    for row in rows:
        day = by_day.setdefault(row["day"], {"calls": 0, "credits": Decimal("0")})
        day["calls"] += row["calls"]
        day["credits"] += row["credits"] or Decimal("0")
    series = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        row = by_day.get(day, {})
        series.append({"day": day, "calls": row.get("calls", 0), "credits": row.get("credits") or Decimal("0")})
    peak_calls = max((d["calls"] for d in series), default=0) or 1
    peak_credits = max((d["credits"] for d in series), default=0) or 1
    for d in series:
        d["calls_pct"] = round(100 * d["calls"] / peak_calls)
        d["credits_pct"] = round(100 * float(d["credits"]) / float(peak_credits))
    return series


@dataclass
class ReplyLatency:
    """How fast real-time replies began, in milliseconds (nearest-rank percentiles): the callee's
    words to the first text sent to the carrier (`first_frame`), and the part of it that was
    Clozit's own, the model's time to its first token left out (`overhead`). None: no such reply."""

    replies: int = 0
    first_frame_p50: int | None = None
    first_frame_p95: int | None = None
    overhead_p50: int | None = None
    overhead_p95: int | None = None
    latest_calls: int = 0  # how many of the latest calls the replies were read from, at most


# reply_latency reads the replies of at most this many of the account's latest calls.
LATENCY_CALLS = 1000


def _nearest_rank(values: list[int], percent: int) -> int | None:
    """The `percent`th percentile of sorted `values` (nearest rank); None when empty."""
    if not values:
        return None
    return values[max(math.ceil(percent / 100 * len(values)) - 1, 0)]


def reply_latency(*, workspace, since: datetime | None = None) -> ReplyLatency:
    """Percentiles of the account's real-time replies in its latest LATENCY_CALLS calls placed
    since `since` (all time when None): recent enough to tell how replies go now, and bounded
    however many calls the account has. One query (the latest calls through the (owner,
    created_at) index, then their replies)."""
    calls = Call.objects.filter(workspace=workspace)
    if since is not None:
        calls = calls.filter(created_at__gte=since)
    latest = calls.order_by("-created_at").values("pk")[:LATENCY_CALLS]
    timings = list(
        CallTurn.objects.filter(call__in=latest, speaker=CallTurn.Speaker.AGENT, first_frame_ms__isnull=False)
        .order_by()
        .values_list("first_frame_ms", "model_first_token_ms")
    )
    frames = sorted(frame for frame, _ in timings)
    overheads = sorted(frame - model for frame, model in timings if model is not None)
    return ReplyLatency(
        replies=len(frames),
        first_frame_p50=_nearest_rank(frames, 50),
        first_frame_p95=_nearest_rank(frames, 95),
        overhead_p50=_nearest_rank(overheads, 50),
        overhead_p95=_nearest_rank(overheads, 95),
        latest_calls=LATENCY_CALLS,
    )
