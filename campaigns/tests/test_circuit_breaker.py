"""The circuit breaker: a campaign whose recent calls the carrier keeps failing, blocking or
cutting short pauses itself with the rate it saw; spread-out failures, too few calls and the calls
before a person resumed it do not pause it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import ledger
from campaigns.dialing import dialer
from campaigns.dialing.breaker import campaign_breaker_check
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign
from campaigns.tests.factories import make_campaign


@pytest.fixture(autouse=True)
def limits(settings):
    settings.BREAKER_WINDOW_MINUTES = 15
    settings.BREAKER_MIN_CALLS = 20
    settings.BREAKER_FAILURE_RATE = 0.5
    settings.ABUSE_SHORT_CALL_SECONDS = 5
    # The abuse signals watch other rates; kept out of the way so only the breaker speaks.
    settings.ABUSE_MIN_ANSWERED = 10_000


@pytest.fixture
def campaign(user):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(500), kind="staff_adjustment", reference="topup"
    )
    campaign = make_campaign(user, ["+12025550101"])
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    campaign.refresh_from_db()
    return campaign


def calls(campaign, count, *, status="completed", seconds=60, answered_by="human", minutes_ago=0):
    made = Call.objects.bulk_create(
        Call(
            workspace=campaign.workspace,
            campaign=campaign,
            to_number="+12025550101",
            from_number=campaign.caller_number,
            provider="simulated",
            status=status,
            answered_by=answered_by if status == "completed" else "",
            duration_seconds=seconds if status == "completed" else 0,
            failure_reason="Blocked by the carrier" if status == "failed" else "",
        )
        for _ in range(count)
    )
    if minutes_ago:
        Call.objects.filter(pk__in=[c.pk for c in made]).update(
            created_at=timezone.now() - timedelta(minutes=minutes_ago)
        )


def paused(campaign) -> bool:
    campaign.refresh_from_db()
    return campaign.status == Campaign.Status.PAUSED


@pytest.mark.django_db
def test_a_burst_of_carrier_failures_pauses_the_campaign_with_the_rate_it_saw(campaign):
    calls(campaign, 15)  # fine
    calls(campaign, 20, status="failed")
    calls(campaign, 5, seconds=2)  # answered and cut at once
    calls(campaign, 3, status="canceled")  # never dialled: not counted

    reason = campaign_breaker_check(campaign.pk)

    assert reason.startswith("Paused: 62% of the last 40 calls failed or were blocked by the carrier in 15 minutes")
    assert "5 of them answered and cut within 5 seconds" in reason
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and campaign.status_reason == reason


@pytest.mark.django_db
def test_the_dialer_places_no_call_once_the_breaker_trips(campaign):
    calls(campaign, 20, status="failed")
    assert dialer.campaign_advance(campaign.pk) == []
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "100% of the last 20 calls" in campaign.status_reason
    assert not Call.objects.filter(campaign=campaign, status="queued").exists()


@pytest.mark.django_db
def test_failures_spread_beyond_the_window_do_not_pause(campaign):
    # As many failures, but over two hours: within any 15 minutes too few to judge.
    for minutes_ago in (20, 40, 60, 80, 100, 120):
        calls(campaign, 5, status="failed", minutes_ago=minutes_ago)
    calls(campaign, 4, status="failed")
    calls(campaign, 2)
    assert campaign_breaker_check(campaign.pk) == ""
    assert not paused(campaign)


@pytest.mark.django_db
def test_below_the_minimum_of_calls_nothing_happens(campaign, settings):
    calls(campaign, 19, status="failed")
    assert campaign_breaker_check(campaign.pk) == ""
    assert not paused(campaign)
    calls(campaign, 1, status="busy")  # the 20th call: 95% failed
    assert "95% of the last 20 calls" in campaign_breaker_check(campaign.pk)


@pytest.mark.django_db
def test_under_the_rate_nothing_happens(campaign):
    calls(campaign, 9, status="failed")
    calls(campaign, 11, status="no_answer")  # rang out: not the carrier refusing
    assert campaign_breaker_check(campaign.pk) == ""
    calls(campaign, 1, seconds=1, answered_by="machine")  # a machine hanging up is not a callee cutting
    assert campaign_breaker_check(campaign.pk) == ""
    assert not paused(campaign)


@pytest.mark.django_db
def test_a_resumed_campaign_is_not_paused_again_by_the_same_calls(campaign):
    calls(campaign, 30, status="failed")
    assert campaign_breaker_check(campaign.pk)

    services.campaign_resume(campaign=campaign)
    # The same thirty failures are still within the window: they were judged already.
    assert campaign_breaker_check(campaign.pk) == ""
    calls(campaign, 19, status="failed")
    assert campaign_breaker_check(campaign.pk) == ""  # 19 new calls: under the minimum
    assert not paused(campaign)
    calls(campaign, 1, status="failed")
    assert "100% of the last 20 calls" in campaign_breaker_check(campaign.pk)
    assert paused(campaign)


@pytest.mark.django_db
def test_a_campaign_not_running_is_left_alone(campaign):
    calls(campaign, 30, status="failed")
    services.campaign_pause(campaign=campaign, reason="Paused by you.")
    assert campaign_breaker_check(campaign.pk) == ""
    campaign.refresh_from_db()
    assert campaign.status_reason == "Paused by you."


@pytest.fixture
def live(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


@pytest.mark.django_db(transaction=True)
def test_a_simulated_campaign_whose_calls_the_carrier_fails_pauses_itself(live, user, run_jobs, settings):
    settings.BREAKER_MIN_CALLS = 10
    # The simulated carrier fails calls to numbers ending 95-99, and puts those ending 00-04 through.
    failing = [f"+1{area}55501{end}" for area in (202, 415, 312, 617) for end in (95, 96, 97, 98, 99)]
    fine = [f"+1{area}55501{end:02d}" for area in (202, 415) for end in (0, 1, 2, 3, 4)]
    campaign = make_campaign(user, failing + fine, concurrency=3)
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("2000"), kind="staff_adjustment", reference="test-topup"
    )
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "calls failed or were blocked by the carrier in 15 minutes" in campaign.status_reason
    dialled = Call.objects.filter(campaign=campaign).exclude(status="canceled").count()
    assert 10 <= dialled < len(failing + fine)  # paused before it called everyone
