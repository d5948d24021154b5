"""Abuse signals: a campaign whose callees keep asking not to be called, or hang up at once,
pauses itself and is flagged for staff to review.

Over a campaign's latest answered calls (completed, not picked up by a machine; the last WINDOW
of them), two rates are watched:

- the opt-out rate: calls that ended with the outcome "do_not_call";
- the short-call rate: calls connected for less than ABUSE_SHORT_CALL_SECONDS.

Neither counts before ABUSE_MIN_ANSWERED answered calls (a few early opt-outs say little). When a
rate passes its limit (ABUSE_OPT_OUT_RATE, ABUSE_SHORT_CALL_RATE) the campaign is paused with a
reason its owner sees, and `flagged_at` / `flag_reason` put it in the admin's "flagged" filter.

What counts after a flag: only calls placed after `flagged_at`. `flagged_at` keeps the moment of
the last flag; staff clearing the flag after review empties `flag_reason` only. So neither the
owner resuming a flagged campaign nor staff clearing the flag pauses it again on the calls that
were already judged: it pauses again only once ABUSE_MIN_ANSWERED new answered calls show a rate
over the limit. "Flagged" (awaiting review) means a non-empty `flag_reason`.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from ..errors import CampaignError
from ..lifecycle.services import campaign_pause
from ..models import Call, Campaign


def _percent(rate: float, *, over: float | None = None) -> str:
    """0.18 -> "18%", 0.155 -> "15.5%". A rate `over` a limit is shown in whole percent unless
    that would make it look no higher than the limit (15.4% over 15% is not "15%")."""
    if over is not None and round(rate * 100) > over * 100:
        return f"{rate * 100:.0f}%"
    return f"{rate * 100:.1f}".removesuffix(".0") + "%"


# The rates are those of the campaign's most recent answered calls, at most this many (or
# ABUSE_MIN_ANSWERED, if larger): a campaign that goes bad late is caught as fast as one that
# starts bad (a long good start does not dilute it), and the check costs the same with a hundred
# calls or a million (1 ms: docs/benchmarks.md).
WINDOW = 1000


def campaign_abuse_rates(campaign_id: int) -> dict:
    """The answered calls counted (the latest WINDOW since the last flag), and how many of them
    opted out or were short. One aggregate query; zeros when the campaign is not running."""
    latest = (
        Call.objects.filter(
            Q(campaign__flagged_at__isnull=True) | Q(created_at__gt=F("campaign__flagged_at")),
            campaign_id=campaign_id,
            campaign__status=Campaign.Status.RUNNING,
            status=Call.Status.COMPLETED,
        )
        .exclude(answered_by="machine")
        .order_by("-id")[: max(WINDOW, settings.ABUSE_MIN_ANSWERED)]
    )
    return latest.aggregate(  # over the slice: Django wraps it in a subquery
        answered=Count("id"),
        opted_out=Count("id", filter=Q(outcome=Call.Outcome.DO_NOT_CALL)),
        short=Count("id", filter=Q(duration_seconds__lt=settings.ABUSE_SHORT_CALL_SECONDS)),
    )


def _problems(rates: dict) -> tuple[list[str], list[str]]:
    """What the owner reads, and what staff read, for each rate over its limit."""
    answered = rates["answered"]
    if answered < max(settings.ABUSE_MIN_ANSWERED, 1):
        return [], []
    for_workspace, for_staff = [], []
    opt_out, opt_out_limit = rates["opted_out"] / answered, settings.ABUSE_OPT_OUT_RATE
    if opt_out > opt_out_limit:
        shown, limit = _percent(opt_out, over=opt_out_limit), _percent(opt_out_limit)
        for_workspace.append(f"{shown} of people asked not to be called again (limit {limit})")
        for_staff.append(f"opt-outs {rates['opted_out']} of {answered} answered calls ({shown}, limit {limit})")
    short, short_limit = rates["short"] / answered, settings.ABUSE_SHORT_CALL_RATE
    if short > short_limit:
        shown, limit = _percent(short, over=short_limit), _percent(short_limit)
        seconds = settings.ABUSE_SHORT_CALL_SECONDS
        for_workspace.append(f"{shown} of answered calls lasted under {seconds} seconds (limit {limit})")
        for_staff.append(f"calls under {seconds} s {rates['short']} of {answered} answered ({shown}, limit {limit})")
    return for_workspace, for_staff


def campaign_abuse_check(campaign_id: int) -> str:
    """Pause and flag the campaign when its opt-out or short-call rate passes its limit.

    Returns the reason the campaign was paused now (the text its owner sees), or "" when nothing
    was done. Cheap when nothing is wrong: one aggregate query and no lock; the campaign row is
    locked only to pause it. Never pauses a campaign that is not running, and never fails a call
    or a contact: calls already in progress finish normally.
    """
    for_workspace, for_staff = _problems(campaign_abuse_rates(campaign_id))
    if not for_workspace:
        return ""
    reason = (
        f"Paused for review: {' and '.join(for_workspace)}. "
        "Review the agent's script and the list's consent, then resume."
    )
    with transaction.atomic():
        # FOR NO KEY UPDATE: it does not block (nor wait for) the foreign-key checks of calls and
        # contacts being written for this campaign, so it cannot deadlock with them.
        campaign = Campaign.objects.select_for_update(no_key=True).filter(pk=campaign_id).first()
        if campaign is None or campaign.status != Campaign.Status.RUNNING:
            return ""  # paused, stopped or completed meanwhile: nothing to stop
        try:
            campaign_pause(campaign=campaign, reason=reason[:300])
        except CampaignError:
            return ""
        Campaign.objects.filter(pk=campaign_id).update(
            flagged_at=timezone.now(), flag_reason=("Abuse signals: " + "; ".join(for_staff))[:300]
        )
    return reason[:300]


def campaign_flag_clear(*, campaign: Campaign) -> bool:
    """Staff reviewed a flagged campaign: it leaves the "flagged" list. The campaign stays as it
    is (paused campaigns are resumed by their owner), and only calls placed after the flag count
    towards the next one. Returns False when the campaign was not flagged."""
    return bool(Campaign.objects.filter(pk=campaign.pk).exclude(flag_reason="").update(flag_reason=""))
