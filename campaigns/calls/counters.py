"""The counters the pages read instead of a campaign's calls and contacts, and their check.

`CallCount`, `CallHourCount` and `TargetCount` (campaigns/models.py) are kept by the database:
triggers (migration 0016) add every inserted, changed or deleted call or campaign contact in the
statement that wrote it, so no code has to remember them. Only calls in a final state are counted:
live calls are few, and the pages read them from the calls table (index `call_live`).

Lock order. A counter row is locked by the statement that changes what it counts, until the
transaction ends; many calls of one campaign share rows. Every transaction takes them in this
order: a call's counter rows, then the credit account (billing/ledger.py), then the campaign's
contact counter. call_finish saves a call's counted fields before the ledger settles it; the
dialer's claim places a call's credit hold before it marks the contact claimed. A writer that took
them the other way round could deadlock with call_finish
(test_counters.py: test_calls_of_one_campaign_finishing_at_once_stay_exact_without_deadlock
fails within a run or two when call_finish settles first).

`counter_problems()` recomputes every counter from the rows, for `manage.py verify_counters` and
the test suite (after every database test, like the ledger's check).
"""

from datetime import UTC
from decimal import Decimal

from django.db.models import BooleanField, Case, Count, Q, Sum, Value, When
from django.db.models.functions import Coalesce, Trunc

from ..models import Call, CallCount, CallHourCount, CampaignContact, TargetCount

FINAL_STATUSES = (
    Call.Status.COMPLETED,
    Call.Status.BUSY,
    Call.Status.NO_ANSWER,
    Call.Status.FAILED,
    Call.Status.CANCELED,
)
# Answered: the call completed and no answering machine picked up ("human" and "" both count, as
# the carrier connected the call). The triggers of migration 0016 count the same.
ANSWERED = Q(status=Call.Status.COMPLETED) & ~Q(answered_by__startswith="machine")
TARGET_STATUSES = tuple(CampaignContact.Status.values)


def _final_calls():
    return (
        Call.objects.filter(status__in=FINAL_STATUSES)
        .order_by()
        .annotate(
            campaign_key=Coalesce("campaign_id", 0),
            agent_key=Coalesce("agent_id", 0),
            is_answered=Case(When(ANSWERED, then=Value(True)), default=Value(False), output_field=BooleanField()),
        )
    )


def expected_call_counts() -> dict[tuple, tuple]:
    """(owner, campaign or 0, agent or 0, status, outcome, answered) -> (calls, seconds, credits)."""
    rows = (
        _final_calls()
        .values_list("workspace_id", "campaign_key", "agent_key", "status", "outcome", "is_answered")
        .annotate(calls=Count("id"), seconds=Sum("duration_seconds"), credits=Sum("credits_charged"))
    )
    return {tuple(row[:6]): (row[6], row[7], row[8]) for row in rows}


def expected_hour_counts() -> dict[tuple, tuple]:
    """(owner, hour, campaign or 0, agent or 0, outcome) -> (calls, answered, answered seconds, credits)."""
    rows = (
        _final_calls()
        .annotate(hour_key=Trunc("created_at", "hour", tzinfo=UTC))
        .values_list("workspace_id", "hour_key", "campaign_key", "agent_key", "outcome")
        .annotate(
            calls=Count("id"),
            answered=Count("id", filter=ANSWERED),
            answered_seconds=Coalesce(Sum("duration_seconds", filter=ANSWERED), 0),
            credits=Sum("credits_charged"),
        )
    )
    return {tuple(row[:5]): tuple(row[5:]) for row in rows}


def expected_target_counts() -> dict[int, tuple]:
    """campaign -> contacts per status, in TARGET_STATUSES order."""
    counts: dict[int, list[int]] = {}
    for campaign_id, status, n in (
        CampaignContact.objects.order_by().values_list("campaign_id", "status").annotate(n=Count("id"))
    ):
        counts.setdefault(campaign_id, [0] * len(TARGET_STATUSES))[TARGET_STATUSES.index(status)] += n
    return {campaign_id: tuple(values) for campaign_id, values in counts.items()}


def _differences(what: str, expected: dict, stored: dict) -> list[str]:
    problems = []
    for key in sorted(expected.keys() | stored.keys(), key=repr):
        want, have = expected.get(key), stored.get(key)
        if want != have:
            problems.append(f"{what} {key}: counted {have}, the rows say {want}")
    return problems


def counter_problems() -> list[str]:
    """Every counter that differs from what the calls and campaign contacts say, as sentences; an
    empty list means the counters are exact. Reads every call and contact: for the check only."""
    stored_calls = {
        tuple(row[:6]): (row[6], row[7], row[8])
        for row in CallCount.objects.values_list(
            "workspace_id", "campaign_id", "agent_id", "status", "outcome", "answered", "calls", "seconds", "credits"
        )
    }
    stored_hours = {
        tuple(row[:5]): tuple(row[5:])
        for row in CallHourCount.objects.values_list(
            "workspace_id",
            "hour",
            "campaign_id",
            "agent_id",
            "outcome",
            "calls",
            "answered",
            "answered_seconds",
            "credits",
        )
    }
    stored_targets = {
        row[0]: tuple(row[1:]) for row in TargetCount.objects.values_list("campaign_id", *TARGET_STATUSES)
    }
    return (
        _differences("calls", _normalized(expected_call_counts()), _normalized(stored_calls))
        + _differences("calls per hour", _normalized(expected_hour_counts()), _normalized(stored_hours))
        + _differences("campaign contacts", expected_target_counts(), stored_targets)
    )


def _normalized(counts: dict) -> dict:
    """Sums as exact integers and Decimals (SQLite returns floats for sums of decimals)."""
    return {
        key: tuple(
            Decimal(value).quantize(Decimal("0.01")) if not isinstance(value, int) else value for value in values
        )
        for key, values in counts.items()
    }
