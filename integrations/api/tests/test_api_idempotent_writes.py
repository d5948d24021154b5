"""Idempotency-Key on the two writes a client most needs to retry safely: placing one call and
launching a campaign. A request repeated with its key (a timeout, a crashed client, two workers
racing) gets the first answer back and nothing happens twice: one call, one credit hold, one
launch in the activity log."""

import threading

import pytest

from accounts.models import WorkspaceEvent
from billing.models import CreditHold
from campaigns.models import Call, Campaign
from campaigns.tests.factories import make_agent, make_campaign
from integrations.api.tests.test_api_place_call import INTERESTED, api, live, owner  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_placing_a_call_twice_with_one_key_places_one_call(api, owner):  # noqa: F811
    agent = make_agent(owner)
    body = {"agent_id": agent.pk, "to": INTERESTED, "consent": True}
    first = api.post("/calls", json=body, headers={"Idempotency-Key": "order-1182"})
    again = api.post("/calls", json=body, headers={"Idempotency-Key": "order-1182"})

    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Call.objects.count() == 1 and CreditHold.objects.count() == 1

    # The same key for another request is refused, and changes nothing.
    other = api.post("/calls", json={**body, "to": "+12025550102"}, headers={"Idempotency-Key": "order-1182"})
    assert other.status_code == 422 and other.headers["Content-Type"] == "application/problem+json"
    assert Call.objects.count() == 1

    # A new key is a new call.
    assert api.post("/calls", json=body, headers={"Idempotency-Key": "order-1183"}).status_code == 202
    assert Call.objects.count() == 2


def test_racing_retries_of_one_call_place_it_once(api, owner):  # noqa: F811
    agent = make_agent(owner)
    body = {"agent_id": agent.pk, "to": INTERESTED, "consent": True}
    answers = []

    def send():
        answers.append(api.post("/calls", json=body, headers={"Idempotency-Key": "race-7"}).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # The first places it; the others either replay its answer or hear it is still running.
    assert answers.count(202) >= 1 and set(answers) <= {202, 409}
    assert Call.objects.count() == 1 and CreditHold.objects.count() == 1


def test_launching_twice_with_one_key_launches_once_and_answers_the_same(api, owner):  # noqa: F811
    campaign = make_campaign(owner, [INTERESTED])
    first = api.post(f"/campaigns/{campaign.pk}/launch", headers={"Idempotency-Key": "launch-spring"})
    again = api.post(f"/campaigns/{campaign.pk}/launch", headers={"Idempotency-Key": "launch-spring"})

    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert WorkspaceEvent.objects.filter(action="campaign.launch").count() == 1
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING
    # Without the key, a second launch is the rules' refusal, as on the page.
    assert api.post(f"/campaigns/{campaign.pk}/launch").status_code == 409
