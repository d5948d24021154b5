"""A campaign's life after its first launch, in a real Chromium at desktop and phone size, under
the Content-Security-Policy: a pause for credits that says what is true and lifts itself when
credits arrive; a launch outside calling hours that warns, can be scheduled, and then says when
the next call will be; editing, copying, deleting and archiving campaigns.

The dialer's jobs are run by the test (`dialer.sweep`, `dialer.campaign_advance`), as the
scheduler would; the page finds out by polling, as a person watching it would.
"""

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.test_browser_csp import VIEWPORTS, Watched

NEW_YORK = ["+12125550101", "+12125550102", "+12125550103"]
SCREENSHOTS = Path("/tmp")


def fits_the_screen(page) -> None:
    """Nothing sticks out sideways (wide tables scroll inside their own box)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def open_as(browser, live, user, size) -> Watched:
    watched = Watched(browser, VIEWPORTS[size])
    watched.log_in(live.url, user)
    return watched


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_pause_for_credits_says_what_is_true_and_lifts_when_credits_arrive(live, browser, user, size):
    from billing import ledger
    from campaigns.calls.services import call_finish
    from campaigns.dialing import dialer
    from campaigns.lifecycle import services
    from campaigns.models import Call
    from campaigns.tests.factories import make_campaign

    campaign = make_campaign(user, NEW_YORK, concurrency=2, max_call_seconds=240)
    services.campaign_launch(campaign=campaign, by=user)
    (first,) = dialer._claim_calls(campaign.pk)  # holds the 100 welcome credits
    Call.objects.filter(pk=first).update(status="in_progress", answered_at=timezone.now(), provider_call_id="SMx")
    watched = open_as(browser, live, user, size)
    page = watched.page
    try:
        page.goto(f"{live.url}/campaigns/{campaign.pk}/")
        expect(page.get_by_test_id("campaign-status")).to_have_text("Running")
        expect(page.get_by_test_id("count-in-call")).to_have_text("1")

        call_finish(call_id=first, status="completed", duration_seconds=95)  # 5 credits left
        dialer.campaign_advance(campaign.pk)
        expect(page.get_by_test_id("campaign-status")).to_have_text("Paused")
        reason = page.get_by_test_id("campaign-reason")
        expect(reason).to_contain_text("Each call reserves up to 240 credits while it runs")
        expect(reason).to_contain_text("needs at least 10 to start; 5 are available")
        expect(reason).to_contain_text("the campaign resumes by itself within a minute")
        fits_the_screen(page)
        page.screenshot(path=str(SCREENSHOTS / f"lifecycle-paused-for-credits-{size}.png"), full_page=True)

        ledger.credit_adjust(workspace=user.personal_workspace, amount=Decimal("300"), memo="Goodwill", by=None)
        expect(reason).to_have_text("305 credits are available now: the campaign resumes by itself within a minute.")
        dialer.sweep()
        expect(page.get_by_test_id("campaign-status")).to_have_text("Running")
        expect(page.get_by_test_id("campaign-reason")).to_have_text("Resumed by itself when credits became available.")
        expect(page.get_by_test_id("count-dialing")).to_have_text("2")
        assert watched.violations() == []
    finally:
        watched.context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_launching_outside_calling_hours_warns_schedules_and_then_says_when(live, browser, user, settings, size):
    from campaigns.contacts.windows import zone
    from campaigns.dialing import dialer
    from campaigns.models import Campaign
    from campaigns.tests.factories import make_campaign

    settings.CALLING_WINDOWS_ENFORCED = True
    user.time_zone = "Europe/Paris"
    user.save(update_fields=["time_zone"])
    user.personal_workspace.time_zone = "Europe/Paris"
    user.personal_workspace.save(update_fields=["time_zone"])
    campaign = make_campaign(user, NEW_YORK)
    # Calling only on a day that is not today in New York: nobody can be called now.
    today = timezone.now().astimezone(zone("America/New_York")).weekday()
    Campaign.objects.filter(pk=campaign.pk).update(calling_days=[(today + 3) % 7])
    watched = open_as(browser, live, user, size)
    page = watched.page
    try:
        page.goto(f"{live.url}/campaigns/{campaign.pk}/")
        expect(page.get_by_test_id("preflight-first-call")).to_contain_text("Nobody can be called right now")
        page.get_by_role("button", name="Launch campaign").click()

        expect(page.get_by_role("heading", name="Nobody can be called right now")).to_be_visible()
        first_call = page.get_by_test_id("launch-first-call")
        expect(first_call).to_contain_text("your time (Europe/Paris)")
        expect(first_call).to_contain_text("09:00 for the callee (America/New_York)")
        fits_the_screen(page)
        page.screenshot(path=str(SCREENSHOTS / f"lifecycle-launch-warning-{size}.png"), full_page=True)
        page.get_by_role("button", name="Schedule the launch").click()

        expect(page.get_by_test_id("campaign-status")).to_have_text("Scheduled")
        expect(page.get_by_test_id("campaign-scheduled")).to_contain_text("Launches by itself on")
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.DRAFT and campaign.launch_at is not None
        page.goto(live.url + "/dashboard/")
        expect(page.get_by_test_id("dashboard-scheduled")).to_contain_text("Spring outreach launches")

        # Launch now after all, and let it wait: the page says why nobody is called, and when.
        page.goto(f"{live.url}/campaigns/{campaign.pk}/")
        page.get_by_role("button", name="Launch now").click()
        page.get_by_role("button", name="Launch now and wait").click()
        expect(page.locator(".message-success")).to_contain_text("Nobody can be called right now")
        dialer.campaign_advance(campaign.pk)
        activity = page.get_by_test_id("campaign-activity")
        expect(activity).to_contain_text(
            "Nobody is being called right now: it is outside calling hours for every contact left."
        )
        expect(page.get_by_test_id("campaign-next-call")).to_contain_text(
            re.compile(r"your time \(Europe/Paris\), .* 09:00 for the callee \(America/New_York\)")
        )
        fits_the_screen(page)
        page.screenshot(path=str(SCREENSHOTS / f"lifecycle-waiting-{size}.png"), full_page=True)
        assert watched.violations() == []
    finally:
        watched.context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_campaigns_are_edited_copied_deleted_and_archived(live, browser, user, size):
    from campaigns.lifecycle import services
    from campaigns.models import Campaign
    from campaigns.tests.factories import make_campaign

    campaign = make_campaign(user, NEW_YORK)
    services.campaign_launch(campaign=campaign, by=user)
    services.campaign_pause(campaign=campaign)
    watched = open_as(browser, live, user, size)
    page = watched.page
    try:
        # Edit a paused campaign's settings.
        page.goto(f"{live.url}/campaigns/{campaign.pk}/")
        page.get_by_test_id("campaign-edit").click()
        expect(page.get_by_test_id("campaign-edit-paused")).to_be_visible()
        page.get_by_label("Calls at the same time").fill("4")
        page.get_by_label("Call until").fill("18:30")
        fits_the_screen(page)
        page.get_by_role("button", name="Save settings").click()
        expect(page.locator(".message-success .message-text")).to_have_text("Campaign settings saved.")
        campaign.refresh_from_db()
        assert (campaign.max_concurrent_calls, campaign.calling_hours_end) == (4, dt.time(18, 30))

        # Duplicate it: a new draft, opened for editing; then delete that draft.
        page.get_by_test_id("campaign-duplicate").click()
        expect(page.get_by_role("heading", name="Edit “Copy of Spring outreach”")).to_be_visible()
        page.get_by_role("link", name="Cancel", exact=True).click()
        expect(page.get_by_test_id("campaign-status")).to_have_text("Draft")
        page.get_by_test_id("campaign-delete").click()
        page.get_by_role("button", name="Delete campaign").click()
        expect(page.locator(".message-success .message-text")).to_have_text(
            "Campaign “Copy of Spring outreach” deleted."
        )
        assert Campaign.objects.count() == 1

        # Stop and archive the original; find it under Archived campaigns.
        page.goto(f"{live.url}/campaigns/{campaign.pk}/")
        page.get_by_role("button", name="Stop").click()
        page.get_by_test_id("campaign-archive").click()
        page.goto(live.url + "/campaigns/")
        expect(page.get_by_role("main")).not_to_contain_text("Spring outreach")
        page.get_by_test_id("campaigns-archived").click()
        expect(page.get_by_role("link", name="Spring outreach")).to_be_visible()
        fits_the_screen(page)
        assert watched.violations() == []
    finally:
        watched.context.close()
