"""/api/v1/lists over real HTTP: lists made empty, with or without consent; contacts added one
at a time or many (the good rows added, each bad one reported by index and reason), changed and
deleted; everything of another workspace answered 404 and never listed."""

import pytest

from accounts.models import WorkspaceEvent
from campaigns.models import Contact, ContactList, DoNotCall
from campaigns.tests.factories import make_list
from integrations.api.keys import api_key_create
from integrations.api.tests.test_api_agents import Api, member

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner():
    return member("ada@example.com")


@pytest.fixture
def api(asgi_server, owner):
    return Api(
        asgi_server, api_key_create(workspace=owner.personal_workspace, by=owner, name="CRM", scope="write").secret
    )


@pytest.fixture
def other_api(asgi_server):
    stranger = member("eve@example.com")
    return Api(
        asgi_server, api_key_create(workspace=stranger.personal_workspace, by=stranger, name="E", scope="write").secret
    )


def test_a_list_is_made_filled_changed_and_emptied(api, owner):
    created = api.post("/lists", json={"name": "  Spring   leads ", "tags": ["vip", "VIP", "spring"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "Spring leads" and body["tags"] == ["vip", "spring"]
    assert body["consent_confirmed"] is False and body["contact_count"] == 0
    list_id = body["id"]

    one = api.post(
        f"/lists/{list_id}/contacts",
        json={"phone_number": "(415) 555-0101", "first_name": "Ann", "variables": {"Company Name": "Acme"}},
    )
    assert one.status_code == 201, one.text
    assert one.json()["phone_number"] == "+14155550101"  # read in the workspace's country, stored E.164
    assert one.json()["variables"] == {"company_name": "Acme"}
    contact_id = one.json()["id"]

    changed = api.patch(f"/lists/{list_id}/contacts/{contact_id}", json={"time_zone": "america/los_angeles"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["time_zone"] == "America/Los_Angeles" and changed.json()["first_name"] == "Ann"
    bad_zone = api.patch(f"/lists/{list_id}/contacts/{contact_id}", json={"time_zone": "Mars/Olympus"})
    assert bad_zone.status_code == 422
    assert bad_zone.json()["errors"][0]["field"] == "time_zone"

    assert api.get(f"/lists/{list_id}").json()["contact_count"] == 1
    assert api.get(f"/lists/{list_id}/contacts/{contact_id}").json()["first_name"] == "Ann"
    assert api.delete(f"/lists/{list_id}/contacts/{contact_id}").status_code == 204
    assert api.get(f"/lists/{list_id}/contacts").json() == {"data": [], "next_cursor": None}

    renamed = api.patch(f"/lists/{list_id}", json={"name": "Summer leads"})
    assert renamed.json()["name"] == "Summer leads" and renamed.json()["tags"] == ["vip", "spring"]
    assert api.delete(f"/lists/{list_id}").status_code == 204
    assert not ContactList.objects.filter(pk=list_id).exists()
    assert WorkspaceEvent.objects.get(action="list.delete").actor == owner


def test_many_contacts_add_the_good_rows_and_report_each_bad_one(api, owner):
    list_id = api.post("/lists", json={"name": "Leads"}).json()["id"]
    api.post(f"/lists/{list_id}/contacts", json={"phone_number": "+14155550100"})
    DoNotCall.objects.create(workspace=owner.personal_workspace, phone_number="+14155550104")
    DoNotCall.objects.create(workspace=None, phone_number="+14155550105")
    rows = [
        {"phone_number": "+14155550101", "first_name": "Ann"},
        {"phone_number": "not a number"},
        {"phone_number": "+14155550101", "first_name": "Ann again"},
        {"phone_number": "+14155550100"},
        {"phone_number": "+14155550104"},
        {"phone_number": "+14155550105"},
        {"phone_number": "+14155550106", "time_zone": "Nowhere/Land"},
        {"phone_number": "415-555-0107", "tags": ["new"]},
    ]
    response = api.post(f"/lists/{list_id}/contacts/batch", json=rows)
    assert response.status_code == 200, response.text
    report = response.json()
    assert [c["phone_number"] for c in report["added"]] == ["+14155550101", "+14155550107"]
    rejected = {r["index"]: r for r in report["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5, 6]
    assert "is not a phone number" in rejected[1]["reason"]
    assert "already appears at index 0" in rejected[2]["reason"]
    assert "already in this list" in rejected[3]["reason"]
    assert "your do-not-call list" in rejected[4]["reason"]
    assert "platform-wide do-not-call list" in rejected[5]["reason"]
    assert rejected[6]["field"] == "time_zone"
    assert Contact.objects.filter(contact_list_id=list_id).count() == 3

    # One contact that cannot be added is a 422 naming the field.
    duplicate = api.post(f"/lists/{list_id}/contacts", json={"phone_number": "+14155550101"})
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"] == [{"field": "phone_number", "message": "+14155550101 is already in this list"}]


def test_consent_is_recorded_with_the_keys_member(api, owner):
    with_consent = api.post("/lists", json={"name": "Opted in", "consent": True}).json()
    assert with_consent["consent_confirmed"] is True
    assert ContactList.objects.get(pk=with_consent["id"]).consent_confirmed_by == owner

    list_id = api.post("/lists", json={"name": "Later"}).json()["id"]
    refused = api.post(f"/lists/{list_id}/consent", json={"consent": False})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "consent"
    confirmed = api.post(f"/lists/{list_id}/consent", json={"consent": True})
    assert confirmed.json()["consent_confirmed"] is True and confirmed.json()["consent_confirmed_at"]
    assert ContactList.objects.get(pk=list_id).consent_confirmed_by == owner


def test_validation_errors_name_the_field(api):
    response = api.post("/lists", json={"tags": "not a list"})
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert any(field.endswith("name") for field in fields) and any(field.endswith("tags") for field in fields)


def test_contacts_page_by_cursor(api, owner):
    contact_list = make_list(owner, [f"+1415555{n:04d}" for n in range(7)])
    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/lists/{contact_list.pk}/contacts", params=params).json()
        pages.append([c["phone_number"] for c in page["data"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(n for p in pages for n in p) == [f"+1415555{n:04d}" for n in range(7)]


def test_another_workspaces_lists_and_contacts_are_not_found(api, other_api, owner):
    contact_list = make_list(owner, ["+14155550101"])
    contact = contact_list.contacts.get()
    base, one = f"/lists/{contact_list.pk}", f"/lists/{contact_list.pk}/contacts/{contact.pk}"
    for response in (
        other_api.get(base),
        other_api.patch(base, json={"name": "Mine"}),
        other_api.delete(base),
        other_api.post(f"{base}/consent", json={"consent": True}),
        other_api.get(f"{base}/contacts"),
        other_api.post(f"{base}/contacts", json={"phone_number": "+14155550199"}),
        other_api.post(f"{base}/contacts/batch", json=[{"phone_number": "+14155550199"}]),
        other_api.get(one),
        other_api.patch(one, json={"first_name": "Eve"}),
        other_api.delete(one),
    ):
        assert response.status_code == 404, (response.request.method, response.request.url, response.text)
    assert other_api.get("/lists").json()["data"] == []
    # A contact of one list is not found under another list of the same workspace either.
    elsewhere = make_list(owner, ["+14155550102"], name="Other")
    assert api.get(f"/lists/{elsewhere.pk}/contacts/{contact.pk}").status_code == 404
    contact.refresh_from_db()
    assert contact.first_name == "Person0" and contact_list.contacts.count() == 1
