"""/api/v1/calls: the list with its filters and cursor pages (a constant number of queries however
many rows), one call with its transcript, answers and recording link, the recording itself for the
workspace's own keys only, and nothing of another workspace's."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Call, CallTurn
from campaigns.tests.factories import make_agent, make_campaign
from integrations.api.keys import api_key_create
from integrations.api.tests.test_api_agents import Api, member


def make_call(workspace, *, agent=None, campaign=None, status="completed", outcome="", created_at=None, **fields):
    call = Call.objects.create(
        workspace=workspace,
        agent=agent,
        campaign=campaign,
        to_number=fields.pop("to_number", "+12025550101"),
        from_number="+14155550000",
        provider="simulated",
        status=status,
        outcome=outcome,
        **fields,
    )
    if created_at is not None:
        Call.objects.filter(pk=call.pk).update(created_at=created_at)
        call.created_at = created_at
    return call


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.mark.django_db
def test_a_page_of_calls_costs_the_same_queries_for_3_calls_or_300(client, user, django_assert_num_queries):
    workspace = user.personal_workspace
    secret = api_key_create(workspace=workspace, by=user, name="CRM", scope="read").secret
    campaign = make_campaign(user, ["+12025550101"])
    for number in range(3):
        make_call(workspace, agent=campaign.agent, campaign=campaign, duration_seconds=number)

    def listed(**params):
        response = client.get("/api/v1/calls", params, **bearer(secret))
        assert response.status_code == 200, response.content
        return response.json()

    listed()  # the key's first use writes its last-use time; later ones (within a minute) do not
    with CaptureQueriesContext(connection) as few:
        assert len(listed(limit=200)["data"]) == 3
    for number in range(297):
        make_call(workspace, agent=campaign.agent, campaign=campaign, duration_seconds=number)

    with django_assert_num_queries(len(few.captured_queries)):
        page = listed(limit=200)
    assert len(page["data"]) == 200 and page["next_cursor"]
    with django_assert_num_queries(len(few.captured_queries)):
        deeper = listed(limit=200, cursor=page["next_cursor"], campaign_id=campaign.pk, status="completed")
    assert len(deeper["data"]) == 100 and deeper["next_cursor"] is None
    assert {row["id"] for row in page["data"]}.isdisjoint(row["id"] for row in deeper["data"])


@pytest.fixture
def owner(transactional_db):
    return member("ada@example.com")


@pytest.fixture
def api(asgi_server, owner):
    return Api(asgi_server, api_key_create(workspace=owner.personal_workspace, by=owner, name="C", scope="read").secret)


@pytest.fixture
def other_api(asgi_server):
    stranger = member("eve@example.com")
    key = api_key_create(workspace=stranger.personal_workspace, by=stranger, name="E", scope="write")
    return Api(asgi_server, key.secret)


def test_calls_are_filtered_by_campaign_status_outcome_and_time(api, owner):
    workspace = owner.personal_workspace
    first, second = make_campaign(owner, ["+12025550101"]), make_campaign(owner, ["+12025550102"])
    now = timezone.now()
    old = make_call(workspace, campaign=first, outcome="interested", created_at=now - timedelta(days=3))
    busy = make_call(workspace, campaign=first, status="busy", created_at=now - timedelta(days=2))
    recent = make_call(workspace, campaign=second, outcome="not_interested", created_at=now - timedelta(hours=1))

    def ids(**params):
        response = api.get("/calls", params=params)
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()["data"]]

    assert ids() == [recent.pk, busy.pk, old.pk]
    assert ids(campaign_id=first.pk) == [busy.pk, old.pk]
    assert ids(status="busy") == [busy.pk]
    assert ids(outcome="interested") == [old.pk]
    assert ids(created_after=(now - timedelta(days=2, hours=1)).isoformat()) == [recent.pk, busy.pk]
    assert ids(created_before=(now - timedelta(days=1)).isoformat(), campaign_id=first.pk) == [busy.pk, old.pk]

    row = api.get("/calls", params={"limit": 1}).json()["data"][0]
    assert row["to"] == "+12025550101" and row["caller_number"] == "+14155550000"
    assert row["credits_charged"] == "0.00" and row["campaign_id"] == second.pk

    wrong = api.get("/calls", params={"status": "exploded", "created_after": "yesterday"})
    assert wrong.status_code == 422 and wrong.headers["Content-Type"] == "application/problem+json"
    fields = {error["field"] for error in wrong.json()["errors"]}
    assert any(f.endswith("status") for f in fields) and any(f.endswith("created_after") for f in fields)
    assert api.get("/calls", params={"cursor": "not-a-cursor"}).status_code == 400


def test_a_call_shows_its_transcript_answers_outcome_and_recording(api, owner):
    agent = make_agent(owner, record_calls=True)
    answered = timezone.now() - timedelta(minutes=2)
    call = make_call(
        owner.personal_workspace,
        agent=agent,
        outcome="interested",
        duration_seconds=42,
        credits_charged="42.00",
        answered_at=answered,
        ended_at=answered + timedelta(seconds=42),
        captured=[["preferred_time", "Tuesday morning"], ["team_size", "12"]],
        recording_id="RE1",
        recording_url="simulated://RE1?seconds=2",
        recording_seconds=40,
        engine_state={"variables": {"company": "Acme"}},
    )
    CallTurn.objects.create(call=call, sequence=1, speaker="agent", text="Hi, this is Sam from Acme.")
    CallTurn.objects.create(call=call, sequence=2, speaker="callee", text="Hello!")

    detail = api.get(f"/calls/{call.pk}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["outcome"] == "interested" and body["duration_seconds"] == 42 and body["credits_charged"] == "42.00"
    assert [(line["speaker"], line["text"]) for line in body["transcript"]] == [
        ("agent", "Hi, this is Sam from Acme."),
        ("callee", "Hello!"),
    ]
    assert body["answers"] == [
        {"field": "preferred_time", "value": "Tuesday morning"},
        {"field": "team_size", "value": "12"},
    ]
    assert body["variables"] == {"company": "Acme"}
    assert body["recording_url"] == f"{api.base}/calls/{call.pk}/recording"

    audio = api.get(f"/calls/{call.pk}/recording")
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/wav"
    assert audio.headers["Cache-Control"] == "private, no-store" and audio.content.startswith(b"RIFF")
    no_recording = make_call(owner.personal_workspace)
    assert api.get(f"/calls/{no_recording.pk}").json()["recording_url"] is None
    assert api.get(f"/calls/{no_recording.pk}/recording").status_code == 404


def test_another_workspaces_calls_are_not_found(api, other_api, owner):
    campaign = make_campaign(owner, ["+12025550101"])
    call = make_call(owner.personal_workspace, campaign=campaign, recording_url="simulated://RE1?seconds=1")
    for path in (f"/calls/{call.pk}", f"/calls/{call.pk}/recording"):
        response = other_api.get(path)
        assert response.status_code == 404 and response.json()["title"] == "Not found", path
    assert other_api.get("/calls").json()["data"] == []
    assert other_api.get("/calls", params={"campaign_id": campaign.pk}).json()["data"] == []
