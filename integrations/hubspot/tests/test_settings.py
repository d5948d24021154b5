"""What is written back is chosen on the HubSpot page from the portal's own properties."""

import html

import pytest
from django.urls import reverse

from accounts.models import WorkspaceEvent
from campaigns.models import Agent
from integrations.hubspot.models import Connection

pytestmark = pytest.mark.django_db


def test_choosing_the_properties_written_back(client, user, connected, fake_hubspot):
    fake_hubspot.add_property("clozit_outcome", "Clozit outcome")
    fake_hubspot.add_property("do_not_call", "Do not call", type="bool", field_type="booleancheckbox")
    Agent.objects.create(workspace=user.personal_workspace, name="Sam", capture_fields=[{"name": "budget"}])
    client.force_login(user)
    page = html.unescape(client.get(reverse("hubspot_home")).content.decode())
    assert "Clozit outcome (clozit_outcome)" in page
    assert "Answer “budget” goes to" in page
    assert "Record ID (hs_object_id)" not in page  # read-only: never offered for writing

    response = client.post(
        reverse("hubspot_settings"),
        {
            "outcome_property": "clozit_outcome",
            "answer_0": "jobtitle",
            "write_notes": "on",
            "opt_out_property": "do_not_call",
            "opt_out_value": "true",
        },
    )
    assert response.status_code == 302
    connection = Connection.objects.get()
    assert connection.outcome_property == "clozit_outcome"
    assert connection.answer_properties == {"budget": "jobtitle"}
    assert connection.opt_out_property == "do_not_call" and connection.write_notes
    assert WorkspaceEvent.objects.filter(action="hubspot.settings").count() == 1
    page = html.unescape(client.get(reverse("hubspot_home")).content.decode())
    assert '<option value="clozit_outcome" selected>' in page


def test_a_property_the_portal_does_not_have_is_refused(client, user, connected, fake_hubspot):
    client.force_login(user)
    response = client.post(reverse("hubspot_settings"), {"outcome_property": "no_such_property"})
    assert response.status_code == 200
    assert "Select a valid choice" in html.unescape(response.content.decode())
    assert Connection.objects.get().outcome_property == ""
