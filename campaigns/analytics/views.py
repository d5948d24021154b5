"""The analytics page, a campaign's live results panel (htmx) and the calls CSV download.

Each view looks the campaign up with the signed-in owner in the query, so another account's
campaign is a 404, never a page. Each costs a fixed number of queries (see campaigns/analytics.py).
"""

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from ..models import Campaign
from .exports import calls_csv
from .selectors import account_analytics, calls_over_time, campaign_live_stats, reply_latency

# ?days= on the analytics page: the label shown, and how far back (None: all time).
PERIODS = {"7": ("Last 7 days", 7), "30": ("Last 30 days", 30), "90": ("Last 90 days", 90), "all": ("All time", None)}
DEFAULT_PERIOD = "30"


@login_required
def analytics_page(request):
    period = request.GET.get("days", DEFAULT_PERIOD)
    if period not in PERIODS:
        period = DEFAULT_PERIOD
    label, days = PERIODS[period]
    since = timezone.now() - timedelta(days=days) if days else None
    context = {
        "report": account_analytics(workspace=request.workspace, since=since),
        "latency": reply_latency(workspace=request.workspace, since=since),
        "period": period,
        "period_label": label,
        "periods": [(key, name) for key, (name, _) in PERIODS.items()],
    }
    return render(request, "campaigns/analytics/analytics.html", context)


@login_required
def campaign_stats(request, pk):
    """The live results panel: polled by the campaign page while the campaign can still change."""
    campaign = get_object_or_404(Campaign, pk=pk, workspace=request.workspace)
    stats = campaign_live_stats(campaign=campaign)
    chart = calls_over_time(campaign=campaign, span=(stats.first_call_at, stats.last_call_at), kinds=stats.kinds)
    context = {"campaign": campaign, "stats": stats, "numbers": stats.numbers, "chart": chart}
    # htmx stops polling on 286 (and still shows this last answer): a finished campaign is final.
    finished = campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.STOPPED)
    status = 286 if finished and request.htmx else 200
    return render(request, "campaigns/analytics/analytics_fragment_campaign.html", context, status=status)


@login_required
def calls_export(request):
    """Every call of the account as CSV, or of one campaign with ?campaign=<id>."""
    campaign = None
    if request.GET.get("campaign"):
        try:
            pk = int(request.GET["campaign"])
        except ValueError:
            raise Http404("No such campaign.") from None
        campaign = get_object_or_404(Campaign, pk=pk, workspace=request.workspace)
    return calls_csv(workspace=request.workspace, campaign=campaign)
