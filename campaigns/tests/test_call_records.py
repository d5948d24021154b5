"""What a call's record says of it: its times agree with what was billed, and its transcript
says which knowledge passages a reply was actually answered from."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from campaigns.calls.services import call_finish
from campaigns.models import Call
from campaigns.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def live_call(user, **fields) -> Call:
    agent = make_agent(user)
    call = Call.objects.create(
        workspace=user.personal_workspace,
        agent=agent,
        to_number="+12025550101",
        from_number="+14155550000",
        provider="simulated",
        provider_call_id="SMrecord",
        **fields,
    )
    hold = ledger.hold_place(
        workspace=user.personal_workspace,
        reference=f"call:{call.pk}",
        max_amount=100,
        min_amount=10,
        lifetime=timedelta(minutes=5),
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


# --- "Answered from N knowledge passages" ----------------------------------------------------------
CLINIC = """# Demo Dental

## Opening hours
We are open Monday to Friday from 8 am to 6 pm, and on Saturdays from 9 am to 1 pm.

## Parking
Parking is free behind the building at any time of day. The number 12 bus stops right outside.
"""


def test_the_call_page_names_passages_only_under_the_reply_that_was_answered_from_them(client, user, settings):
    from campaigns.conversation.knowledge import knowledge_add_text
    from telephony.tests.test_webhooks import PUBLIC, answer, make_call, say_turn

    settings.PUBLIC_BASE_URL = PUBLIC
    settings.SIMULATED_SIGNING_SECRET = "simulated-test-secret"
    call = make_call(user)  # its FAQ answers the price
    knowledge_add_text(call.agent, "Demo Dental", CLINIC)
    answer(client, call)

    # Every turn retrieves passages (these words match the opening hours and the parking) ...
    say_turn(client, call, 1, "Yes, I book the Saturday parking for the whole team.")
    say_turn(client, call, 2, "How much does it cost on Saturday?")
    # ... but only this reply is said from one.
    say_turn(client, call, 3, "Where can I park?")

    agent_lines = call.turns.filter(speaker="agent").order_by("sequence")
    assert [len(turn.passages) for turn in agent_lines] == [0, 0, 0, 1]
    assert agent_lines.last().passages[0]["text"].startswith("Demo Dental › Parking")
    client.force_login(user)
    page = client.get(reverse("call_detail", args=[call.pk])).content.decode()
    assert page.count('data-testid="turn-passages"') == 1
    assert "Answered from 1 knowledge passage<" in page and "Demo Dental › Parking" in page
    assert "Opening hours" not in page


def test_the_playground_names_passages_only_under_a_reply_answered_from_them(user):
    from campaigns.agents.playground import playground_say, playground_start
    from campaigns.conversation.knowledge import knowledge_add_text

    agent = make_agent(user)
    knowledge_add_text(agent, "Demo Dental", CLINIC)
    session = playground_start(user.personal_workspace, agent)

    session = playground_say(session, "Yes, I book the Saturday parking for the team.")
    assert session.transcript[-1]["passages"] == []
    session = playground_say(session, "Where can I park?")
    assert [p["text"].split("\n")[0] for p in session.transcript[-1]["passages"]] == ["Demo Dental › Parking"]
