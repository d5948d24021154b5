"""A simulated campaign end to end: dialer jobs, the simulated carrier posting signed
webhooks over HTTP to a live server, the scripted engine, and the ledger."""

from decimal import Decimal

import pytest
from django.conf import settings

from billing import ledger
from billing.models import CreditHold, LedgerEntry
from campaigns.contacts import donotcall
from campaigns.dialing import dialer
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, CampaignContact, DoNotCall
from campaigns.tests.factories import make_campaign
from telephony.models import ProviderEvent

INTERESTED = "+12025550101"
NOT_INTERESTED = "+12025550121"
CALL_LATER = "+12025550131"
STOP = "+12025550141"
VOICEMAIL = "+12025550161"
NO_ANSWER = "+12025550171"
BUSY = "+12025550181"
FAILS = "+12025550196"


@pytest.fixture
def live(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


@pytest.mark.django_db(transaction=True)
def test_campaign_calls_everyone_and_bills_connected_seconds(live, user, run_jobs):
    numbers = [INTERESTED, NOT_INTERESTED, CALL_LATER, STOP, VOICEMAIL, NO_ANSWER, BUSY, FAILS]
    campaign = make_campaign(user, numbers, concurrency=3)
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("2000"), kind="staff_adjustment", reference="test-topup"
    )
    before = ledger.balance_of(workspace=user.personal_workspace).balance

    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    calls = {c.to_number: c for c in Call.objects.filter(campaign=campaign)}
    assert len(calls) == len(numbers)
    assert calls[INTERESTED].outcome == Call.Outcome.INTERESTED
    assert calls[NOT_INTERESTED].outcome == Call.Outcome.NOT_INTERESTED
    assert calls[CALL_LATER].outcome == Call.Outcome.CALL_BACK
    assert calls[STOP].outcome == Call.Outcome.DO_NOT_CALL
    assert calls[VOICEMAIL].outcome == Call.Outcome.VOICEMAIL
    assert calls[NO_ANSWER].status == Call.Status.NO_ANSWER
    assert calls[BUSY].status == Call.Status.BUSY
    assert calls[FAILS].status == Call.Status.FAILED

    # The interested callee answered both questions; the transcript alternates agent and callee.
    interested = calls[INTERESTED]
    turns = list(interested.turns.values_list("speaker", "text"))
    assert turns[0][0] == "agent" and turns[0][1].startswith("Hi Person0, this is Sam from Acme.")
    assert [s for s, _ in turns] == ["agent", "callee", "agent", "callee", "agent"]
    assert turns[-1][1].startswith("Thanks Person0")
    # Answers are kept in the order they were given.
    assert [question for question, _ in interested.captured] == [
        "Are you the person who handles scheduling?",
        "How many people are on your team?",
    ]

    # Asking to stop puts the number on the do-not-call list at once.
    assert DoNotCall.objects.filter(workspace=user.personal_workspace, phone_number=STOP).exists()

    # Billing: 1 credit per connected second, nothing for calls that never connected,
    # exactly one usage entry per connected call even though every final event came twice.
    for call in calls.values():
        assert call.credits_charged == ledger.call_cost(seconds=call.duration_seconds)
        if call.status != Call.Status.COMPLETED:
            assert call.duration_seconds == 0 and call.credits_charged == 0
    connected = [c for c in calls.values() if c.duration_seconds > 0]
    assert len(connected) == 5
    usage = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE)
    assert usage.count() == 5
    spent = sum(c.duration_seconds for c in calls.values())
    after = ledger.balance_of(workspace=user.personal_workspace)
    assert before - after.balance == spent
    assert after.held == 0
    assert not CreditHold.objects.filter(status=CreditHold.Status.ACTIVE).exists()
    assert ProviderEvent.objects.filter(kind="status:completed").count() == 5


@pytest.mark.django_db(transaction=True)
def test_dnc_number_is_never_dialled(live, user, run_jobs):
    donotcall.dnc_add(workspace=user.personal_workspace, phone_number=INTERESTED, reason="asked before")
    campaign = make_campaign(user, [INTERESTED, NOT_INTERESTED])
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()
    assert list(Call.objects.values_list("to_number", flat=True)) == [NOT_INTERESTED]
    skipped = CampaignContact.objects.get(contact__phone_number=INTERESTED)
    assert skipped.status == CampaignContact.Status.SKIPPED


@pytest.mark.django_db(transaction=True)
def test_the_welcome_credits_carry_a_campaign_as_far_as_they_go_then_it_waits_for_more(live, user, run_jobs):
    # 100 starter credits, 120 s max per call: the first call holds all 100 credits and the other
    # slots wait for it; each call that ends returns what it did not use, and the next call holds
    # that. The campaign pauses only when less than a useful call is left and nothing is live.
    numbers = [f"+120255501{n:02d}" for n in range(8)]  # all "interested"
    campaign = make_campaign(user, numbers, concurrency=3)
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.pause_kind == Campaign.PauseKind.CREDITS
    assert "Each call reserves up to 120 credits" in campaign.status_reason
    calls = list(Call.objects.filter(campaign=campaign).order_by("pk"))
    assert len(calls) >= 2  # it went on after the first call
    assert calls[0].time_limit_seconds == 100  # limited to what the balance could pay
    assert all(call.status == Call.Status.COMPLETED for call in calls)
    spent = sum(call.credits_charged for call in calls)
    balance = ledger.balance_of(workspace=user.personal_workspace)
    assert balance == ledger.Balance(Decimal(100) - spent, Decimal(0))
    assert balance.available < settings.CALL_MIN_CREDITS
    assert f"needs at least {settings.CALL_MIN_CREDITS} to start" in campaign.status_reason
    # Nobody was failed for lack of credits: they wait for credits.
    assert CampaignContact.objects.filter(status=CampaignContact.Status.PENDING).count() == 8 - len(calls)

    # Credits arrive (any way): the sweep resumes the campaign, which calls everyone left.
    ledger.credit_post(workspace=user.personal_workspace, amount=Decimal("500"), kind="purchase", reference="test-pack")
    dialer.sweep()
    run_jobs()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert Call.objects.filter(campaign=campaign).count() == 8


@pytest.mark.django_db(transaction=True)
def test_every_answered_call_starts_with_the_ai_disclosure(live, user, run_jobs):
    campaign = make_campaign(user, [INTERESTED, VOICEMAIL], ai_disclosure="I'm an AI assistant.")
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("500"), kind="staff_adjustment", reference="topup"
    )
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()
    answered = Call.objects.get(to_number=INTERESTED)
    assert answered.turns.first().text.startswith("I'm an AI assistant. Hi Person0")
    # A machine hears the opening too (said at once, before detection can tell), then after its
    # greeting the agent's message only, which it records: nobody to disclose to live.
    voicemail = Call.objects.get(to_number=VOICEMAIL)
    assert voicemail.turns.last().text.startswith("Hi Person1")


@pytest.mark.django_db(transaction=True)
def test_an_agent_that_says_where_to_see_who_called_says_it_after_the_disclosure(live, user, run_jobs, settings):
    from urllib.parse import urlsplit

    campaign = make_campaign(user, [INTERESTED], ai_disclosure="I'm an AI assistant.", mention_who_called=True)
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("500"), kind="staff_adjustment", reference="topup"
    )
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    host = urlsplit(settings.PUBLIC_BASE_URL).netloc
    opening = Call.objects.get(to_number=INTERESTED).turns.first().text
    assert opening.startswith(
        f"I'm an AI assistant. To see who called you, or to stop these calls, visit {host}/who-called. Hi Person0"
    )


@pytest.mark.django_db
def test_new_agents_disclose_by_default(user):
    from campaigns.models import Agent

    agent = Agent.objects.create(workspace=user.personal_workspace, name="x", opening_line="Hi", closing_line="Bye")
    assert "AI assistant" in agent.ai_disclosure


@pytest.mark.django_db(transaction=True)
def test_unanswered_and_busy_contacts_are_called_again_after_the_campaigns_delay(live, user, run_jobs, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.dialing import dialer

    campaign = make_campaign(user, [INTERESTED, NO_ANSWER, BUSY], concurrency=3, retry_on=["no_answer", "busy"])
    Campaign.objects.filter(pk=campaign.pk).update(max_attempts=2, retry_delay_minutes=60)
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("1000"), kind="staff_adjustment", reference="topup"
    )
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING  # two contacts wait for their second call
    waiting = CampaignContact.objects.filter(campaign=campaign, status=CampaignContact.Status.PENDING)
    assert sorted(waiting.values_list("waiting_reason", flat=True)) == [
        "Retrying after busy (attempt 2 of 2)",
        "Retrying after no answer (attempt 2 of 2)",
    ]
    dialer.sweep()
    run_jobs()
    assert Call.objects.filter(campaign=campaign).count() == 3  # not before the delay

    an_hour_later = timezone.now() + timedelta(minutes=61)
    monkeypatch.setattr(timezone, "now", lambda: an_hour_later)
    dialer.sweep()
    run_jobs()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert sorted(Call.objects.filter(campaign=campaign).values_list("to_number", flat=True)) == sorted(
        [INTERESTED, NO_ANSWER, NO_ANSWER, BUSY, BUSY]
    )
    gave_up = CampaignContact.objects.get(contact__phone_number=NO_ANSWER)
    assert (gave_up.status, gave_up.attempts) == (CampaignContact.Status.FAILED, 2)
