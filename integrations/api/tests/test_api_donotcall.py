"""The do-not-call list by API, over real HTTP: the same rules as its page (numbers normalised to
E.164 in the workspace's country, through the page's service), one workspace's rows only, cursor
pages."""

from types import SimpleNamespace

import pytest
import requests

from campaigns.contacts.donotcall import dnc_add
from campaigns.models import DoNotCall

from .test_api_auth import assert_problem, bearer
from .test_keys import make_key, make_owner


@pytest.fixture
def live(transactional_db, asgi_server):
    return SimpleNamespace(url=asgi_server)


def test_adding_a_number_normalises_it_and_lists_it(live):
    owner = make_owner("ada@example.com")
    secret = make_key(owner)
    url = f"{live.url}/api/v1/do-not-call"

    added = requests.post(url, json={"phone_number": "(415) 555-0199", "reason": "Asked"}, headers=bearer(secret))
    again = requests.post(url, json={"phone_number": "+1 415 555 0199"}, headers=bearer(secret))
    bad = requests.post(url, json={"phone_number": "12"}, headers=bearer(secret))

    assert added.status_code == 201
    entry = added.json()
    assert (entry["phone_number"], entry["reason"]) == ("+14155550199", "Asked")
    assert entry["created_at"].endswith("Z") or "+" in entry["created_at"]  # ISO 8601 with its offset
    assert again.status_code == 200 and again.json()["id"] == entry["id"]
    problem = assert_problem(bad, 422)
    assert problem["errors"][0]["field"] == "phone_number"
    listed = requests.get(url, headers=bearer(secret)).json()
    assert [e["phone_number"] for e in listed["items"]] == ["+14155550199"] and listed["next_cursor"] is None


def test_search_and_cursor_pages_walk_every_entry_once(live):
    owner = make_owner("ada@example.com")
    secret = make_key(owner)
    workspace = owner.personal_workspace
    numbers = [f"+1202555{n:04d}" for n in range(101, 108)]
    for number in numbers:
        dnc_add(workspace=workspace, phone_number=number, reason="imported")
    dnc_add(workspace=workspace, phone_number="+14155550111", reason="Asked on a call")

    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{live.url}/api/v1/do-not-call", params=params, headers=bearer(secret)).json()
        assert len(page["items"]) <= 3
        seen += [e["phone_number"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == ["+14155550111", *reversed(numbers)]  # newest first, each once
    by_digits = requests.get(f"{live.url}/api/v1/do-not-call", params={"q": "5550103"}, headers=bearer(secret))
    by_reason = requests.get(f"{live.url}/api/v1/do-not-call", params={"q": "on a call"}, headers=bearer(secret))
    assert [e["phone_number"] for e in by_digits.json()["items"]] == ["+12025550103"]
    assert [e["phone_number"] for e in by_reason.json()["items"]] == ["+14155550111"]
    assert_problem(requests.get(f"{live.url}/api/v1/do-not-call", params={"cursor": "!!"}, headers=bearer(secret)), 400)


def test_one_workspaces_key_neither_sees_nor_removes_anothers_entries(live):
    alice, bob = make_owner("ada@example.com"), make_owner("bob@example.com")
    entry = dnc_add(workspace=alice.personal_workspace, phone_number="+14155550199")
    DoNotCall.objects.create(workspace=None, phone_number="+14155550100", reason="platform-wide")
    alice_key, bob_key = make_key(alice), make_key(bob)
    url = f"{live.url}/api/v1/do-not-call"

    assert requests.get(url, headers=bearer(bob_key)).json()["items"] == []
    assert_problem(requests.delete(f"{url}/{entry.pk}", headers=bearer(bob_key)), 404)
    assert DoNotCall.objects.filter(pk=entry.pk).exists()

    assert [e["id"] for e in requests.get(url, headers=bearer(alice_key)).json()["items"]] == [entry.pk]
    assert requests.delete(f"{url}/{entry.pk}", headers=bearer(alice_key)).status_code == 204
    assert not DoNotCall.objects.filter(pk=entry.pk).exists()
    assert_problem(requests.delete(f"{url}/{entry.pk}", headers=bearer(alice_key)), 404)
