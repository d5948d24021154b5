"""Campaigns that start at a date and time: scheduled on the campaign's page (in the account's
time zone), shown there and on the dashboard, launched by the scheduler once, with a launch's
checks; a launch that is refused leaves a draft that says why."""

import datetime as dt
import html
import re
from decimal import Decimal

import django_rq
import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from billing import ledger
from campaigns.lifecycle import services
from campaigns.models import Campaign, ContactList
from campaigns.tests.factories import make_campaign

pytestmark = pytest.mark.django_db

NUMBERS = ["+12025550101", "+12025550102"]


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def page_text(response) -> str:
    return " ".join(html.unescape(strip_tags(response.content.decode())).split())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def clock(monkeypatch):
    now = {"at": utc(2025, 1, 14, 8, 0)}  # 09:00 in Paris
    monkeypatch.setattr(timezone, "now", lambda: now["at"])

    def set_to(instant):
        now["at"] = instant

    return set_to


@pytest.fixture
def owner(user):
    user.time_zone = "Europe/Paris"
    user.save(update_fields=["time_zone"])
    user.personal_workspace.time_zone = "Europe/Paris"  # the business's zone: calling windows, dates
    user.personal_workspace.save(update_fields=["time_zone"])
    return user


def schedule(client, campaign, when: str):
    return client.post(reverse("campaign_schedule", args=[campaign.pk]), {"launch_at": when}, follow=True)


def test_scheduling_in_the_accounts_time_zone_shows_on_the_page_and_the_dashboard(clock, logged_in, owner):
    campaign = make_campaign(owner, NUMBERS)

    response = schedule(logged_in, campaign, "2025-01-15T14:30")

    assert messages_of(response) == ["Campaign scheduled: it launches on Wed 15 Jan 2025 at 14:30."]
    campaign.refresh_from_db()
    assert campaign.launch_at == utc(2025, 1, 15, 13, 30)  # 14:30 in Paris
    assert campaign.status == Campaign.Status.DRAFT
    page = page_text(response)
    assert "Scheduled" in page
    assert "Launches by itself on Wed 15 Jan 2025, 14:30 your time (Europe/Paris)" in page
    dashboard = page_text(logged_in.get(reverse("dashboard")))
    assert "Scheduled launches" in dashboard
    assert "Spring outreach launches Wed 15 Jan, 14:30" in dashboard


@pytest.mark.parametrize(
    "when,error",
    [
        ("2025-01-14T08:59", "Choose a launch time in the future."),
        ("2025-06-01T09:00", "Choose a launch time within the next 90 days."),
        ("tomorrow morning", "Enter a date and time, such as 2025-01-14 09:00."),
        ("", "Choose the date and time to launch at."),
    ],
)
def test_a_time_that_cannot_be_used_is_refused_next_to_the_field_and_kept(clock, logged_in, owner, when, error):
    campaign = make_campaign(owner, NUMBERS)

    response = logged_in.post(reverse("campaign_schedule", args=[campaign.pk]), {"launch_at": when})

    assert response.status_code == 200
    markup = html.unescape(response.content.decode())
    assert f"<li>{error}</li>" in markup
    if when:
        assert f'value="{when}"' in markup  # what was typed is still there
    campaign.refresh_from_db()
    assert campaign.launch_at is None


def test_a_campaign_that_could_never_launch_is_not_scheduled(clock, logged_in, owner):
    campaign = make_campaign(owner, NUMBERS)
    ContactList.objects.filter(pk=campaign.contact_list_id).update(consent_confirmed_at=None)

    response = logged_in.post(reverse("campaign_schedule", args=[campaign.pk]), {"launch_at": "2025-01-15T14:30"})

    assert "Nobody has confirmed consent to call the people on the list" in page_text(response)
    campaign.refresh_from_db()
    assert campaign.launch_at is None


def test_the_scheduler_launches_it_once_when_its_time_comes(clock, owner):
    campaign = make_campaign(owner, NUMBERS)
    services.campaign_schedule(campaign=campaign, launch_at=utc(2025, 1, 15, 13, 30))

    assert services.campaign_launches_due() == {"launched": 0, "refused": 0, "errors": 0}
    clock(utc(2025, 1, 15, 13, 30, 20))
    assert services.campaign_launches_due() == {"launched": 1, "refused": 0, "errors": 0}
    assert services.campaign_launches_due() == {"launched": 0, "refused": 0, "errors": 0}  # a second run

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.launch_at is None and campaign.started_at == utc(2025, 1, 15, 13, 30, 20)
    assert campaign.targets.count() == 2


def test_a_refused_scheduled_launch_leaves_a_draft_that_says_why(clock, owner, client):
    campaign = make_campaign(owner, NUMBERS)
    services.campaign_schedule(campaign=campaign, launch_at=utc(2025, 1, 15, 13, 30))
    ledger.credit_post(
        workspace=owner.personal_workspace, amount=Decimal("-95"), kind="staff_adjustment", reference="drain"
    )
    clock(utc(2025, 1, 15, 13, 31))

    assert services.campaign_launches_due() == {"launched": 0, "refused": 1, "errors": 0}

    campaign.refresh_from_db()
    assert (campaign.status, campaign.launch_at) == (Campaign.Status.DRAFT, None)
    reason = (
        "The launch scheduled for Wed 15 Jan 2025 at 14:30 (Europe/Paris) did not happen: You need at least 10 "
        "credits to start calling. Add credits and try again. Once that is fixed, launch it or schedule it again."
    )
    assert campaign.status_reason == reason
    client.force_login(owner)
    assert reason in page_text(client.get(reverse("campaign_detail", args=[campaign.pk])))
    assert services.campaign_launches_due()["refused"] == 0  # not tried again

    # Launching by hand afterwards clears the old reason.
    ledger.credit_post(workspace=owner.personal_workspace, amount=Decimal("100"), kind="purchase", reference="pack")
    services.campaign_launch(campaign=campaign, by=owner)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.status_reason) == (Campaign.Status.RUNNING, "")


def test_launch_now_and_cancel_the_schedule_from_the_page(clock, logged_in, owner):
    campaign = make_campaign(owner, NUMBERS)
    services.campaign_schedule(campaign=campaign, launch_at=utc(2025, 1, 15, 13, 30))
    page = page_text(logged_in.get(reverse("campaign_detail", args=[campaign.pk])))
    assert "Launch now" in page and "Cancel the scheduled launch" in page

    response = logged_in.post(reverse("campaign_action", args=[campaign.pk, "unschedule"]), follow=True)

    assert messages_of(response) == ["Scheduled launch canceled: the campaign is a draft again."]
    campaign.refresh_from_db()
    assert campaign.launch_at is None
    assert services.campaign_launches_due(now=utc(2025, 2, 1)) == {"launched": 0, "refused": 0, "errors": 0}


def test_the_scheduled_launch_job_runs_every_30_seconds(clock, owner, run_jobs):
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=django_rq.get_connection("default"))
    scheduler.load_config_from_file("clozit.cron")
    job = next(j for j in scheduler.get_jobs() if j.func is services.campaign_launches_due)
    assert (job.interval, job.queue_name) == (30, "dialing")


def test_the_schedule_form_on_the_draft_page(clock, logged_in, owner):
    campaign = make_campaign(owner, NUMBERS)

    markup = logged_in.get(reverse("campaign_detail", args=[campaign.pk])).content.decode()

    assert re.search(r'<input type="datetime-local" name="launch_at"', markup)
    assert "Your time (Europe/Paris)" in markup
