"""What an outcome counts as (positive, neutral, negative): the platform's fixed kinds, an agent's
own outcomes as its builder says, and the numbers, charts and CSV that count them."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.analytics.selectors import account_analytics, calls_over_time, campaign_live_stats
from campaigns.conversation.engine.scripted import ScriptedEngine
from campaigns.conversation.engine.spec import agent_outcomes, outcome_kinds, success_outcome
from campaigns.models import Agent, Call
from campaigns.tests.factories import make_campaign

S = Call.Status
SURVEY = [
    {"name": "survey_booked", "description": "Agreed to take the survey.", "kind": "positive"},
    {"name": "info_sent", "description": "Asked for an email instead.", "kind": "neutral"},
    {"name": "moved_away", "description": "No longer lives there.", "kind": "negative"},
    {"name": "not_interested", "description": "Said no.", "kind": "negative"},
]


# --- The kinds ------------------------------------------------------------------------------------
def test_the_platforms_outcomes_keep_their_kind_whatever_an_agent_says():
    kinds = outcome_kinds([{"name": "interested", "kind": "negative"}, {"name": "not_interested", "kind": "positive"}])
    assert (kinds["interested"], kinds["not_interested"]) == ("positive", "negative")
    assert (kinds["transferred"], kinds["do_not_call"], kinds["hung_up"]) == ("positive", "negative", "negative")
    assert (kinds["call_back"], kinds["voicemail"], kinds["time_limit"]) == ("neutral", "neutral", "neutral")


def test_an_agents_own_outcomes_count_as_its_builder_says():
    kinds = outcome_kinds(SURVEY)
    assert (kinds["survey_booked"], kinds["info_sent"], kinds["moved_away"]) == ("positive", "neutral", "negative")


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        # Saved before outcomes had kinds: the outcome a finished script ends with was the success.
        ([{"name": "survey_booked"}, {"name": "info_sent"}], {"survey_booked": "positive", "info_sent": "neutral"}),
        ([{"name": "not_interested"}, {"name": "booked"}], {"booked": "positive", "not_interested": "negative"}),
        ([{"name": "interested"}, {"name": "booked"}], {"interested": "positive", "booked": "neutral"}),
        ([{"name": "booked", "kind": "nonsense"}], {"booked": "positive"}),
    ],
)
def test_outcomes_saved_without_a_kind_count_as_they_always_did(outcomes, expected):
    kinds = outcome_kinds(outcomes)
    assert {name: kinds[name] for name in expected} == expected


def test_the_scripted_engine_ends_a_finished_script_with_the_first_positive_outcome():
    engine = ScriptedEngine()
    agent = Agent(opening_line="Hi.", questions="", closing_line="Bye.", outcomes=SURVEY)
    assert success_outcome(agent) == "survey_booked"
    assert engine.respond(_started(engine, agent), "Sure.").outcome == "survey_booked"
    reordered = Agent(outcomes=[SURVEY[1], SURVEY[3], SURVEY[0]])
    assert success_outcome(reordered) == "survey_booked"
    assert success_outcome(Agent(outcomes=[SURVEY[1], SURVEY[3]])) == "info_sent"  # no positive one
    assert [o["kind"] for o in agent_outcomes(Agent(outcomes=[]))] == [
        "positive",
        "negative",
        "neutral",
        "negative",
        "negative",
    ]


def _started(engine, agent):
    from campaigns.conversation.engine import ConversationContext

    ctx = ConversationContext(agent=agent, variables={})
    engine.start(ctx)
    return ctx


# --- The numbers ----------------------------------------------------------------------------------
def add_call(campaign, *, ago=timedelta(0), **fields) -> Call:
    call = Call.objects.create(
        workspace=campaign.workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number="+12025550101",
        from_number=campaign.caller_number,
        provider="simulated",
        **fields,
    )
    if ago:
        Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - ago)
    return call


@pytest.fixture
def survey(user):
    """Six answered calls of an agent whose own outcome "survey_booked" is its goal, one voicemail."""
    campaign = make_campaign(user, ["+12025550101"], outcomes=SURVEY)
    for outcome in ["survey_booked", "survey_booked", "info_sent", "moved_away", "not_interested", "transferred"]:
        add_call(campaign, status=S.COMPLETED, answered_by="human", outcome=outcome, credits_charged=Decimal(3))
    add_call(campaign, status=S.COMPLETED, answered_by="machine", outcome="voicemail", credits_charged=Decimal(1))
    add_call(campaign, status=S.BUSY)
    return campaign


@pytest.mark.django_db
def test_an_agents_own_positive_outcome_counts_as_success(survey):
    n = campaign_live_stats(campaign=survey).numbers

    assert (n.positive, n.neutral, n.negative) == (3, 2, 2)  # + transferred; + voicemail
    assert n.answered == 6
    assert n.success_rate == 50.0  # 3 of 6 answered calls
    assert n.cost_per_positive == Decimal("6.33")  # 19 credits / 3
    kinds = {row["outcome"]: row["kind_label"] for row in n.outcome_rows}
    assert kinds == {
        "survey_booked": "Positive",
        "info_sent": "Neutral",
        "moved_away": "Negative",
        "not_interested": "Negative",
        "transferred": "Positive",
        "voicemail": "Neutral",
        "": "",
    }


@pytest.mark.django_db
def test_changing_a_kind_recounts_the_calls(survey):
    Agent.objects.filter(pk=survey.agent_id).update(
        outcomes=[{**o, "kind": "neutral"} if o["name"] == "survey_booked" else o for o in SURVEY]
    )
    n = campaign_live_stats(campaign=survey).numbers
    assert (n.positive, n.success_rate) == (1, 16.7)


@pytest.mark.django_db
def test_each_campaign_counts_with_its_own_agents_kinds(survey, user):
    other = make_campaign(user, ["+12025550102"], outcomes=[{"name": "survey_booked", "kind": "neutral"}])
    add_call(other, status=S.COMPLETED, answered_by="human", outcome="survey_booked")

    report = account_analytics(workspace=user.personal_workspace)

    by_name = {row.campaign_id: row.numbers for row in report.rows}
    assert (by_name[survey.pk].positive, by_name[other.pk].positive) == (3, 0)
    assert (report.total.positive, report.total.answered, report.total.success_rate) == (3, 7, 42.9)
    booked = next(row for row in report.total.outcome_rows if row["outcome"] == "survey_booked")
    assert (booked["count"], booked["kind_label"]) == (3, "Varies by agent")


@pytest.mark.django_db
def test_a_call_whose_agent_is_gone_counts_the_platforms_kinds(survey):
    Call.objects.filter(campaign=survey).update(agent=None)
    n = campaign_live_stats(campaign=survey).numbers
    assert (n.positive, n.negative) == (1, 1)  # transferred; not interested (survey_booked: neutral now)


@pytest.mark.django_db
def test_the_chart_shows_positive_outcomes_over_time(survey):
    chart = calls_over_time(campaign=survey)
    assert sum(chart["started"]) == 8 and sum(chart["positive"]) == 3


# --- What the person sees -------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_campaign_panel_shows_the_success_rate_and_what_each_outcome_counts_as(logged_in, survey):
    body = logged_in.get(reverse("campaign_stats", args=[survey.pk])).content.decode()

    assert 'data-testid="stats-success-rate">50.0%<' in body
    assert 'data-testid="stats-cost-per-positive">6.33<' in body
    assert '<td>Survey booked</td><td><span class="badge badge-success">Positive</span></td>' in body
    assert '<td>Moved away</td><td><span class="badge badge-danger">Negative</span></td>' in body
    assert '"positive": [3]' in body


@pytest.mark.django_db
def test_the_analytics_page_counts_an_agents_own_outcomes(logged_in, survey):
    body = logged_in.get(reverse("analytics")).content.decode()

    assert 'data-testid="total-success-rate">50.0%<' in body
    assert 'data-testid="total-positive">3<' in body
    row = body[body.index('data-testid="analytics-row"') :]
    assert '<td class="num" data-testid="row-success-rate">50.0%</td>' in row
    assert "Survey booked" in body and "Positive" in body
    assert "marked positive in the agent builder" in body


@pytest.mark.django_db
def test_the_csv_says_what_each_outcome_counts_as(logged_in, survey):
    response = logged_in.get(reverse("calls_export"))
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(row["outcome"], row["outcome_kind"]) for row in rows] == [
        ("Survey booked", "Positive"),
        ("Survey booked", "Positive"),
        ("Info sent", "Neutral"),
        ("Moved away", "Negative"),
        ("Not interested", "Negative"),
        ("Transferred to a person", "Positive"),
        ("Voicemail", "Neutral"),
        ("", ""),
    ]
