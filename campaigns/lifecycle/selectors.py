"""Reads for pages: each costs a fixed number of queries however many rows exist."""

from decimal import Decimal

from django.db.models import Count, Q, Sum

from ..models import Call, Campaign, CampaignContact


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


def campaigns_for_owner(*, owner):
    return Campaign.objects.filter(owner=owner).select_related("agent", "contact_list")
