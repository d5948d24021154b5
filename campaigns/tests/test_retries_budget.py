"""Retries per campaign (which endings, how many attempts, how far apart), call-backs at the
time the callee asked for, and the campaign's credit budget. Calls end through call_finish,
the same transition the carrier's webhooks drive."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import ledger
from campaigns.calls.services import call_finish
from campaigns.dialing import dialer
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, CampaignContact
from campaigns.tests.factories import make_campaign

NUMBERS = [f"+12125550{n}" for n in range(101, 109)]  # New York


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def clock(monkeypatch):
    now = {"at": utc(2025, 1, 14, 15, 0)}  # Tuesday, 10:00 in New York
    monkeypatch.setattr(timezone, "now", lambda: now["at"])

    def set_to(instant: dt.datetime) -> dt.datetime:
        now["at"] = instant
        return instant

    set_to.now = lambda: now["at"]
    return set_to


def launch(user, numbers, *, credits="5000", **fields) -> Campaign:
    if credits:
        ledger.credit_post(
            workspace=user.personal_workspace, amount=Decimal(credits), kind="staff_adjustment", reference="topup"
        )
    campaign = make_campaign(user, numbers, concurrency=10)
    Campaign.objects.filter(pk=campaign.pk).update(**fields)
    services.campaign_launch(campaign=campaign, by=user)
    return campaign


def claim(campaign) -> dict[str, int]:
    """Claim and return {number: call id}."""
    ids = dialer._claim_calls(campaign.pk)
    return dict(Call.objects.filter(pk__in=ids).values_list("to_number", "pk"))


def target(number) -> CampaignContact:
    return CampaignContact.objects.get(contact__phone_number=number)


def answered(call_id, *, seconds=30, outcome="", captured=None, answered_by="human"):
    """The callee picked up; the engine set an outcome; the carrier reports the end."""
    now = timezone.now()
    Call.objects.filter(pk=call_id).update(
        status=Call.Status.IN_PROGRESS,
        answered_at=now,
        answered_by=answered_by,
        outcome=outcome,
        captured=captured or [],
        provider_call_id=f"SM{call_id}",
    )
    call_finish(call_id=call_id, status=Call.Status.COMPLETED, duration_seconds=seconds)


@pytest.mark.django_db
def test_each_ending_the_campaign_retries_is_called_again_after_its_delay(clock, user):
    no_answer, busy, failed, voicemail, person = NUMBERS[:5]
    campaign = launch(
        user,
        [no_answer, busy, failed, voicemail, person],
        retry_on=["no_answer", "busy", "voicemail"],
        max_attempts=2,
        retry_delay_minutes=30,
    )
    calls = claim(campaign)
    call_finish(call_id=calls[no_answer], status=Call.Status.NO_ANSWER)
    call_finish(call_id=calls[busy], status=Call.Status.BUSY)
    call_finish(call_id=calls[failed], status=Call.Status.FAILED, reason="Unreachable")
    answered(calls[voicemail], answered_by="machine")
    answered(calls[person], outcome="not_interested")

    then = clock.now() + dt.timedelta(minutes=30)
    for number, label in [(no_answer, "no answer"), (busy, "busy"), (voicemail, "voicemail")]:
        t = target(number)
        assert (t.status, t.attempts, t.next_attempt_at) == ("pending", 1, then)
        assert t.waiting_reason == f"Retrying after {label} (attempt 2 of 2)"
    assert (target(failed).status, target(failed).result) == ("failed", "Unreachable")  # not in retry_on
    assert (target(person).status, target(person).result) == ("done", "Not interested")

    clock(then - dt.timedelta(minutes=1))
    assert claim(campaign) == {}  # the spacing holds
    clock(then)
    second = claim(campaign)
    assert set(second) == {no_answer, busy, voicemail}
    for call_id in second.values():
        call_finish(call_id=call_id, status=Call.Status.NO_ANSWER)

    # Out of attempts: final, and the campaign is done.
    assert {target(n).status for n in (no_answer, busy, voicemail)} == {"failed"}
    assert target(no_answer).attempts == 2
    clock(then + dt.timedelta(hours=2))
    dialer.campaign_advance(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


@pytest.mark.django_db
def test_a_permanent_provider_error_is_never_retried_and_a_passing_one_backs_off(clock, user):
    permanent, passing, carrier = NUMBERS[:3]
    campaign = launch(user, [permanent, passing, carrier], retry_on=["failed"], max_attempts=3)
    calls = claim(campaign)
    call_finish(call_id=calls[permanent], status=Call.Status.FAILED, reason="Invalid number", permanent=True)
    call_finish(call_id=calls[passing], status=Call.Status.FAILED, reason="503 from the provider", retryable=True)
    call_finish(call_id=calls[carrier], status=Call.Status.FAILED, reason="Carrier failure")

    assert (target(permanent).status, target(permanent).result) == ("failed", "Invalid number")
    assert target(passing).next_attempt_at == clock.now() + dt.timedelta(seconds=30)  # the provider backoff
    assert target(carrier).next_attempt_at == clock.now() + dt.timedelta(minutes=60)  # the campaign's delay
    assert target(carrier).status == target(passing).status == "pending"


@pytest.mark.django_db
def test_a_callee_who_asks_for_a_call_back_is_called_at_that_time_once(clock, user):
    asks, asks_again, no_time, out_of_attempts = NUMBERS[:4]
    campaign = launch(user, [asks, asks_again, no_time, out_of_attempts], max_attempts=3)
    CampaignContact.objects.filter(contact__phone_number=out_of_attempts).update(attempts=2)
    calls = claim(campaign)
    tomorrow_3pm = [["callback_time", "tomorrow at three"], ["callback_at", "2025-01-15T15:00"]]
    answered(calls[asks], outcome="call_back", captured=tomorrow_3pm)
    answered(calls[asks_again], outcome="call_back", captured=[["callback_at", "2025-01-14T18:00:00+00:00"]])
    answered(calls[no_time], outcome="call_back", captured=[["callback_time", "some other time"]])
    answered(calls[out_of_attempts], outcome="call_back", captured=tomorrow_3pm)

    # A time without an offset is the callee's own: 15:00 in New York.
    assert (target(asks).status, target(asks).next_attempt_at) == ("pending", utc(2025, 1, 15, 20, 0))
    assert target(asks).result == "Asked to be called back"
    assert target(asks_again).next_attempt_at == utc(2025, 1, 14, 18, 0)
    assert (target(no_time).status, target(no_time).result) == ("done", "Call back later")
    assert target(out_of_attempts).status == "done"  # its third call was this one

    # Called back; asking once more does not schedule a second call-back.
    clock(utc(2025, 1, 14, 18, 0))
    again = claim(campaign)
    assert set(again) == {asks_again}
    answered(again[asks_again], outcome="call_back", captured=[["callback_at", "2025-01-16T15:00"]])
    assert target(asks_again).status == "done"


@pytest.mark.django_db
def test_the_campaign_stops_when_its_budget_is_used(clock, user):
    # Calls may last 120 s (120 credits); the budget is 150 credits.
    campaign = launch(user, NUMBERS[:6], budget_credits=Decimal(150))
    first = claim(campaign)
    calls = Call.objects.filter(pk__in=first.values()).order_by("pk")
    # The second call's reservation is cut to what is left of the budget; then nothing is left.
    assert [c.time_limit_seconds for c in calls] == [120, 30]
    assert claim(campaign) == {}

    one, two = calls
    answered(one.pk, seconds=45)  # charged 45: 150 - 45 - 30 held = 75 left
    following = claim(campaign)
    assert len(following) == 1
    assert Call.objects.get(pk=next(iter(following.values()))).time_limit_seconds == 75
    answered(two.pk, seconds=30)
    answered(next(iter(following.values())), seconds=75)

    dialer.campaign_advance(campaign.pk)  # 150 used, nothing live
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.STOPPED
    assert campaign.status_reason == "Stopped: the campaign's budget of 150 credits is used."
    spent = sum(Call.objects.filter(campaign=campaign).values_list("credits_charged", flat=True))
    assert spent == 150
    assert set(CampaignContact.objects.filter(status="skipped").values_list("result", flat=True)) == {
        "Not called: the campaign's budget was used"
    }
    assert ledger.balance_of(workspace=user.personal_workspace).held == 0


@pytest.mark.django_db
def test_a_budget_waits_for_live_calls_before_stopping(clock, user):
    campaign = launch(user, NUMBERS[:3], budget_credits=Decimal(100))
    (call_id,) = claim(campaign).values()
    dialer.campaign_advance(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING  # its one call may still cost less
    answered(call_id, seconds=20)
    assert len(claim(campaign)) == 1  # 80 left: one more call


@pytest.mark.django_db
def test_pause_and_stop_take_effect_at_the_next_claim(clock, user):
    campaign = launch(user, NUMBERS[:4])
    campaign.max_concurrent_calls = 1
    campaign.save(update_fields=["max_concurrent_calls"])
    (first,) = claim(campaign).values()
    services.campaign_pause(campaign=campaign)
    call_finish(call_id=first, status=Call.Status.NO_ANSWER)
    assert claim(campaign) == {}
    services.campaign_resume(campaign=campaign)
    (second,) = claim(campaign).values()
    services.campaign_stop(campaign=campaign)
    dialer.call_place(second)  # a queued call is canceled, never dialled
    assert Call.objects.get(pk=second).status == Call.Status.CANCELED
    assert not CampaignContact.objects.filter(campaign=campaign, status="pending").exists()


# --- the campaign form ----------------------------------------------------------------------


def form_data(user, **overrides) -> dict:
    from django.conf import settings

    from campaigns.tests.factories import make_agent, make_list

    data = {
        "name": "Renewals",
        "purpose": "Reminding customers their plan renews soon",
        "agent": make_agent(user).pk,
        "contact_list": make_list(user, NUMBERS[:2]).pk,
        "caller_number": settings.DEFAULT_CALLER_ID,
        "max_concurrent_calls": "3",
        "calling_hours_start": "10:00",
        "calling_hours_end": "18:30",
        "calling_days": ["0", "2", "5"],
        "calling_days__shown": "1",
        "retry_on": ["no_answer", "voicemail"],
        "retry_on__shown": "1",
        "max_attempts": "4",
        "retry_delay_minutes": "120",
        "budget_credits": "2500",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_the_campaign_form_sets_hours_days_retries_and_budget(logged_in, user):
    from django.urls import reverse

    page = logged_in.get(reverse("campaign_create")).content.decode()
    for text in ("Calling days", "Call again after", "Attempts per contact", "Budget (credits)", 'type="time"'):
        assert text in page

    logged_in.post(reverse("campaign_create"), form_data(user))

    campaign = Campaign.objects.get(workspace=user.personal_workspace)
    assert (campaign.calling_hours_start, campaign.calling_hours_end) == (dt.time(10), dt.time(18, 30))
    assert campaign.calling_days == [0, 2, 5]
    assert campaign.retry_on == ["no_answer", "voicemail"]
    assert (campaign.max_attempts, campaign.retry_delay_minutes, campaign.budget_credits) == (4, 120, Decimal(2500))


@pytest.mark.django_db
def test_the_campaign_form_explains_what_is_wrong_next_to_each_field(logged_in, user):
    from django.urls import reverse

    data = form_data(
        user,
        calling_hours_end="09:00",
        calling_days=[],
        max_attempts="11",
        retry_delay_minutes="1",
        budget_credits="5",
    )
    response = logged_in.post(reverse("campaign_create"), data)

    assert response.status_code == 200 and not Campaign.objects.exists()
    errors = response.context["form"].errors
    assert errors["calling_hours_end"] == ["End after the start time (calls within one day)."]
    assert errors["calling_days"] == ["Choose at least one day to call on."]
    assert errors["max_attempts"] == ["Choose between 1 and 10 attempts."]
    assert errors["retry_delay_minutes"] == ["Wait between 5 minutes and 7 days (10080 minutes)."]
    assert errors["budget_credits"] == ["A budget must cover at least one call (10 credits), or leave it empty."]
    assert 'id="id_calling_days_error"' in response.content.decode()


@pytest.mark.django_db
def test_no_retries_and_no_budget_are_choices_too(logged_in, user):
    from django.urls import reverse

    logged_in.post(reverse("campaign_create"), form_data(user, retry_on=[], budget_credits=""))
    campaign = Campaign.objects.get(workspace=user.personal_workspace)
    assert campaign.retry_on == [] and campaign.budget_credits is None


@pytest.mark.django_db
def test_a_post_without_the_new_fields_keeps_the_defaults(logged_in, user):
    from django.urls import reverse

    kept = ("name", "purpose", "agent", "contact_list", "caller_number")
    data = {k: v for k, v in form_data(user).items() if k in kept}
    logged_in.post(reverse("campaign_create"), {**data, "max_concurrent_calls": "2"})
    campaign = Campaign.objects.get(workspace=user.personal_workspace)
    assert campaign.calling_days == [0, 1, 2, 3, 4] and campaign.retry_on == ["no_answer", "busy"]
    assert (campaign.calling_hours_start, campaign.max_attempts, campaign.budget_credits) == (dt.time(9), 3, None)


@pytest.mark.django_db
def test_a_new_campaign_starts_with_weekdays_and_the_usual_retries_ticked(logged_in):
    from django.urls import reverse

    form = logged_in.get(reverse("campaign_create")).context["form"]
    assert [str(d) for d in form["calling_days"].value()] == ["0", "1", "2", "3", "4"]
    assert form["retry_on"].value() == ["no_answer", "busy"]
    assert 'value="0" id="id_calling_days_0" checked' in str(form["calling_days"])


@pytest.mark.django_db
def test_a_call_ending_after_the_stop_is_not_retried(clock, user):
    campaign = launch(user, NUMBERS[:1], retry_on=["no_answer"])
    (call_id,) = claim(campaign).values()
    Call.objects.filter(pk=call_id).update(status=Call.Status.RINGING, provider_call_id="SM1")
    services.campaign_stop(campaign=campaign)
    call_finish(call_id=call_id, status=Call.Status.NO_ANSWER)
    assert target(NUMBERS[0]).status == CampaignContact.Status.FAILED
