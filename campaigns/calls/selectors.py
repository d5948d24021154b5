"""Reads of calls for pages.

The call list pages through an account's calls newest first by keyset (the last row's time and
id), never by OFFSET and never with a COUNT: a page costs the same whether the account has a
hundred calls or ten million. Each filter has an index that returns its calls already in that
order (migration 0017): campaign (campaign, created_at), status (owner, status, created_at),
outcome (owner, outcome, created_at; calls with one), the number's last digits (owner,
reverse(to_number)); a day range uses (owner, created_at). "Answered or not" has none: either
side is a large share of any account's calls, so the newest ones are found within a few pages of
rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import QuerySet
from django.db.models.functions import Reverse
from django.utils import timezone

from ..models import Agent, Call

PAGE_SIZE = 50
# What a row of a call table shows (templates/campaigns/calls/fragment_call_table.html): a list
# reads only these, not every call's transcript state and captured answers.
LISTED_FIELDS = (
    "created_at",
    "to_number",
    "status",
    "failure_reason",
    "outcome",
    "duration_seconds",
    "credits_charged",
    "contact__first_name",
    "contact__last_name",
)
# Cursors carry times as whole microseconds since the epoch: exact, where a float would round.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def calls_for_workspace(*, workspace, campaign=None):
    calls = Call.objects.filter(workspace=workspace).select_related("contact", "campaign", "agent")
    if campaign is not None:
        calls = calls.filter(campaign=campaign)
    return calls


def outcome_names(*, workspace) -> list[str]:
    """Every outcome the account's agents define, in the agents' order. One query."""
    names: dict[str, None] = {}
    for outcomes in Agent.objects.filter(workspace=workspace).order_by("pk").values_list("outcomes", flat=True):
        for outcome in outcomes or []:
            if isinstance(outcome, dict) and outcome.get("name"):
                names.setdefault(str(outcome["name"]), None)
    return list(names)


def calls_filtered(
    *,
    workspace,
    campaign=None,
    status: str = "",
    outcome: str = "",
    answered: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    phone: str = "",
) -> QuerySet:
    """The account's calls that match every filter given (the call list's form, cleaned). Days
    are the account's own (the active time zone); `phone` is a whole number ("+1…", matched
    exactly) or its last digits. Each call with the fields a call table shows (LISTED_FIELDS)."""
    calls = Call.objects.filter(workspace=workspace).select_related("contact").only(*LISTED_FIELDS)
    if campaign is not None:
        calls = calls.filter(campaign=campaign)
    if status:
        calls = calls.filter(status=status)
    if outcome:
        calls = calls.filter(outcome=outcome)
    if answered == "yes":
        calls = calls.filter(answered_at__isnull=False)
    elif answered == "no":
        calls = calls.filter(answered_at__isnull=True)
    if date_from:
        calls = calls.filter(created_at__gte=_day_start(date_from))
    if date_to:
        calls = calls.filter(created_at__lt=_day_start(date_to + timedelta(days=1)))
    if phone:
        calls = calls.annotate(reversed_number=Reverse("to_number"))
        if phone.startswith("+"):
            calls = calls.filter(reversed_number=phone[::-1])
        else:
            calls = calls.filter(**_starting_with("reversed_number", phone[::-1]))
    return calls


def _starting_with(field: str, digits: str) -> dict:
    """Lookups for values of `field` that start with `digits`, as a range the (owner,
    reverse(to_number)) index reads: from the digits up to the next prefix ("0199" up to "02",
    nothing above "999"). A range rather than LIKE, which uses an index only in the C collation;
    the bound is a digit, never a sign, so digits sort the same in any collation."""
    lookups = {f"{field}__gte": digits}
    stem = digits.rstrip("9")
    if stem:
        lookups[f"{field}__lt"] = stem[:-1] + str(int(stem[-1]) + 1)
    return lookups


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


@dataclass(frozen=True)
class Cursor:
    """A place in the list, between two calls: the time and id of the call it is next to."""

    created_at: datetime
    pk: int

    def __str__(self) -> str:
        return f"{(self.created_at - EPOCH) // MICROSECOND}_{self.pk}"

    @classmethod
    def of(cls, call: Call) -> Cursor:
        return cls(call.created_at, call.pk)

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """The cursor a page link carries, or None for anything else (a hand-edited link starts over)."""
        try:
            micros, pk = (int(part) for part in (text or "").split("_"))
            return cls(EPOCH + micros * MICROSECOND, pk)
        except (ValueError, OverflowError, OSError):
            return None


@dataclass
class CallPage:
    calls: list[Call]
    older: Cursor | None  # where the next (older) page starts, if there are older calls
    newer: Cursor | None  # where the previous (newer) page ends, if there are newer calls


def calls_page(
    calls: QuerySet, *, before: Cursor | None = None, after: Cursor | None = None, size: int = PAGE_SIZE
) -> CallPage:
    """One page of `calls` (`size` of them), newest first: the newest, those just older than
    `before`, or those just newer than `after`. One query: a page and one more row, to tell
    whether there is more."""
    if after is not None:
        rows = list(
            calls.filter(created_at__gte=after.created_at)
            .exclude(created_at=after.created_at, pk__lte=after.pk)
            .order_by("created_at", "pk")[: size + 1]
        )
        more_newer = len(rows) > size
        if not more_newer:  # back at the newest calls: the first page, full
            return calls_page(calls, size=size)
        rows = rows[:size][::-1]
        return CallPage(rows, older=Cursor.of(rows[-1]), newer=Cursor.of(rows[0]))
    if before is not None:
        # created_at <= … first, so the index's range starts at the cursor; the exclude settles ties.
        calls = calls.filter(created_at__lte=before.created_at).exclude(created_at=before.created_at, pk__gte=before.pk)
    rows = list(calls.order_by("-created_at", "-pk")[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    return CallPage(
        rows,
        older=Cursor.of(rows[-1]) if more_older else None,
        newer=Cursor.of(rows[0]) if before is not None and rows else None,
    )
