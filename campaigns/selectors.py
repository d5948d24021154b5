"""Reads for pages: each costs a fixed number of queries however many rows exist."""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import Call, Campaign, CampaignContact, ContactList


def campaign_progress(*, campaign: Campaign) -> dict:
    targets = campaign.targets.aggregate(
        total=Count("id"),
        queued=Count("id", filter=Q(status=CampaignContact.Status.PENDING)),
        completed=Count("id", filter=Q(status=CampaignContact.Status.DONE)),
        failed=Count("id", filter=Q(status=CampaignContact.Status.FAILED)),
        skipped=Count("id", filter=Q(status=CampaignContact.Status.SKIPPED)),
    )
    calls = campaign.calls.aggregate(
        dialing=Count("id", filter=Q(status__in=[Call.Status.QUEUED, Call.Status.DIALING, Call.Status.RINGING])),
        in_call=Count("id", filter=Q(status=Call.Status.IN_PROGRESS)),
        placed=Count("id"),
        credits=Sum("credits_charged"),
        seconds=Sum("duration_seconds"),
    )
    finished = targets["completed"] + targets["failed"] + targets["skipped"]
    return {
        **targets,
        **calls,
        "credits": calls["credits"] or Decimal("0"),
        "seconds": calls["seconds"] or 0,
        "percent": round(100 * finished / targets["total"]) if targets["total"] else 0,
    }


def calls_for_owner(*, owner, campaign=None):
    calls = Call.objects.filter(owner=owner).select_related("contact", "campaign", "agent")
    if campaign is not None:
        calls = calls.filter(campaign=campaign)
    return calls


def campaigns_for_owner(*, owner):
    return Campaign.objects.filter(owner=owner).select_related("agent", "contact_list")


def activity_last_days(*, owner, days: int = 7) -> list[dict]:
    """Calls placed and credits spent per day, oldest first, days without calls included."""
    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    rows = (
        Call.objects.filter(owner=owner, created_at__date__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(calls=Count("id"), credits=Sum("credits_charged"))
    )
    by_day = {row["day"]: row for row in rows}
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


def contact_lists_for_owner(*, owner):
    return ContactList.objects.filter(owner=owner).annotate(contact_count=Count("contacts"))
