"""A call's page says plainly whether there is a recording and why not, and without an AI model
its "Ask AI" part leads with the built-in reports, which need none."""

import re

import pytest
from django.urls import reverse

from campaigns.models import Call
from campaigns.tests.factories import make_agent, make_campaign

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def make_call(user, *, agent=None, campaign=None, provider="twilio", **fields) -> Call:
    fields = {"status": "completed", "answered_by": "human", "duration_seconds": 29, **fields}
    return Call.objects.create(
        workspace=user.personal_workspace,
        campaign=campaign,
        agent=agent or (campaign.agent if campaign else make_agent(user)),
        to_number="+12025550101",
        from_number="+12025550100",
        provider=provider,
        **fields,
    )


def page_text(response) -> str:
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def test_a_recorded_call_plays_its_recording_and_says_how_long_it_is(logged_in, user):
    call = make_call(
        user,
        agent=make_agent(user, record_calls=True),
        recording_id="RE123",
        recording_url="https://api.twilio.com/recordings/RE123",
        recording_seconds=29,
    )

    page = page_text(logged_in.get(reverse("call_detail", args=[call.pk])))

    assert 'data-testid="recording"' in page and reverse("call_recording", args=[call.pk]) in page
    assert "Recording, 29 s" in page
    assert 'data-testid="no-recording"' not in page


def test_a_simulated_call_says_it_has_no_recording_instead_of_an_empty_player(logged_in, user):
    # The simulated carrier announces a recording for agents that record, but keeps no audio.
    call = make_call(
        user,
        agent=make_agent(user, record_calls=True),
        provider="simulated",
        recording_id="RE123",
        recording_url="simulated://RE123?seconds=29",
        recording_seconds=29,
    )

    page = page_text(logged_in.get(reverse("call_detail", args=[call.pk])))

    assert "<audio" not in page
    assert "No recording: simulated calls have no audio." in page


def test_a_call_whose_agent_does_not_record_says_so_and_where_to_change_it(logged_in, user):
    agent = make_agent(user, name="Front desk", record_calls=False)
    call = make_call(user, agent=agent)

    page = page_text(logged_in.get(reverse("call_detail", args=[call.pk])))

    assert "<audio" not in page
    assert "Not recorded: the agent “Front desk” does not record calls." in page
    assert reverse("agent_edit", args=[agent.pk]) in page


def test_an_unanswered_call_has_no_recording_and_says_why(logged_in, user):
    call = make_call(
        user, agent=make_agent(user, record_calls=True), status="no_answer", answered_by="", duration_seconds=0
    )

    page = page_text(logged_in.get(reverse("call_detail", args=[call.pk])))

    assert "No recording: nobody answered this call." in page


def test_a_recording_not_yet_sent_by_the_carrier_is_said_to_be_on_its_way(logged_in, user):
    call = make_call(user, agent=make_agent(user, record_calls=True))

    page = page_text(logged_in.get(reverse("call_detail", args=[call.pk])))

    assert "No recording yet: the carrier sends it shortly after the call ends." in page


def test_without_a_model_ask_ai_leads_with_the_free_campaign_report(logged_in, user, settings):
    settings.LLM_MODEL = ""
    campaign = make_campaign(user, ["+12025550101"])
    call = make_call(user, campaign=campaign)

    panel = page_text(logged_in.get(reverse("call_assistant", args=[call.pk]), **HX))

    report = panel.index(reverse("campaign_report", args=[campaign.pk]))
    notice = panel.index('data-testid="assistant-no-llm"')
    assert report < notice  # the reports first, then why free-text questions are not offered
    assert "<h2>Reports</h2>" in panel
    assert "Open the campaign report" in panel
    assert "<textarea" not in panel


def test_without_a_model_a_call_outside_any_campaign_points_to_its_own_page(logged_in, user, settings):
    settings.LLM_MODEL = ""
    call = make_call(user)  # an inbound call, say: no campaign, so no campaign report

    panel = page_text(logged_in.get(reverse("call_assistant", args=[call.pk]), **HX))

    assert "campaign report" not in panel.lower()
    assert "This call's outcome, captured answers and transcript are above." in panel
