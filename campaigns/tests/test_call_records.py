"""What a call's record says of it: its times agree with what was billed, and its transcript
says which knowledge passages a reply was actually answered from."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import ledger
from campaigns.calls import call_finish
from campaigns.models import Call
from campaigns.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def live_call(user, **fields) -> Call:
    agent = make_agent(user)
    call = Call.objects.create(
        owner=user,
        agent=agent,
        to_number="+12025550101",
        from_number="+14155550000",
        provider="simulated",
        provider_call_id="SMrecord",
        **fields,
    )
    hold = ledger.hold_place(
        user=user, reference=f"call:{call.pk}", max_amount=100, min_amount=10, lifetime=timedelta(minutes=5)
    )
    Call.objects.filter(pk=call.pk).update(hold_reference=hold.reference, time_limit_seconds=100)
    call.refresh_from_db()
    return call


def test_an_answered_call_ends_its_billed_seconds_after_the_answer_whenever_the_event_arrives(user):
    answered = timezone.now() - timedelta(minutes=3)  # the final event comes late
    call = live_call(user, status=Call.Status.IN_PROGRESS, answered_at=answered, answered_by="human")

    call_finish(call_id=call.pk, status=Call.Status.COMPLETED, duration_seconds=42)

    call.refresh_from_db()
    assert call.duration_seconds == 42 and call.credits_charged == Decimal(42)
    assert call.ended_at == answered + timedelta(seconds=42)


def test_the_billed_seconds_stop_at_the_time_limit_and_so_does_the_record(user):
    answered = timezone.now() - timedelta(seconds=5)
    call = live_call(user, status=Call.Status.IN_PROGRESS, answered_at=answered)

    call_finish(call_id=call.pk, status=Call.Status.COMPLETED, duration_seconds=130)

    call.refresh_from_db()
    assert call.duration_seconds == 100
    assert call.ended_at == answered + timedelta(seconds=100)


def test_a_call_nobody_answered_ends_when_the_carrier_says_so(user):
    call = live_call(user, status=Call.Status.RINGING)
    before = timezone.now()

    call_finish(call_id=call.pk, status=Call.Status.NO_ANSWER)

    call.refresh_from_db()
    assert call.answered_at is None and call.duration_seconds == 0
    assert before <= call.ended_at <= timezone.now()
