"""Conversations with the simulated carrier's callees, end to end (dialer, signed webhooks to a
live server, the scripted engine): what a demo campaign's transcripts and captured answers show."""

from decimal import Decimal

import pytest

from billing import ledger
from campaigns import services
from campaigns.engine.wording import line
from campaigns.models import Call
from campaigns.tests.factories import make_campaign

CURIOUS = "+12025550150"  # asks the price before answering (telephony/simulator.py)
Q1 = "Are you the person who handles scheduling?"
Q2 = "How many people are on your team?"


@pytest.fixture
def live(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def run_campaign(user, run_jobs, numbers, **agent_overrides) -> dict[str, Call]:
    ledger.credit_post(user=user, amount=Decimal(1000), kind="staff_adjustment", reference="test-topup")
    campaign = make_campaign(user, numbers, concurrency=3, **agent_overrides)
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()
    return {call.to_number: call for call in Call.objects.filter(campaign=campaign)}


@pytest.mark.django_db(transaction=True)
def test_a_callees_off_script_question_is_not_recorded_as_the_answer_to_the_scripts(live, user, run_jobs):
    """The agent has no answer to the price: it says so and asks its question again, and the
    answer that follows is the one recorded for it."""
    call = run_campaign(user, run_jobs, [CURIOUS], answers="")[CURIOUS]

    assert not [value for _, value in call.captured if "cost" in value]
    assert [name for name, _ in call.captured] == [Q1, Q2]
    assert call.outcome == "interested"
    turns = list(call.turns.values_list("speaker", "text"))
    asked_price = next(i for i, (speaker, said) in enumerate(turns) if speaker == "callee" and "cost" in said)
    assert turns[asked_price + 1] == ("agent", f"{line('cannot_answer')} {Q1}")
