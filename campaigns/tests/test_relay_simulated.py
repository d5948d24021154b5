"""A demo campaign over ConversationRelay, end to end: the dialer places calls with the simulated
carrier, which answers, opens the relay socket on the whole ASGI application (uvicorn), streams
its callees' words as prompts, speaks over the agent and presses keys now and then, and hands the
call back by the signed action callback, as Twilio does. Nothing here is a stand-in but the
callees themselves."""

from decimal import Decimal

import pytest

from billing import ledger
from campaigns.lifecycle import services
from campaigns.models import Call, DoNotCall
from campaigns.tests.factories import make_campaign

INTERESTED = "+12025550101"
TALKS_OVER = "+12025550105"  # speaks over the agent's second reply (telephony/simulator.py)
PRESSES_KEY = "+12025550108"  # presses a key at their second turn
NOT_INTERESTED = "+12025550120"
STOP = "+12025550140"
VOICEMAIL = "+12025550160"


@pytest.mark.django_db(transaction=True)
def test_a_demo_campaign_runs_over_conversation_relay_with_barge_in_keys_and_latency(asgi_server, user, run_jobs):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(1000), kind="staff_adjustment", reference="test-topup"
    )
    numbers = [INTERESTED, TALKS_OVER, PRESSES_KEY, NOT_INTERESTED, STOP, VOICEMAIL]
    campaign = make_campaign(user, numbers, concurrency=3, transport="relay")
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    calls = {call.to_number: call for call in Call.objects.filter(campaign=campaign)}
    assert set(calls) == set(numbers)
    assert all(call.status == Call.Status.COMPLETED for call in calls.values()), {
        number: (call.status, call.end_reason) for number, call in calls.items()
    }
    campaign.refresh_from_db()
    assert campaign.status == campaign.Status.COMPLETED

    # Each answered person talked with the agent over the socket: every agent reply between the
    # opening (the carrier's welcome greeting) and the goodbye (said by the carrier after the
    # hand-back) streamed, and its latency is on record.
    for number in (INTERESTED, TALKS_OVER, PRESSES_KEY):
        replies = list(calls[number].turns.filter(speaker="agent").order_by("sequence"))[1:-1]
        assert replies, number
        assert all(turn.first_frame_ms is not None and turn.total_ms is not None for turn in replies), number

    assert calls[INTERESTED].outcome == "interested"
    assert len(calls[INTERESTED].captured) == 2
    cut = calls[TALKS_OVER].turns.filter(speaker="agent", interrupted=True)
    assert cut.count() == 1
    assert calls[NOT_INTERESTED].outcome == "not_interested"
    assert calls[STOP].outcome == "do_not_call"
    assert DoNotCall.objects.filter(workspace=user.personal_workspace, phone_number=STOP).exists()
    assert calls[VOICEMAIL].outcome == "voicemail"

    # Billed once each, per second connected (the ledger's own check runs after the test).
    for call in calls.values():
        assert call.credits_charged == ledger.call_cost(seconds=call.duration_seconds), call.to_number
