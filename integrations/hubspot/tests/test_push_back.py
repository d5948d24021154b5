"""Writing back to HubSpot: a finished call's outcome, answers and a note reach the HubSpot
contact it called, exactly once, after the event's transaction commits; opt-outs set the property
the workspace chose; HubSpot's rate limit is waited out; what HubSpot refuses is shown with a
retry button."""

import html
from datetime import timedelta

import django_rq
import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Agent, Call
from clozit import events
from integrations.hubspot import services
from integrations.hubspot.jobs import hubspot_push
from integrations.hubspot.models import PushBack

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def imported(user, connected, fake_hubspot, run_jobs):
    """Two HubSpot contacts imported into a list; returns {phone: (contact, record id)}."""
    ann = fake_hubspot.add_contact(firstname="Ann", phone="+12025550101")
    bob = fake_hubspot.add_contact(firstname="Bob", phone="+12025550102")
    fake_hubspot.add_list("Leads", [ann, bob])
    services.hubspot_import_start(
        workspace=user.personal_workspace,
        connection=connected,
        source_list_id=next(iter(fake_hubspot.lists)),
        source_name="Leads",
        mapping={"phone": "phone", "first_name": "firstname"},
        variables={},
        name="Leads",
        default_country="US",
        by=user,
    )
    run_jobs()
    contacts = {c.phone_number: c for c in user.personal_workspace.contact_lists.get().contacts.all()}
    return {"+12025550101": (contacts["+12025550101"], ann), "+12025550102": (contacts["+12025550102"], bob)}


def configure(connected, **changes):
    fields = {
        "outcome_property": "clozit_outcome",
        "answer_properties": {"preferred_time": "preferred_time"},
        "write_notes": True,
        "opt_out_property": "do_not_call",
        "opt_out_value": "true",
    } | changes
    for name, value in fields.items():
        setattr(connected, name, value)
    connected.save()


@pytest.fixture
def portal_properties(fake_hubspot):
    fake_hubspot.add_property("clozit_outcome", "Clozit outcome")
    fake_hubspot.add_property("preferred_time", "Preferred time")
    fake_hubspot.add_property(
        "do_not_call",
        "Do not call",
        type="bool",
        field_type="booleancheckbox",
        options=[
            {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False, "description": ""},
            {"label": "No", "value": "false", "displayOrder": 1, "hidden": False, "description": ""},
        ],
    )


def finished_call(user, contact, **fields) -> Call:
    agent = Agent.objects.create(
        workspace=user.personal_workspace, name="Sam", capture_fields=[{"name": "preferred_time"}]
    )
    values = {
        "workspace": user.personal_workspace,
        "contact": contact,
        "agent": agent,
        "to_number": contact.phone_number,
        "from_number": "+14155550000",
        "provider": "simulated",
        "status": Call.Status.COMPLETED,
        "outcome": "interested",
        "captured": [["preferred_time", "Tuesday morning"]],
        "duration_seconds": 95,
        "answered_at": timezone.now() - timedelta(seconds=95),
        "ended_at": timezone.now(),
    } | fields
    return Call.objects.create(**values)


def publish(type, user, **data):
    """As campaigns will: inside the transaction that finished the call."""
    with transaction.atomic():
        events.publish(type=type, workspace_id=user.personal_workspace.pk, **data)


def test_a_call_result_reaches_its_contact_once(user, connected, fake_hubspot, imported, portal_properties, run_jobs):
    configure(connected)
    contact, record = imported["+12025550101"]
    call = finished_call(user, contact)
    publish(events.CALL_COMPLETED, user, call_id=call.pk)
    publish(events.CALL_COMPLETED, user, call_id=call.pk)  # heard twice
    assert PushBack.objects.count() == 1
    run_jobs()
    push = PushBack.objects.get()
    hubspot_push(push.pk)  # the job run again
    push.refresh_from_db()
    assert push.status == PushBack.Status.SENT and push.object_id == record

    properties = fake_hubspot.contacts[record].properties
    assert properties["clozit_outcome"] == "interested"
    assert properties["preferred_time"] == "Tuesday morning"
    assert "clozit_outcome" not in fake_hubspot.contacts[imported["+12025550102"][1]].properties
    assert len(fake_hubspot.calls("PATCH", f"/crm/v3/objects/contacts/{record}")) == 1
    [note] = fake_hubspot.notes_of(record)
    body = note["properties"]["hs_note_body"]
    assert "Interested" in body and "1 min 35 s" in body and "Tuesday morning" in body
    assert reverse("call_detail", args=[call.pk]) in body
    # No search was needed: the list remembered the record.
    assert not fake_hubspot.calls("POST", "/crm/v3/objects/contacts/search")


def test_a_call_to_a_number_not_imported_from_hubspot_finds_the_contact_by_phone(
    user, connected, fake_hubspot, portal_properties, run_jobs
):
    configure(connected, write_notes=False)
    record = fake_hubspot.add_contact(firstname="Cy", mobilephone="+12025550199")
    from campaigns.tests.factories import make_list

    contact = make_list(user, ["+12025550199"]).contacts.get()
    call = finished_call(user, contact, outcome="call_back", captured=[])
    publish(events.CALL_COMPLETED, user, call_id=call.pk)
    run_jobs()
    assert PushBack.objects.get().status == PushBack.Status.SENT
    assert fake_hubspot.contacts[record].properties["clozit_outcome"] == "call_back"


def test_an_opt_out_sets_the_chosen_property(user, connected, fake_hubspot, imported, portal_properties, run_jobs):
    configure(connected)
    contact, record = imported["+12025550102"]
    call = finished_call(user, contact, outcome="do_not_call", captured=[])
    publish(events.CONTACT_OPTED_OUT, user, phone_number=contact.phone_number, call_id=call.pk)
    publish(events.CONTACT_OPTED_OUT, user, phone_number=contact.phone_number, call_id=call.pk)
    run_jobs()
    push = PushBack.objects.get(kind=PushBack.Kind.OPT_OUT)
    assert push.status == PushBack.Status.SENT
    assert fake_hubspot.contacts[record].properties["do_not_call"] == "true"


def test_hubspot_rate_limit_is_waited_out_then_sent(
    user, connected, fake_hubspot, imported, portal_properties, run_jobs
):
    configure(connected, write_notes=False)
    contact, record = imported["+12025550101"]
    call = finished_call(user, contact)
    fake_hubspot.fail_next("PATCH", "/crm/v3/objects/contacts/", 429)
    publish(events.CALL_COMPLETED, user, call_id=call.pk)
    run_jobs()
    push = PushBack.objects.get()
    assert push.status == PushBack.Status.RETRYING and push.attempts == 1
    assert "rate limit" in push.last_error
    assert push.next_attempt_at >= timezone.now() + timedelta(seconds=50)
    # The retry waits in RQ's schedule, for the worker's scheduler to run.
    assert django_rq.get_queue("default").scheduled_job_registry.get_job_ids()
    hubspot_push(push.pk)  # what the scheduler runs when the time comes
    push.refresh_from_db()
    assert push.status == PushBack.Status.SENT and push.attempts == 2 and push.last_error == ""
    assert fake_hubspot.contacts[record].properties["clozit_outcome"] == "interested"


def test_a_server_error_is_retried_too(user, connected, fake_hubspot, imported, portal_properties, run_jobs):
    configure(connected, write_notes=False)
    contact, _ = imported["+12025550101"]
    fake_hubspot.fail_next("PATCH", "/crm/v3/objects/contacts/", 502)
    publish(events.CALL_COMPLETED, user, call_id=finished_call(user, contact).pk)
    run_jobs()
    assert PushBack.objects.get().status == PushBack.Status.RETRYING


def test_an_unknown_property_is_a_visible_failure_with_a_retry(
    client, user, connected, fake_hubspot, imported, portal_properties, run_jobs, django_capture_on_commit_callbacks
):
    configure(connected, outcome_property="outcome_that_was_deleted", write_notes=False)
    contact, record = imported["+12025550101"]
    publish(events.CALL_COMPLETED, user, call_id=finished_call(user, contact).pk)
    run_jobs()
    push = PushBack.objects.get()
    assert push.status == PushBack.Status.FAILED and push.attempts == 1  # not retried: HubSpot will refuse again
    assert "“outcome_that_was_deleted” does not exist" in push.last_error

    client.force_login(user)
    page = html.unescape(client.get(reverse("hubspot_home")).content.decode())
    assert "“outcome_that_was_deleted” does not exist" in page
    assert 'data-testid="hubspot-push-retry"' in page

    configure(connected, outcome_property="clozit_outcome", write_notes=False)
    response = client.post(reverse("hubspot_push_retry"), {"push": push.pk})
    assert response.status_code == 302
    run_jobs()
    push.refresh_from_db()
    assert push.status == PushBack.Status.SENT
    assert fake_hubspot.contacts[record].properties["clozit_outcome"] == "interested"


def test_a_deleted_hubspot_contact_is_a_permanent_failure(
    user, connected, fake_hubspot, imported, portal_properties, run_jobs
):
    configure(connected)
    contact, record = imported["+12025550101"]
    del fake_hubspot.contacts[record]
    publish(events.CALL_COMPLETED, user, call_id=finished_call(user, contact).pk)
    run_jobs()
    push = PushBack.objects.get()
    assert push.status == PushBack.Status.FAILED and "no such record" in push.last_error


def test_workspaces_without_hubspot_write_nothing(user, fake_hubspot, run_jobs):
    from campaigns.tests.factories import make_list

    contact = make_list(user, ["+12025550101"]).contacts.get()
    publish(events.CALL_COMPLETED, user, call_id=finished_call(user, contact).pk)
    assert not PushBack.objects.exists()


def test_an_event_rolled_back_sends_nothing(user, connected, fake_hubspot, imported, portal_properties, run_jobs):
    configure(connected)
    contact, _ = imported["+12025550101"]
    call = finished_call(user, contact)
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish(type=events.CALL_COMPLETED, workspace_id=user.personal_workspace.pk, call_id=call.pk)
        raise RuntimeError("the call's transaction failed")
    run_jobs()
    assert not PushBack.objects.exists() and not fake_hubspot.calls("PATCH", "/crm/v3/objects/contacts/")


def test_a_call_nobody_answered_leaves_a_note_and_no_outcome(
    user, connected, fake_hubspot, imported, portal_properties, run_jobs
):
    configure(connected)
    contact, record = imported["+12025550102"]
    call = finished_call(user, contact, status=Call.Status.NO_ANSWER, outcome="", captured=[], duration_seconds=0)
    publish(events.CALL_FAILED, user, call_id=call.pk)
    run_jobs()
    assert PushBack.objects.get().status == PushBack.Status.SENT
    assert "clozit_outcome" not in fake_hubspot.contacts[record].properties
    [note] = fake_hubspot.notes_of(record)
    assert "No answer" in note["properties"]["hs_note_body"]


def test_a_revoked_token_is_a_permanent_failure(user, connected, fake_hubspot, imported, portal_properties, run_jobs):
    configure(connected)
    contact, _ = imported["+12025550101"]
    fake_hubspot.token = "pat-na1-rotated"  # the private app's token was rotated in HubSpot
    publish(events.CALL_COMPLETED, user, call_id=finished_call(user, contact).pk)
    run_jobs()
    push = PushBack.objects.get()
    assert push.status == PushBack.Status.FAILED and "refused the access token" in push.last_error


def test_disconnecting_fails_what_was_not_yet_sent(user, connected, fake_hubspot, imported, portal_properties):
    configure(connected)
    contact, _ = imported["+12025550101"]
    publish(events.CALL_COMPLETED, user, call_id=finished_call(user, contact).pk)  # queued, not yet run
    services.hubspot_disconnect(workspace=user.personal_workspace, by=user)
    push = PushBack.objects.get()
    assert push.status == PushBack.Status.FAILED and "disconnected" in push.last_error
    hubspot_push(push.pk)  # the queued job, run after all
    assert not fake_hubspot.calls("PATCH", "/crm/v3/objects/contacts/")
