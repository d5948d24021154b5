"""POST /api/v1/calls: one call placed now. It passes the dialer's checks (workspace in good
standing, credits held, the callee's calling window, both do-not-call lists, consent attested,
the limit of calls in progress) and then the dialer's own path: the simulated carrier dials it,
its webhooks come back to the served application, and the call ends with a transcript, settled
credits and books that balance (verify_ledger runs after every test)."""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from accounts.models import User, WorkspaceEvent
from billing import ledger
from billing.models import CreditHold
from campaigns.dialing.single import call_place_now
from campaigns.errors import CampaignError
from campaigns.models import Call, DoNotCall
from campaigns.tests.factories import SHARED_CALLER, make_agent
from integrations.api.keys import api_key_create
from integrations.api.tests.test_api_agents import Api, member
from telephony.models import PhoneNumber

pytestmark = pytest.mark.django_db(transaction=True)

INTERESTED = "+12025550101"  # the simulated callee who is interested (telephony/simulator.py)


@pytest.fixture
def live(transactional_db, asgi_server):
    """The whole application on a real port (tests/conftest.py's `live`, which this app's tests
    do not see): the simulated carrier's webhooks and relay sockets come back to it."""
    return SimpleNamespace(url=asgi_server)


@pytest.fixture
def owner():
    user = member("ada@example.com")
    ledger.credit_post(workspace=user.personal_workspace, amount=Decimal(500), kind="staff_adjustment", reference="t")
    PhoneNumber.objects.create(number=SHARED_CALLER, provider="simulated", label="Shared")
    return user


@pytest.fixture
def api(live, owner):
    key = api_key_create(workspace=owner.personal_workspace, by=owner, name="CRM", scope="write")
    return Api(live.url, key.secret)


def place(api, agent, to=INTERESTED, **fields):
    return api.post("/calls", json={"agent_id": agent.pk, "to": to, "consent": True, **fields})


@pytest.mark.parametrize("transport", ["gather", "relay"])
def test_a_call_placed_now_is_dialled_talks_and_is_billed(api, owner, run_jobs, transport):
    agent = make_agent(owner, transport=transport)
    response = place(api, agent, variables={"first_name": "Ann", "company": "Initech"})
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] == "queued" and queued["to"] == INTERESTED and queued["caller_number"] == SHARED_CALLER
    assert queued["campaign_id"] is None and queued["agent_id"] == agent.pk
    hold = CreditHold.objects.get(reference=f"call:{queued['id']}")
    assert hold.amount == ledger.call_cost(seconds=agent.max_call_seconds)

    run_jobs()

    call = Call.objects.get(pk=queued["id"])
    assert call.status == Call.Status.COMPLETED, (call.status, call.failure_reason)
    detail = api.get(f"/calls/{call.pk}").json()
    assert detail["status"] == "completed" and detail["outcome"] == "interested"
    lines = detail["transcript"]
    # The agent's lines were filled in from the call's own variables (there is no contact).
    assert lines[0]["speaker"] == "agent" and lines[0]["text"].startswith("Hi Ann, this is Sam from Acme.")
    assert any(line["speaker"] == "callee" for line in lines)
    assert detail["answers"], detail
    assert detail["duration_seconds"] > 0
    assert Decimal(detail["credits_charged"]) == ledger.call_cost(seconds=detail["duration_seconds"])
    hold.refresh_from_db()
    assert hold.status != CreditHold.Status.ACTIVE
    # Who placed it, and that they confirmed consent to call this person, is on record.
    event = WorkspaceEvent.objects.get(action="call.place")
    assert event.actor == owner and INTERESTED in event.summary and "consent" in event.summary
    assert call.engine_state["consent"]["by"] == owner.pk


def test_a_number_on_either_do_not_call_list_is_refused(api, owner):
    agent = make_agent(owner)
    DoNotCall.objects.create(workspace=owner.personal_workspace, phone_number="+12025550102")
    DoNotCall.objects.create(workspace=None, phone_number="+12025550103")
    own = place(api, agent, to="+12025550102")
    assert own.status_code == 409 and "your do-not-call list" in own.json()["detail"]
    platform = place(api, agent, to="+12025550103")
    assert platform.status_code == 409 and "platform-wide do-not-call list" in platform.json()["detail"]
    assert not Call.objects.exists() and not CreditHold.objects.exists()


def test_outside_the_callees_calling_window_it_says_when_calling_opens(api, owner, settings, monkeypatch):
    settings.CALLING_WINDOWS_ENFORCED = True
    # Monday 22:00 in New York: the US window (08:00-21:00) is closed until Tuesday 08:00 there.
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2025, 1, 14, 3, 0, tzinfo=dt.UTC))
    refused = place(api, make_agent(owner), to="+12125550101")
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/outside-calling-hours")
    assert problem["opens_at"] == "2025-01-14T13:00:00+00:00"
    assert "opens at 08:00 callee time" in problem["detail"]
    assert not Call.objects.exists()
    # The callee's own zone, when given, is the one that counts: 19:00 in Los Angeles is open.
    accepted = place(api, make_agent(owner), to="+12125550101", time_zone="America/Los_Angeles")
    assert accepted.status_code == 202, accepted.text


def test_without_credits_nothing_is_placed(live):
    poor = User.objects.create_user(email="poor@example.com", password="correct horse battery")
    PhoneNumber.objects.create(number=SHARED_CALLER, provider="simulated", label="Shared")
    api = Api(live.url, api_key_create(workspace=poor.personal_workspace, by=poor, name="K", scope="write").secret)
    refused = place(api, make_agent(poor))
    assert refused.status_code == 409
    assert "You need at least 10 credits" in refused.json()["detail"]
    assert not Call.objects.exists()


def test_a_suspended_workspace_places_no_call(api, owner):
    agent = make_agent(owner)
    workspace = owner.personal_workspace
    workspace.status = workspace.Status.SUSPENDED
    workspace.save(update_fields=["status"])
    refused = place(api, agent)
    assert refused.status_code == 403 and refused.json()["title"] == "Workspace not active"
    # The rule itself, behind the key's check: the service refuses a workspace that cannot dial.
    with pytest.raises(CampaignError, match="suspended"):
        call_place_now(workspace=workspace, agent=agent, to=INTERESTED, by=owner, consent=True)
    assert not Call.objects.exists()


def test_another_workspaces_agent_is_not_found(api, owner):
    stranger = member("eve@example.com")
    refused = place(api, make_agent(stranger))
    assert refused.status_code == 404 and refused.json()["title"] == "Not found"
    assert not Call.objects.exists()


def test_consent_must_be_attested_and_fields_valid(api, owner):
    agent = make_agent(owner)
    no_consent = api.post("/calls", json={"agent_id": agent.pk, "to": INTERESTED, "consent": False})
    assert no_consent.status_code == 422 and no_consent.json()["errors"][0]["field"] == "consent"
    missing = api.post("/calls", json={"agent_id": agent.pk, "to": INTERESTED})
    assert missing.status_code == 422
    assert any(error["field"].endswith("consent") for error in missing.json()["errors"])
    not_a_number = place(api, agent, to="12")
    assert not_a_number.status_code == 409 and "not usable" in not_a_number.json()["detail"]
    not_ours = place(api, agent, caller_number="+12025550199")
    assert not_ours.status_code == 409 and "not one of your numbers" in not_ours.json()["detail"]
    assert not Call.objects.exists()


def test_the_limit_of_calls_in_progress_holds(api, owner):
    workspace = owner.personal_workspace
    workspace.max_concurrent_calls = 1
    workspace.save(update_fields=["max_concurrent_calls"])
    agent = make_agent(owner)
    assert place(api, agent).status_code == 202  # queued: its dial job is not run here
    refused = place(api, agent, to="+12025550120")
    assert refused.status_code == 409 and "1 calls in progress, its limit" in refused.json()["detail"]
    assert Call.objects.count() == 1
    # The queued call still holds its credits: released when it is canceled, so the books balance.
    from campaigns.calls.services import call_finish

    call_finish(call_id=Call.objects.get().pk, status=Call.Status.CANCELED, reason="Test over")


def test_a_read_key_places_no_call(live, owner):
    key = api_key_create(workspace=owner.personal_workspace, by=owner, name="BI", scope="read")
    refused = place(Api(live.url, key.secret), make_agent(owner))
    assert refused.status_code == 403
    assert not Call.objects.exists()


def test_the_dialer_checks_the_window_again_before_it_dials(api, owner, settings, monkeypatch, run_jobs):
    settings.CALLING_WINDOWS_ENFORCED = True
    clock = {"now": dt.datetime(2025, 1, 13, 20, 59, tzinfo=dt.UTC)}  # Monday 15:59 in New York: open
    monkeypatch.setattr(timezone, "now", lambda: clock["now"])
    placed = place(api, make_agent(owner), to="+12125550101")
    assert placed.status_code == 202, placed.text
    # The dial job runs late, after the window closed (a queue backed up, a worker restarted).
    clock["now"] = dt.datetime(2025, 1, 14, 3, 0, tzinfo=dt.UTC)
    run_jobs()
    call = Call.objects.get(pk=placed.json()["id"])
    assert call.status == Call.Status.CANCELED and call.failure_reason.startswith("Outside calling hours")
    assert call.dialing_started_at is None and call.provider_call_id == ""
    assert call.credits_charged == 0
    assert not CreditHold.objects.filter(reference=f"call:{call.pk}", status=CreditHold.Status.ACTIVE).exists()


def test_a_number_without_a_known_zone_is_called_only_with_one(api, owner, settings, monkeypatch):
    settings.CALLING_WINDOWS_ENFORCED = True
    # 20:00 UTC: 10:00 the next morning on Kiritimati (UTC+14), inside the default legal window.
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2025, 1, 13, 20, 0, tzinfo=dt.UTC))
    agent = make_agent(owner)
    refused = place(api, agent, to="+80012345678")  # international freephone: no zone of its own
    assert refused.status_code == 409 and "send the callee's time zone" in refused.json()["detail"]
    given = place(api, agent, to="+80012345678", time_zone="Pacific/Kiritimati")
    assert given.status_code == 202, given.text
