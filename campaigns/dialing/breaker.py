"""The circuit breaker: a campaign whose calls the carrier keeps failing, blocking or cutting
short pauses itself, with the rate it saw.

The dialer already pauses a campaign after PROVIDER_FAILURES_BEFORE_PAUSE calls in a row the
carrier refused to *place* (dialer._provider_failed). That misses what carriers report *after*
dialling: a number flagged as spam is accepted and then fails or is blocked call after call, or is
answered and cut within a second or two, mixed with a few calls that go through (so never "in a
row"). This looks at the campaign's calls of the last BREAKER_WINDOW_MINUTES, by when they were
placed (the (campaign, created_at) index), and counts as bad:

- failed calls (status "failed": the carrier rejected or blocked the call, or it broke);
- short answered calls: completed by a person in under ABUSE_SHORT_CALL_SECONDS.

Out of every call in a final state that was dialled (completed, busy, no answer, failed; canceled
calls never went out). From BREAKER_MIN_CALLS such calls, a bad share of BREAKER_FAILURE_RATE or
more pauses the campaign with a reason saying the rate and the count.

After a resume only calls placed after the breaker's pause count: the moment of the pause is kept
in Redis for one window (a paused campaign places no call, so "placed after the pause" is "placed
after the resume"), and after one window the old calls are out of it anyway. Were Redis emptied
meanwhile, the worst case is one more pause on the same calls, within one window of the first.
"""

import time
from datetime import UTC, datetime, timedelta

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from ..errors import CampaignError
from ..lifecycle.services import campaign_pause
from ..models import Call, Campaign

DIALLED = (Call.Status.COMPLETED, Call.Status.BUSY, Call.Status.NO_ANSWER, Call.Status.FAILED)


def _redis():
    return django_rq.get_connection("default")


def _paused_key(campaign_id: int) -> str:
    return f"breaker:paused:{campaign_id}"


def _last_pause(campaign_id: int) -> datetime | None:
    value = _redis().get(_paused_key(campaign_id))
    return datetime.fromtimestamp(float(value), tz=UTC) if value else None


def campaign_breaker_rates(campaign_id: int, *, now: datetime | None = None) -> dict:
    """The dialled calls of the window (since the breaker's last pause, if later), how many of
    them failed and how many were short. One aggregate query; zeros when the campaign is not
    running."""
    now = now or timezone.now()
    since = now - timedelta(minutes=settings.BREAKER_WINDOW_MINUTES)
    last_pause = _last_pause(campaign_id)
    if last_pause is not None and last_pause > since:
        since = last_pause
    short = Q(status=Call.Status.COMPLETED, duration_seconds__lt=settings.ABUSE_SHORT_CALL_SECONDS) & ~Q(
        answered_by="machine"
    )
    return Call.objects.filter(
        campaign_id=campaign_id,
        campaign__status=Campaign.Status.RUNNING,
        created_at__gt=since,
        status__in=DIALLED,
    ).aggregate(
        calls=Count("id"),
        failed=Count("id", filter=Q(status=Call.Status.FAILED)),
        short=Count("id", filter=short),
    )


def _reason(rates: dict) -> str:
    calls, bad = rates["calls"], rates["failed"] + rates["short"]
    percent = f"{bad * 100 // calls}%"  # rounded down: never says more than it saw
    minutes = settings.BREAKER_WINDOW_MINUTES
    reason = f"Paused: {percent} of the last {calls} calls failed or were blocked by the carrier in {minutes} minutes"
    if rates["short"]:
        seconds = settings.ABUSE_SHORT_CALL_SECONDS
        reason += f" ({rates['short']} of them answered and cut within {seconds} seconds)"
    return reason + ". Check the caller number and the carrier's account, then resume."


def campaign_breaker_check(campaign_id: int) -> str:
    """Pause the campaign when the carrier failed, blocked or cut short too many of its recent
    calls. Returns the reason it was paused now (the text its owner reads), or "" when nothing was
    done. Cheap when nothing is wrong: one aggregate query over the window's calls and one Redis
    read, no lock. Never pauses a campaign that is not running; calls in progress finish."""
    rates = campaign_breaker_rates(campaign_id)
    calls = rates["calls"]
    if calls < max(settings.BREAKER_MIN_CALLS, 1):
        return ""
    if (rates["failed"] + rates["short"]) / calls < settings.BREAKER_FAILURE_RATE:
        return ""
    reason = _reason(rates)
    with transaction.atomic():
        # FOR NO KEY UPDATE, as the abuse signals: calls being written for the campaign do not wait on it.
        campaign = Campaign.objects.select_for_update(no_key=True).filter(pk=campaign_id).first()
        if campaign is None or campaign.status != Campaign.Status.RUNNING:
            return ""
        try:
            campaign_pause(campaign=campaign, reason=reason)
        except CampaignError:
            return ""
        # Written before the commit: were the pause rolled back, the calls before this moment
        # would only be left out of the next count, which they were about to be anyway.
        _redis().set(_paused_key(campaign_id), str(time.time()), ex=settings.BREAKER_WINDOW_MINUTES * 60 + 60)
    return reason
