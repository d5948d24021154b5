"""/api/v1/campaigns over real HTTP: a campaign made with the page's form rules, launched (its calls
placed by the dialer with the simulated carrier, whose webhooks come back to the served app),
counted by the stats the campaign page reads; pause, resume and stop as on the page; another
workspace's campaigns answered 404."""

from decimal import Decimal

import pytest

from accounts.models import WorkspaceEvent
from billing import ledger
from campaigns.models import Call, Campaign
from campaigns.tests.factories import SHARED_CALLER, make_agent, make_campaign, make_list
from integrations.api.keys import api_key_create
from integrations.api.tests.test_api_agents import Api, member
from telephony.models import PhoneNumber

pytestmark = pytest.mark.django_db(transaction=True)

INTERESTED = "+12025550101"
NOT_INTERESTED = "+12025550120"


@pytest.fixture
def owner():
    user = member("ada@example.com")
    ledger.credit_post(workspace=user.personal_workspace, amount=Decimal(1000), kind="staff_adjustment", reference="t")
    PhoneNumber.objects.create(number=SHARED_CALLER, provider="simulated", label="Shared")
    return user


@pytest.fixture
def api(asgi_server, owner):
    key = api_key_create(workspace=owner.personal_workspace, by=owner, name="CRM", scope="write")
    return Api(asgi_server, key.secret)


@pytest.fixture
def other_api(asgi_server):
    stranger = member("eve@example.com")
    key = api_key_create(workspace=stranger.personal_workspace, by=stranger, name="E", scope="write")
    return Api(asgi_server, key.secret)


def test_a_campaign_is_created_launched_called_and_counted(api, owner, run_jobs):
    agent = make_agent(owner)
    contacts = make_list(owner, [INTERESTED, NOT_INTERESTED])
    created = api.post(
        "/campaigns",
        json={
            "name": "Spring outreach",
            "purpose": "Telling past customers about the spring service offer.",
            "agent_id": agent.pk,
            "list_id": contacts.pk,
            "calling_hours_start": "08:30",
            "calling_hours_end": "19:00",
            "calling_days": [0, 1, 2, 3, 4, 5, 6],
            "retry_on": [],
            "max_attempts": 2,
            "budget_credits": "500",
        },
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "draft" and campaign["caller_number"] == SHARED_CALLER
    assert campaign["calling_hours_start"] == "08:30:00" and campaign["budget_credits"] == "500.00"
    assert api.get("/campaigns").json()["data"][0]["id"] == campaign["id"]

    launched = api.post(f"/campaigns/{campaign['id']}/launch")
    assert launched.status_code == 200, launched.text
    assert launched.json()["status"] == "running"
    assert WorkspaceEvent.objects.get(action="campaign.launch").actor == owner
    run_jobs()

    stats = api.get(f"/campaigns/{campaign['id']}/stats").json()
    assert stats["status"] == "completed"
    assert stats["contacts_total"] == 2 and stats["contacts_completed"] == 2 and stats["percent_done"] == 100
    assert stats["calls_placed"] == 2 and stats["calls_in_progress"] == 0
    spent = sum(call.credits_charged for call in Call.objects.filter(campaign_id=campaign["id"]))
    assert stats["credits_spent"] == f"{spent:.2f}" and spent > 0
    outcomes = {row["outcome"]: row for row in stats["outcomes"]}
    assert outcomes["interested"]["count"] == 1 and outcomes["interested"]["kind"] == "positive"
    assert outcomes["not_interested"]["count"] == 1
    assert stats["answer_rate"] == 100.0 and stats["success_rate"] == 50.0


def test_pause_resume_and_stop_follow_the_pages_rules(api, owner):
    campaign = make_campaign(owner, [INTERESTED])
    refused = api.post(f"/campaigns/{campaign.pk}/pause")
    assert refused.status_code == 409 and refused.json()["detail"] == "Only a running campaign can be paused."
    # Launched without running the dialer's jobs: the campaign stays running, its call queued.
    assert api.post(f"/campaigns/{campaign.pk}/launch").json()["status"] == "running"
    assert api.post(f"/campaigns/{campaign.pk}/launch").status_code == 409
    paused = api.post(f"/campaigns/{campaign.pk}/pause")
    assert paused.json()["status"] == "paused" and paused.json()["status_reason"] == "Paused by you."
    assert api.post(f"/campaigns/{campaign.pk}/resume").json()["status"] == "running"
    stopped = api.post(f"/campaigns/{campaign.pk}/stop")
    assert stopped.json()["status"] == "stopped" and stopped.json()["finished_at"]
    assert WorkspaceEvent.objects.get(action="campaign.stop").actor == owner
    assert api.post(f"/campaigns/{campaign.pk}/stop").json()["detail"] == "This campaign has already ended."


def test_a_list_without_consent_is_not_launched(api, owner):
    campaign = make_campaign(owner, [INTERESTED])
    campaign.contact_list.consent_confirmed_at = None  # as for a list made before consent was asked for
    campaign.contact_list.save(update_fields=["consent_confirmed_at"])
    refused = api.post(f"/campaigns/{campaign.pk}/launch")
    assert refused.status_code == 409 and "confirmed consent" in refused.json()["detail"]
    # Confirmed through the API, as the list's page asks, the campaign launches.
    assert api.post(f"/lists/{campaign.contact_list_id}/consent", json={"consent": True}).status_code == 200
    assert api.post(f"/campaigns/{campaign.pk}/launch").json()["status"] == "running"


def test_the_forms_rules_answer_422_naming_the_apis_fields(api, owner):
    agent, contacts = make_agent(owner), make_list(owner, [INTERESTED])
    wrong = api.post(
        "/campaigns",
        json={
            "name": "Bad",
            "purpose": "Checking the form's rules.",
            "agent_id": agent.pk + 1000,
            "list_id": contacts.pk,
            "calling_hours_start": "18:00",
            "calling_hours_end": "09:00",
            "caller_number": "+19995550100",
            "max_attempts": 11,
        },
    )
    assert wrong.status_code == 422
    fields = {error["field"] for error in wrong.json()["errors"]}
    assert fields == {"agent_id", "calling_hours_end", "caller_number", "max_attempts"}
    missing = api.post("/campaigns", json={"name": "No agent"})
    assert missing.status_code == 422
    assert {"agent_id", "list_id"} <= {e["field"] for e in missing.json()["errors"]}
    assert not Campaign.objects.exists()


def test_another_workspaces_campaigns_are_not_found(api, other_api, owner):
    campaign = make_campaign(owner, [INTERESTED])
    for path in ("", "/launch", "/pause", "/resume", "/stop", "/stats"):
        method = other_api.get if path in ("", "/stats") else other_api.post
        response = method(f"/campaigns/{campaign.pk}{path}")
        assert response.status_code == 404, (path, response.text)
    assert other_api.patch(f"/campaigns/{campaign.pk}", json={"name": "Mine"}).status_code == 404
    assert other_api.delete(f"/campaigns/{campaign.pk}").status_code == 404
    assert other_api.get("/campaigns").json()["data"] == []
    # Nor can another workspace make a campaign of this workspace's agent and list.
    stolen = other_api.post(
        "/campaigns", json={"name": "Stolen", "agent_id": campaign.agent_id, "list_id": campaign.contact_list_id}
    )
    assert stolen.status_code == 422
    assert {e["field"] for e in stolen.json()["errors"]} >= {"agent_id", "list_id"}
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_a_draft_or_paused_campaign_changes_as_on_its_page_and_only_a_draft_is_deleted(api, owner):
    campaign = make_campaign(owner, [INTERESTED])
    other_list = make_list(owner, [NOT_INTERESTED], name="Other")
    changed = api.patch(
        f"/campaigns/{campaign.pk}", json={"name": "Renamed", "list_id": other_list.pk, "calling_hours_end": "17:30"}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["name"] == "Renamed" and body["list_id"] == other_list.pk and body["calling_hours_end"] == "17:30:00"
    assert body["agent_id"] == campaign.agent_id and body["max_attempts"] == campaign.max_attempts
    wrong = api.patch(f"/campaigns/{campaign.pk}", json={"calling_hours_end": "08:00"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "calling_hours_end"

    api.post(f"/campaigns/{campaign.pk}/launch")
    running = api.patch(f"/campaigns/{campaign.pk}", json={"name": "Again"})
    assert running.status_code == 409 and "pause it first" in running.json()["detail"]
    api.post(f"/campaigns/{campaign.pk}/pause")
    assert api.patch(f"/campaigns/{campaign.pk}", json={"max_attempts": 4}).json()["max_attempts"] == 4
    no_list_change = api.patch(f"/campaigns/{campaign.pk}", json={"list_id": campaign.contact_list_id})
    assert no_list_change.status_code == 409 and "cannot change" in no_list_change.json()["detail"]
    refused = api.delete(f"/campaigns/{campaign.pk}")
    assert refused.status_code == 409 and "Only a draft can be deleted" in refused.json()["detail"]
    api.post(f"/campaigns/{campaign.pk}/stop")

    draft = make_campaign(owner, [INTERESTED])
    assert api.delete(f"/campaigns/{draft.pk}").status_code == 204
    assert not Campaign.objects.filter(pk=draft.pk).exists()
    assert WorkspaceEvent.objects.get(action="campaign.delete").actor == owner


def test_a_first_campaign_launched_by_api_waits_for_staff_approval(api, owner, settings):
    settings.CAMPAIGN_APPROVAL_REQUIRED = True
    campaign = make_campaign(owner, [INTERESTED])

    waiting = api.post(f"/campaigns/{campaign.pk}/launch")

    assert waiting.status_code == 202, waiting.text
    assert waiting.json()["status"] == "draft" and "approval" in waiting.json()["status_reason"].lower()
    assert not Call.objects.exists()
