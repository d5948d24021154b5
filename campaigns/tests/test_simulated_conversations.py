"""Conversations with the simulated carrier's callees, end to end (dialer, signed webhooks to a
live server, the scripted engine): what a demo campaign's transcripts and captured answers show."""

from decimal import Decimal

import pytest

from billing import ledger
from campaigns.conversation.engine.wording import line
from campaigns.lifecycle import services
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
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(1000), kind="staff_adjustment", reference="test-topup"
    )
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


OWN = "Do you own your home?"
BILL = "About how much is your monthly electricity bill?"
VISIT = "When would be a good time for a visit?"
SOLAR = {
    "opening_line": "Hi {{first_name}}, this is Sam from Sunny Solar.",
    "questions": f"{OWN}\n{BILL}\n{VISIT}",
    "capture_fields": [{"name": "owns_home"}, {"name": "monthly_bill"}, {"name": "visit_time"}],
    "answers": "price, cost, how much | Installation is free; you pay for the panels monthly.",
    "closing_line": "Thanks {{first_name}}, an installer will call you.",
}


def answers_to(question: str) -> list[str]:
    from telephony.simulator import ANSWERS

    return next(answers for pattern, answers in ANSWERS if pattern.search(question.lower()))


@pytest.mark.django_db(transaction=True)
def test_a_demo_campaigns_callees_answer_the_questions_they_are_asked(live, user, run_jobs):
    from telephony.simulator import DECLINES, QUESTIONS_BACK

    plain, asks_back, declines, curious = "+12025550101", "+12025550111", "+12025550116", CURIOUS
    calls = run_campaign(user, run_jobs, [plain, asks_back, declines, curious], **SOLAR)

    for number, call in calls.items():
        captured = dict(call.captured)
        assert list(captured) == ["owns_home", "monthly_bill", "visit_time"], number
        assert captured["owns_home"] in answers_to(OWN), number
        assert captured["monthly_bill"] in answers_to(BILL) + (DECLINES if number == declines else []), number
        assert captured["visit_time"] in answers_to(VISIT), number
        assert call.outcome == "interested", number
        # The transcript reads as a conversation: each callee line answers the agent's line before it.
        turns = list(call.turns.values_list("speaker", "text"))
        for (_, asked), (speaker, said) in zip(turns, turns[1:], strict=False):
            if speaker == "callee" and said not in DECLINES + QUESTIONS_BACK and "cost" not in said:
                assert said in answers_to(asked.rsplit(". ", 1)[-1]), (number, asked, said)

    back = [said for speaker, said in calls[asks_back].turns.values_list("speaker", "text") if said in QUESTIONS_BACK]
    assert len(back) == 1  # asked once, answered honestly or from the FAQ, then the script went on
