"""Connecting HubSpot: the token is checked with HubSpot before it is kept, kept encrypted, shown
only by its last characters; a refused token says so and keeps nothing; disconnecting forgets it."""

import html

import pytest
from django.urls import reverse

from accounts.models import WorkspaceEvent
from integrations.hubspot.client import HubSpotClient, HubSpotError
from integrations.hubspot.models import Connection
from integrations.hubspot.tokens import token_decrypt

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_a_good_token_is_checked_with_hubspot_then_kept_encrypted(client, user, fake_hubspot):
    client.force_login(user)
    response = client.post(reverse("hubspot_connect"), {"token": f"  {fake_hubspot.token} "}, follow=True)
    assert response.status_code == 200
    connection = Connection.objects.get(workspace=user.personal_workspace)
    assert fake_hubspot.token not in connection.token_encrypted
    assert token_decrypt(connection.token_encrypted) == fake_hubspot.token
    assert connection.token_last4 == fake_hubspot.token[-4:]
    page = text(response)
    assert "HubSpot is connected." in page
    assert fake_hubspot.token not in page and fake_hubspot.token[-4:] in page
    # One request checked it: a contacts read, with the token as a bearer token.
    assert [r.path for r in fake_hubspot.requests][:1] == ["/crm/v3/objects/contacts"]
    assert WorkspaceEvent.objects.filter(workspace=user.personal_workspace, action="hubspot.connect").count() == 1


def test_a_refused_token_is_explained_and_nothing_is_kept(client, user, fake_hubspot):
    client.force_login(user)
    response = client.post(reverse("hubspot_connect"), {"token": "pat-na1-not-the-right-one"})
    assert response.status_code == 200
    assert "HubSpot refused the access token" in text(response)
    assert not Connection.objects.exists()
    assert not WorkspaceEvent.objects.filter(action="hubspot.connect").exists()


def test_the_fake_answers_a_wrong_token_as_hubspot_does(fake_hubspot):
    with pytest.raises(HubSpotError) as refused:
        HubSpotClient("pat-na1-wrong").check()
    assert refused.value.permanent and refused.value.status == 401


def test_disconnect_forgets_the_token(client, user, connected):
    client.force_login(user)
    response = client.post(reverse("hubspot_disconnect"), follow=True)
    assert "disconnected" in text(response)
    assert not Connection.objects.exists()
    assert WorkspaceEvent.objects.filter(action="hubspot.disconnect").count() == 1
    assert 'data-testid="hubspot-connect-form"' in text(response)


def test_a_member_reads_the_page_but_may_not_connect(client, user, fake_hubspot):
    from accounts.models import Membership, User

    viewer = User.objects.create_user(
        email="viewer@example.com", password="x" * 12, mobile_number="+14155550124", mobile_verified_at=user.date_joined
    )
    Membership.objects.create(workspace=user.personal_workspace, user=viewer, role=Membership.Role.MEMBER)
    client.force_login(viewer)
    session = client.session
    session["workspace_id"] = user.personal_workspace.pk
    session.save()
    page = client.get(reverse("hubspot_home"))
    assert page.status_code == 200
    assert 'data-testid="hubspot-connect-form"' not in text(page)
    assert client.post(reverse("hubspot_connect"), {"token": fake_hubspot.token}).status_code == 403
    assert not Connection.objects.exists()


def test_properties_and_lists_come_from_the_portal(connected, fake_hubspot):
    from integrations.hubspot.services import client_for

    ids = [fake_hubspot.add_contact(firstname=f"P{i}", phone=f"+1202555{i:04d}") for i in range(3)]
    fake_hubspot.add_list("Webinar leads", ids)
    fake_hubspot.add_list("Trade show", ids[:1])
    client = client_for(connected)
    names = {p.name for p in client.contact_properties()}
    assert {"firstname", "lastname", "phone", "email", "hs_lead_status"} <= names
    lists = client.contact_lists()
    assert [(item.name, item.size) for item in lists] == [("Webinar leads", 3), ("Trade show", 1)]
