"""A campaign's results and the analytics page in a real browser: the chart is drawn by the vendored
Chart.js (served from /static/, nothing from any other host), it updates in place when new calls
arrive (same chart, same canvas: no flicker), the CSV downloads, and the analytics page shows the
per-campaign table.

The account is logged in by its session cookie; calls are written straight to the database.
"""

import csv
import io
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

NUMBERS = ["+12025550101", "+12025550102", "+12025550103"]
CHART = "Chart.getChart(document.getElementById('calls-chart'))"


def log_in(page: Page, url: str, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


def add_call(campaign, *, minutes_ago: int, **fields):
    from campaigns.models import Call

    call = Call.objects.create(
        workspace=campaign.workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number=NUMBERS[0],
        from_number=campaign.caller_number,
        provider="simulated",
        **fields,
    )
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return call


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_campaign_results_chart_and_analytics_page(live, page: Page, user):
    from campaigns.tests.factories import make_campaign

    url = live.url
    campaign = make_campaign(user, NUMBERS)
    add_call(
        campaign,
        minutes_ago=8,
        status="completed",
        answered_by="human",
        outcome="interested",
        duration_seconds=45,
        credits_charged=Decimal("1.50"),
        captured=[["budget", "=1+1"]],
    )
    add_call(campaign, minutes_ago=3, status="no_answer")
    add_call(campaign, minutes_ago=1, status="completed", answered_by="machine", outcome="voicemail")
    log_in(page, url, user)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    # The campaign page: the results panel arrives over htmx and the chart is drawn.
    page.goto(f"{url}/campaigns/{campaign.pk}/")
    expect(page.get_by_test_id("stats-calls")).to_have_text("3")
    expect(page.get_by_test_id("stats-answer-rate")).to_have_text("33.3%")
    expect(page.get_by_test_id("stats-by-outcome")).to_contain_text("Interested")
    canvas = page.get_by_test_id("calls-chart")
    expect(canvas).to_be_visible()
    page.wait_for_function(f"() => window.Chart && {CHART} && {CHART}.data.labels.length > 0")
    assert page.evaluate(f"{CHART}.data.datasets[0].data.reduce((a, b) => a + b, 0)") == 3
    box = canvas.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 100
    # Something was painted: the canvas is not blank.
    assert page.evaluate(
        """() => {
            const c = document.getElementById('calls-chart');
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) return true;
            return false;
        }"""
    )

    # A new call shows up at the next poll, in the same chart on the same canvas.
    page.evaluate(f"window.firstChart = {CHART}")
    add_call(campaign, minutes_ago=0, status="completed", answered_by="human", outcome="interested")
    expect(page.get_by_test_id("stats-calls")).to_have_text("4", timeout=12_000)
    page.wait_for_function(f"() => {CHART}.data.datasets[0].data.reduce((a, b) => a + b, 0) === 4")
    assert page.evaluate(f"{CHART} === window.firstChart")

    # The CSV download: every call, formulas defused.
    with page.expect_download() as download_info:
        page.get_by_test_id("campaign-export").click()
    rows = list(csv.reader(io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8"))))
    assert len(rows) == 5
    assert rows[0][-1] == "budget"
    assert rows[1][-1] == "'=1+1"

    # The analytics page: one row for the campaign, totals below.
    page.get_by_test_id("nav-analytics").click()
    expect(page).to_have_url(f"{url}/analytics/")
    table = page.get_by_test_id("analytics-table")
    expect(table.get_by_test_id("analytics-row")).to_have_count(1)
    expect(table.get_by_test_id("analytics-row")).to_contain_text("Spring outreach")
    expect(page.get_by_test_id("analytics-total-row")).to_contain_text("Total")
    expect(page.get_by_test_id("total-calls")).to_have_text("4")
    expect(page.get_by_test_id("total-answer-rate")).to_have_text("50.0%")
    page.get_by_test_id("period-7").click()
    expect(page).to_have_url(f"{url}/analytics/?days=7")
    expect(page.get_by_test_id("period-7")).to_have_attribute("aria-current", "page")

    # Chart.js came from our own /static/, and the pages asked no other host for anything.
    assert any(u.startswith(f"{url}/static/vendor/chart.js/chart.umd.min.js") for u in requests)
    own = urlsplit(url).netloc
    foreign = [u for u in requests if urlsplit(u).netloc != own]
    assert not foreign, f"requests to other hosts: {foreign}"
