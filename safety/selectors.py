"""Reads for the "Who called me?" page and the staff queue.

What a look-up may show (the enumeration-resistant design, docs/architecture.md):

- It needs two numbers: the one that called (as the phone showed it) and the person's own. Only
  calls FROM the first TO the second are shown, so a number alone reveals nothing: knowing a
  business's caller number does not list whom it called, and knowing a person's number does not
  list who called them without also naming the caller number.
- Only calls a carrier was asked to place (a call still queued, or dropped before dialling, rang
  no phone) and only those of the last SAFETY_LOOKUP_DAYS days.
- No match looks the same whatever the reason (wrong pair, no calls, too old, a bot's honeypot):
  the page's answer then depends only on what was typed.
- Look-ups are rate-limited per address and per callee number (safety.ratelimit), which bounds
  guessing the caller number for a known callee.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from campaigns.models import Call, CallTurn

from .models import Report

# More calls than a person reads on a phone: the latest of each business and campaign are shown.
MAX_CALLS_READ = 50


@dataclass(frozen=True)
class CallerMatch:
    """One business (and campaign) that called: its latest call and how many calls it made."""

    call: Call
    business: str
    purpose: str
    last_called_at: datetime
    calls: int


def business_name(workspace) -> str:
    """The name callees know the business by: its company name, else the workspace's name."""
    return (workspace.company_name or workspace.name).strip()


def calls_matching(*, caller_number: str, callee_number: str, now: datetime | None = None) -> list[CallerMatch]:
    """The businesses that called `callee_number` from `caller_number` lately, latest first (both
    E.164). Empty when nothing matches, for whatever reason."""
    since = (now or timezone.now()) - timedelta(days=settings.SAFETY_LOOKUP_DAYS)
    calls = (
        Call.objects.filter(
            direction=Call.Direction.OUTBOUND,
            from_number=caller_number,
            to_number=callee_number,
            created_at__gte=since,
            dialing_started_at__isnull=False,
        )
        .select_related("workspace", "campaign")
        .order_by("-created_at", "-id")[:MAX_CALLS_READ]
    )
    matches: dict[tuple, list[Call]] = {}
    for call in calls:
        matches.setdefault((call.workspace_id, call.campaign_id), []).append(call)
    return [
        CallerMatch(
            call=group[0],
            business=business_name(group[0].workspace),
            purpose=(group[0].campaign.purpose if group[0].campaign else ""),
            last_called_at=group[0].created_at,
            calls=len(group),
        )
        for group in matches.values()
    ]


def call_for_callee(*, call_id: int, callee_number: str, now: datetime | None = None) -> Call | None:
    """The call a signed link names, only while it is still one the callee may act on."""
    since = (now or timezone.now()) - timedelta(days=settings.SAFETY_LOOKUP_DAYS)
    return (
        Call.objects.filter(pk=call_id, to_number=callee_number, created_at__gte=since)
        .select_related("workspace", "campaign")
        .first()
    )


def open_reports():
    return Report.objects.filter(status=Report.Status.OPEN).select_related("workspace", "campaign", "call")


def transcript_excerpt(*, call_id: int, turns: int = 12) -> list[tuple[str, str]]:
    """The first turns of a call, (speaker, text), for staff reading a report."""
    rows = CallTurn.objects.filter(call_id=call_id).order_by("sequence").values_list("speaker", "text")[:turns]
    return list(rows)
