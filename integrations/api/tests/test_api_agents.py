"""/api/v1/agents over real HTTP: made and changed with the builder page's own rules, deleted with
an activity entry, refused to read-only keys, and invisible to every other workspace."""

import pytest
import requests
from django.utils import timezone

from accounts.models import User, WorkspaceEvent
from accounts.services import account_created
from campaigns.models import Agent
from campaigns.tests.factories import make_agent, make_campaign
from integrations.api.keys import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)


def member(email: str) -> User:
    user = User.objects.create_user(
        email=email, password="correct horse battery", mobile_number="", mobile_verified_at=timezone.now()
    )
    account_created(user=user)
    return user


class Api:
    """requests against the served application with one key."""

    def __init__(self, base: str, secret: str):
        self.base = base + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {secret}"

    def __getattr__(self, method):
        return lambda path, **kwargs: self.session.request(method.upper(), self.base + path, timeout=10, **kwargs)


@pytest.fixture
def owner():
    return member("ada@example.com")


@pytest.fixture
def api(asgi_server, owner):
    secret = api_key_create(workspace=owner.personal_workspace, by=owner, name="CRM", scope="write").secret
    return Api(asgi_server, secret)


@pytest.fixture
def other_api(asgi_server):
    stranger = member("eve@example.com")
    secret = api_key_create(workspace=stranger.personal_workspace, by=stranger, name="Eve", scope="write").secret
    return Api(asgi_server, secret)


AGENT = {
    "name": "Receptionist",
    "language": "en-US",
    "voice": "Polly.Joanna",
    "opening_line": "Hi {{first_name}}, this is Riley from Demo Dental.",
    "closing_line": "Thanks, goodbye!",
    "voicemail_action": "hangup",
    "questions": "Would you like to book a check-up?",
    "outcomes": [
        {"name": "booked", "description": "Booked a visit.", "kind": "positive"},
        {"name": "not_interested", "description": "Declined.", "kind": "negative"},
    ],
    "capture_fields": [{"name": "preferred_time", "description": "When they would like to come"}],
    "max_call_seconds": 120,
}


def test_an_agent_is_created_read_listed_changed_and_deleted(api, owner):
    created = api.post("/agents", json=AGENT)
    assert created.status_code == 201, created.text
    agent = created.json()
    assert agent["name"] == "Receptionist"
    assert [o["name"] for o in agent["outcomes"]] == ["booked", "not_interested"]
    assert agent["capture_fields"] == [{"name": "preferred_time", "description": "When they would like to come"}]
    assert agent["created_at"].endswith("Z") or "+" in agent["created_at"]

    assert api.get(f"/agents/{agent['id']}").json()["opening_line"] == AGENT["opening_line"]
    listed = api.get("/agents").json()
    assert [a["id"] for a in listed["data"]] == [agent["id"]] and listed["next_cursor"] is None

    # A change touches only the fields sent; the rest keep their values.
    changed = api.patch(f"/agents/{agent['id']}", json={"goal": "book a check-up", "record_calls": True})
    assert changed.status_code == 200, changed.text
    assert changed.json()["goal"] == "book a check-up" and changed.json()["record_calls"] is True
    stored = Agent.objects.get(pk=agent["id"])
    assert stored.questions == AGENT["questions"] and stored.capture_fields[0]["name"] == "preferred_time"

    assert api.delete(f"/agents/{agent['id']}").status_code == 204
    assert not Agent.objects.filter(pk=agent["id"]).exists()
    event = WorkspaceEvent.objects.get(action="agent.delete")
    assert event.actor == owner and "Receptionist" in event.summary


def test_agents_page_by_cursor(api, owner):
    for number in range(5):
        make_agent(owner, name=f"Agent {number}")
    first = api.get("/agents", params={"limit": 2}).json()
    second = api.get("/agents", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = api.get("/agents", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    names = [a["name"] for page in (first, second, third) for a in page["data"]]
    assert names == [f"Agent {n}" for n in (4, 3, 2, 1, 0)]
    assert third["next_cursor"] is None


def test_the_builders_rules_answer_422_naming_the_field(api):
    wrong = api.post("/agents", json={**AGENT, "voice": "Polly.Lea", "voicemail_action": "message"})
    assert wrong.status_code == 422
    assert wrong.headers["Content-Type"] == "application/problem+json"
    fields = {error["field"]: error["message"] for error in wrong.json()["errors"]}
    assert "does not speak English" in fields["voice"]
    assert "Write the message to leave" in fields["voicemail_message"]

    typed = api.post("/agents", json={**AGENT, "max_call_seconds": "long"})
    assert typed.status_code == 422
    assert any(error["field"].endswith("max_call_seconds") for error in typed.json()["errors"])
    assert not Agent.objects.exists()


def test_an_agent_a_campaign_uses_is_not_deleted(api, owner):
    campaign = make_campaign(owner, ["+12025550101"])
    refused = api.delete(f"/agents/{campaign.agent_id}")
    assert refused.status_code == 409
    assert "used by a campaign" in refused.json()["detail"]
    assert Agent.objects.filter(pk=campaign.agent_id).exists()


def test_a_read_key_reads_but_never_writes(asgi_server, owner):
    agent = make_agent(owner)
    key = api_key_create(workspace=owner.personal_workspace, by=owner, name="BI", scope="read")
    reader = Api(asgi_server, key.secret)
    assert reader.get(f"/agents/{agent.pk}").status_code == 200
    for response in (
        reader.post("/agents", json=AGENT),
        reader.patch(f"/agents/{agent.pk}", json={"name": "Other"}),
        reader.delete(f"/agents/{agent.pk}"),
    ):
        assert response.status_code == 403
        assert response.json()["title"] == "Read-only key"
    agent.refresh_from_db()
    assert agent.name == "Sales assistant"


def test_another_workspaces_agents_are_not_found(api, other_api, owner):
    agent = make_agent(owner)
    for response in (
        other_api.get(f"/agents/{agent.pk}"),
        other_api.patch(f"/agents/{agent.pk}", json={"name": "Mine now"}),
        other_api.delete(f"/agents/{agent.pk}"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["title"] == "Not found"
    assert other_api.get("/agents").json()["data"] == []
    agent.refresh_from_db()
    assert agent.name == "Sales assistant"
