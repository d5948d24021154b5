"""The fake HubSpot is as strict as HubSpot where Clozit could go wrong (the real SDK against it)."""

import pytest

from integrations.hubspot.client import HubSpotClient, HubSpotError

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(fake_hubspot):
    return HubSpotClient(fake_hubspot.token)


def test_an_unknown_property_is_a_validation_error_naming_it(client, fake_hubspot):
    record = fake_hubspot.add_contact(firstname="Ann")
    with pytest.raises(HubSpotError) as refused:
        client.contact_update(object_id=record, properties={"firstname": "Anne", "favourite_colour": "blue"})
    assert refused.value.permanent and refused.value.status == 400
    assert "“favourite_colour” does not exist" in refused.value.message
    assert fake_hubspot.contacts[record].properties["firstname"] == "Ann"  # nothing half-written


def test_read_only_and_invalid_options_are_refused(client, fake_hubspot):
    record = fake_hubspot.add_contact(firstname="Ann")
    for properties in ({"hs_object_id": "7"}, {"hs_lead_status": "MAYBE"}):
        with pytest.raises(HubSpotError) as refused:
            client.contact_update(object_id=record, properties=properties)
        assert refused.value.status == 400
    client.contact_update(object_id=record, properties={"hs_lead_status": "CONNECTED"})


def test_an_unknown_contact_or_list_is_404(client, fake_hubspot):
    with pytest.raises(HubSpotError) as refused:
        client.contact_update(object_id="999999", properties={"firstname": "X"})
    assert refused.value.status == 404 and refused.value.permanent
    with pytest.raises(HubSpotError):
        client.list_member_ids(list_id="999")


def test_pages_follow_cursors_and_a_forged_cursor_is_refused(client, fake_hubspot):
    ids = [fake_hubspot.add_contact(firstname=f"P{i}", phone=f"+1202555{i:04d}") for i in range(250)]
    seen, after, pages = [], None, 0
    while True:
        page, after = client.contacts_page(properties=["firstname"], after=after)
        seen += [r.object_id for r in page]
        pages += 1
        if not after:
            break
    assert seen == ids and pages == 3
    with pytest.raises(HubSpotError) as refused:
        client.contacts_page(properties=["firstname"], after="not-a-cursor")
    assert refused.value.status == 400


def test_a_batch_read_with_unknown_ids_returns_the_others(client, fake_hubspot):
    record = fake_hubspot.add_contact(firstname="Ann", phone="+12025550101")
    found = client.contacts_read(ids=[record, "424242"], properties=["firstname", "phone"])
    assert [(r.object_id, r.properties["phone"]) for r in found] == [(record, "+12025550101")]


def test_rate_limit_says_how_long_to_wait(client, fake_hubspot):
    fake_hubspot.fail_next("GET", "/crm/v3/properties/", 429)
    with pytest.raises(HubSpotError) as limited:
        client.contact_properties()
    assert not limited.value.permanent and limited.value.retry_after == 1
    assert client.contact_properties()


def test_search_by_phone_ors_the_phone_properties(client, fake_hubspot):
    fake_hubspot.add_contact(firstname="Ann", phone="+12025550101")
    bob = fake_hubspot.add_contact(firstname="Bob", mobilephone="+12025550102")
    assert client.contact_find_by_phone(phone_number="+12025550102", properties=["phone", "mobilephone"]) == bob
    assert client.contact_find_by_phone(phone_number="+12025550199", properties=["phone", "mobilephone"]) is None
