"""Reads for pages: each costs a fixed number of queries however many rows exist."""

from decimal import Decimal

from django.db.models import Count, Q, Sum

from ..models import Call, CallCount, Campaign, TargetCount


def campaign_progress(*, campaign: Campaign) -> dict:
    """The campaign's contacts by state, its live calls, and the calls it placed with their
    seconds and credits. Three queries, none reading its contacts or finished calls: the
    counters the database keeps (campaigns/calls/counters.py) and the few live calls."""
    targets = TargetCount.objects.filter(campaign_id=campaign.pk).first() or TargetCount(campaign_id=campaign.pk)
    finished = CallCount.objects.filter(workspace_id=campaign.workspace_id, campaign_id=campaign.pk).aggregate(
        placed=Sum("calls"), credits=Sum("credits"), seconds=Sum("seconds")
    )
    live = campaign.calls.filter(status__in=Call.LIVE_STATUSES).aggregate(
        dialing=Count("id", filter=Q(status__in=[Call.Status.QUEUED, Call.Status.DIALING, Call.Status.RINGING])),
        in_call=Count("id", filter=Q(status=Call.Status.IN_PROGRESS)),
        placed=Count("id"),
        credits=Sum("credits_charged"),
        seconds=Sum("duration_seconds"),
    )
    total = targets.pending + targets.claimed + targets.done + targets.failed + targets.skipped
    ended = targets.done + targets.failed + targets.skipped
    return {
        "total": total,
        "queued": targets.pending,
        "completed": targets.done,
        "failed": targets.failed,
        "skipped": targets.skipped,
        "dialing": live["dialing"],
        "in_call": live["in_call"],
        "placed": (finished["placed"] or 0) + live["placed"],
        "credits": (finished["credits"] or Decimal("0")) + (live["credits"] or Decimal("0")),
        "seconds": (finished["seconds"] or 0) + (live["seconds"] or 0),
        "percent": round(100 * ended / total) if total else 0,
    }


def campaigns_for_workspace(*, workspace):
    return Campaign.objects.filter(workspace=workspace).select_related("agent", "contact_list")
