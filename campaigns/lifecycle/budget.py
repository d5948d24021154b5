"""A campaign's budget: what it has committed (what its calls were charged and what its live calls
hold) and what is left of its cap. The dialer caps each new call's hold at what is left, so the
two together never exceed the budget."""

from decimal import Decimal

from django.db.models import Sum

from billing.models import CreditHold

from ..models import Call, CallCount, Campaign


def campaign_credits_used(campaign: Campaign) -> Decimal:
    """What the campaign has committed: what its calls were charged and what its live calls hold.
    Reads the finished calls' counter (campaigns/calls/counters.py), never the calls themselves."""
    finished = CallCount.objects.filter(workspace_id=campaign.workspace_id, campaign_id=campaign.pk)
    spent = finished.aggregate(total=Sum("credits"))["total"] or Decimal(0)
    live = Call.objects.filter(campaign=campaign, status__in=Call.LIVE_STATUSES)
    spent += live.aggregate(total=Sum("credits_charged"))["total"] or Decimal(0)  # 0 until they end
    live_holds = live.exclude(hold_reference="")
    held = CreditHold.objects.filter(
        status=CreditHold.Status.ACTIVE, reference__in=live_holds.values("hold_reference")
    ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
    return spent + held


def campaign_budget_left(campaign: Campaign) -> Decimal | None:
    """Credits the campaign may still commit: its cap less what its calls were charged and what
    its live calls hold. None when the campaign has no cap."""
    if campaign.budget_credits is None:
        return None
    return campaign.budget_credits - campaign_credits_used(campaign)
