"""The events webhooks hear, from where they happen: a simulated campaign end to end (its calls,
a callee opting out, its completion), pauses, single calls, and the balance falling low."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from billing import ledger
from campaigns.calls.services import call_finish
from campaigns.lifecycle import services as lifecycle
from campaigns.models import Call, Campaign
from campaigns.tests.factories import make_campaign
from clozit import events
from integrations.webhooks import services
from integrations.webhooks.models import Delivery, Message

INTERESTED = "+12025550101"
STOP = "+12025550141"
NO_ANSWER = "+12025550171"
BUSY = "+12025550181"


@pytest.fixture
def live(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def subscribe(user, url):
    return services.endpoint_create(
        workspace=user.personal_workspace, by=user, url=url, event_types=list(events.EVENT_TYPES)
    )


def top_up(user, amount="2000", reference="test-topup"):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(amount), kind="staff_adjustment", reference=reference
    )


@pytest.mark.django_db(transaction=True)
def test_a_simulated_campaign_sends_each_event_once(live, user, receiver, run_jobs):
    endpoint = subscribe(user, receiver.url)
    campaign = make_campaign(user, [INTERESTED, STOP, NO_ANSWER, BUSY], concurrency=2)
    top_up(user)

    lifecycle.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    calls = {c.to_number: c for c in Call.objects.filter(campaign=campaign)}
    verify = Webhook(endpoint.secret).verify
    received = [(verify(r.body, r.headers), r.headers["webhook-id"]) for r in receiver.requests]
    by_type: dict[str, list] = {}
    for body, _ in received:
        by_type.setdefault(body["type"], []).append(body["data"])

    # The simulated carrier sends every final event twice: one call.completed per answered call all the same.
    assert sorted(d["id"] for d in by_type["call.completed"]) == sorted([calls[INTERESTED].pk, calls[STOP].pk])
    assert sorted(d["id"] for d in by_type["call.failed"]) == sorted([calls[NO_ANSWER].pk, calls[BUSY].pk])
    assert Message.objects.filter(event_type="call.completed").count() == 2
    assert by_type["contact.opted_out"] == [{"phone_number": STOP, "call_id": calls[STOP].pk}]
    assert by_type["campaign.completed"] == [
        {"id": campaign.pk, "name": campaign.name, "status": "completed", "reason": ""}
    ]
    assert len({webhook_id for _, webhook_id in received}) == len(received)

    interested = next(d for d in by_type["call.completed"] if d["id"] == calls[INTERESTED].pk)
    call = calls[INTERESTED]
    assert interested["campaign_id"] == campaign.pk
    assert interested["to"] == INTERESTED and interested["from"] == call.from_number
    assert interested["status"] == "completed" and interested["outcome"] == "interested"
    assert interested["duration_seconds"] == call.duration_seconds > 0
    assert interested["credits"] == str(call.credits_charged.quantize(Decimal("0.01")))
    assert interested["transcript"][0]["speaker"] == "agent"
    assert interested["transcript"][0]["text"].startswith("Hi Person0")
    assert list(interested["captured"]) == [
        "Are you the person who handles scheduling?",
        "How many people are on your team?",
    ]
    failed = next(d for d in by_type["call.failed"] if d["id"] == calls[NO_ANSWER].pk)
    assert failed["status"] == "no_answer" and failed["credits"] == "0.00"
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.DELIVERED}


@pytest.mark.django_db
def test_a_pause_is_an_event_with_its_reason(user, receiver, run_jobs):
    subscribe(user, receiver.url)
    campaign = make_campaign(user, [INTERESTED])
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    lifecycle.campaign_pause(campaign=campaign, reason="Paused: not enough credits.", kind=Campaign.PauseKind.CREDITS)
    message = Message.objects.get(event_type=events.CAMPAIGN_PAUSED)
    assert message.data == {"campaign_id": campaign.pk, "reason": "Paused: not enough credits.", "kind": "credits"}


@pytest.mark.django_db
def test_a_person_pausing_is_an_event(user, receiver):
    subscribe(user, receiver.url)
    campaign = make_campaign(user, [INTERESTED])
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    lifecycle.campaign_pause(campaign=campaign)
    assert Message.objects.get(event_type=events.CAMPAIGN_PAUSED).data["reason"] == "Paused by you."


def _single_call(user, **fields) -> Call:
    fields = {"status": Call.Status.IN_PROGRESS, **fields}
    return Call.objects.create(
        workspace=user.personal_workspace,
        to_number=INTERESTED,
        from_number="+14155550000",
        provider="simulated",
        **fields,
    )


@pytest.mark.django_db
def test_a_call_without_a_campaign_is_an_event_once(user, receiver):
    subscribe(user, receiver.url)
    call = _single_call(user, answered_at=timezone.now() - timedelta(seconds=30))
    assert call_finish(call_id=call.pk, status=Call.Status.COMPLETED, duration_seconds=30)
    assert not call_finish(call_id=call.pk, status=Call.Status.COMPLETED, duration_seconds=30)  # the replay
    assert list(Message.objects.values_list("event_type", "data")) == [("call.completed", {"call_id": call.pk})]


@pytest.mark.django_db
def test_unanswered_and_canceled_calls(user, receiver):
    subscribe(user, receiver.url)
    busy = _single_call(user)
    call_finish(call_id=busy.pk, status=Call.Status.BUSY)
    canceled = _single_call(user, status=Call.Status.QUEUED)
    call_finish(call_id=canceled.pk, status=Call.Status.CANCELED)  # never dialled: nothing to tell
    assert list(Message.objects.values_list("event_type", "data")) == [("call.failed", {"call_id": busy.pk})]


@pytest.mark.django_db
def test_credits_low_once_per_crossing(user, receiver, settings):
    settings.WEBHOOK_CREDITS_LOW_THRESHOLD = 600
    subscribe(user, receiver.url)
    workspace = user.personal_workspace
    start = ledger.balance_of(workspace=workspace).balance
    top_up(user, amount=str(Decimal("700") - start), reference="to-700")

    def spend(reference, seconds):
        ledger.hold_place(
            workspace=workspace,
            reference=reference,
            max_amount=Decimal(300),
            min_amount=1,
            lifetime=timedelta(seconds=60),
        )
        ledger.hold_settle(reference=reference, amount_used=Decimal(seconds))

    spend("call-1", 50)  # 650: above
    assert not Message.objects.exists()
    spend("call-2", 100)  # 550: crossed
    spend("call-3", 10)  # 540: still below, no second event
    ledger.number_rental_charge(workspace=workspace, reference="rent-1", amount=Decimal("5"))  # 535
    assert list(Message.objects.values_list("event_type", flat=True)) == ["credits.low"]
    assert Message.objects.get().data == {"balance": "550.00", "threshold": "600"}

    top_up(user, amount="100", reference="top-2")  # 635: above again
    ledger.number_rental_charge(workspace=workspace, reference="rent-2", amount=Decimal("40"))  # 595: crossed
    assert Message.objects.filter(event_type="credits.low").count() == 2


@pytest.mark.django_db(transaction=True)
def test_credits_low_payload(user, receiver, run_jobs):
    endpoint = subscribe(user, receiver.url)
    workspace = user.personal_workspace
    start = ledger.balance_of(workspace=workspace).balance
    top_up(user, amount=str(Decimal("601") - start), reference="to-601")
    ledger.number_rental_charge(workspace=workspace, reference="rent", amount=Decimal("2"))
    run_jobs()
    body = Webhook(endpoint.secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert body["data"] == {"available": "599.00", "balance": "599.00", "threshold": "600.00"}
    assert json.loads(receiver.requests[0].body)["type"] == "credits.low"
