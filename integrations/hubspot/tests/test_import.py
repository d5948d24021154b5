"""Importing from HubSpot: a list (or every contact with a phone number) read page by page in the
background, imported by the CSV import itself (its progress, its rejected rows with reasons, its
consent), each contact keeping the HubSpot record it came from."""

import html

import pytest
from django.urls import reverse

from campaigns.lifecycle.services import campaign_launch
from campaigns.models import Campaign, ContactList
from campaigns.tests.factories import SHARED_CALLER, make_agent
from integrations.hubspot.models import ListImport
from integrations.hubspot.services import hubspot_object_id

pytestmark = pytest.mark.django_db

N = 230  # three pages of list members (100 a page) and three batch reads


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def portal(fake_hubspot):
    """A portal with a list of N contacts: all callable but two without a phone, two with a
    number that is no number, and two that repeat an earlier contact's number."""
    ids = []
    for i in range(N):
        props = {"firstname": f"Ann{i}", "lastname": f"Lee{i}", "email": f"ann{i}@example.com", "company": f"Co {i}"}
        if i in (10, 150):
            pass  # no phone
        elif i in (20, 160):
            props["phone"] = "12"
        elif i in (30, 170):
            props["phone"] = f"(202) 555-{i - 29:04d}"  # the same number as contacts 1 and 141
        else:
            props["phone"] = f"(202) 555-{i:04d}"
        ids.append(fake_hubspot.add_contact(**props))
    fake_hubspot.add_list("Webinar leads", ids)
    return ids


@pytest.fixture
def start_import(django_capture_on_commit_callbacks):
    """POST the import form (jobs are queued as the request's transaction commits)."""

    def start(client, fake_hubspot, **changes):
        with django_capture_on_commit_callbacks(execute=True):
            return _post(client, fake_hubspot, **changes)

    return start


def _post(client, fake_hubspot, **changes):
    list_id = next(iter(fake_hubspot.lists), "")
    data = {
        "source": list_id,
        "name": "",
        "phone": "phone",
        "first_name": "firstname",
        "last_name": "lastname",
        "email": "email",
        "variables": ["company"],
        "default_country": "US",
        "consent": "on",
    } | changes
    return client.post(reverse("hubspot_import"), {k: v for k, v in data.items() if v is not None})


def test_a_list_across_pages_becomes_a_contact_list_that_remembers_each_record(
    client, user, connected, fake_hubspot, portal, run_jobs, start_import
):
    client.force_login(user)
    page = client.get(reverse("hubspot_import"))
    assert "Webinar leads (230 contacts)" in text(page)
    assert "Company Name (company)" in text(page)

    response = start_import(client, fake_hubspot)
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    assert response.status_code == 302 and response.url == reverse("contactlist_detail", args=[contact_list.pk])
    assert not fake_hubspot.calls("GET", "/crm/v3/lists/")  # nothing read in the request
    waiting = client.get(response.url)
    assert waiting.status_code == 200 and "HubSpot: Webinar leads" in text(waiting)

    run_jobs()
    contact_list.refresh_from_db()
    assert contact_list.import_status == ContactList.ImportStatus.DONE
    assert contact_list.name == "Webinar leads"
    assert contact_list.consent_confirmed_by == user
    assert contact_list.rows_imported == N - 6
    assert ListImport.objects.get(contact_list=contact_list).fetched == N

    # HubSpot was paged with its own cursors.
    pages = fake_hubspot.calls("GET", "/crm/v3/lists/")
    assert len(pages) == 3
    assert "after" not in pages[0].query and pages[1].query["after"] and pages[2].query["after"]
    assert len(fake_hubspot.calls("POST", "/crm/v3/objects/contacts/batch/read")) == 3

    reasons = sorted((r.value, r.reason) for r in contact_list.rejections.all())
    assert reasons == [
        ("", "the phone number is empty"),
        ("", "the phone number is empty"),
        ("+12025550001", "+12025550001 already appears on line 3"),
        ("+12025550141", "+12025550141 already appears on line 143"),
        ("12", "'12' is not a valid number for US"),
        ("12", "'12' is not a valid number for US"),
    ]

    # Every contact carries its HubSpot record, the one with its number.
    by_phone = {f"+1202555{i:04d}": record for i, record in enumerate(portal)}
    contacts = list(contact_list.contacts.all())
    assert len(contacts) == N - 6
    for contact in contacts:
        assert hubspot_object_id(contact=contact) == by_phone[contact.phone_number]
    ann = contact_list.contacts.get(phone_number="+12025550005")
    assert (ann.first_name, ann.last_name) == ("Ann5", "Lee5")
    assert ann.variables == {"email": "ann5@example.com", "company": "Co 5"}

    report = b"".join(client.get(reverse("contactlist_rejections", args=[contact_list.pk])).streaming_content)
    assert "already appears on line 3" in report.decode()

    # Consent was attested on the way in, so a campaign may call the list.
    campaign = Campaign.objects.create(
        workspace=user.personal_workspace,
        name="From HubSpot",
        agent=make_agent(user),
        contact_list=contact_list,
        caller_number=SHARED_CALLER,
    )
    from telephony.models import PhoneNumber

    PhoneNumber.objects.create(number=SHARED_CALLER, provider="simulated", label="Shared")
    campaign_launch(campaign=campaign, by=user)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


def test_without_consent_nothing_is_imported(client, user, connected, fake_hubspot, portal, start_import):
    client.force_login(user)
    response = start_import(client, fake_hubspot, consent=None)
    assert response.status_code == 200
    assert "Confirm that you have consent" in text(response)
    assert not ContactList.objects.exists()


def test_all_contacts_with_a_phone_number(client, user, connected, fake_hubspot, run_jobs, start_import):
    for i in range(5):
        fake_hubspot.add_contact(firstname=f"Bo{i}", **({"phone": f"+1202555{i:04d}"} if i % 2 == 0 else {}))
    client.force_login(user)
    start_import(client, fake_hubspot, source="", name="Everyone")
    run_jobs()
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    assert contact_list.import_status == ContactList.ImportStatus.DONE
    assert sorted(contact_list.contacts.values_list("first_name", flat=True)) == ["Bo0", "Bo2", "Bo4"]
    assert ListImport.objects.get(contact_list=contact_list).skipped_without_phone == 2
    page = text(client.get(reverse("hubspot_home")))
    assert "5 contacts (2 without a phone number left out)" in page and "Everyone" in page


def test_a_failure_of_hubspot_fails_the_import_with_its_reason(
    client, user, connected, fake_hubspot, portal, run_jobs, start_import
):
    client.force_login(user)
    start_import(client, fake_hubspot)
    fake_hubspot.token = "pat-na1-revoked"  # the private app was deleted meanwhile
    run_jobs()
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    assert contact_list.import_status == ContactList.ImportStatus.FAILED
    assert "refused the access token" in contact_list.import_error
    assert not contact_list.contacts.exists()


def test_the_import_waits_out_hubspot_rate_limit_as_hubspot_asks(
    client, user, connected, fake_hubspot, portal, run_jobs, start_import
):
    client.force_login(user)
    start_import(client, fake_hubspot)
    # A batch read is refused once (HubSpot's secondly limit), without a wait asked for.
    fake_hubspot.fail_next("POST", "/crm/v3/objects/contacts/batch/read", 429, headers={"Retry-After": "0"})
    run_jobs()
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    assert contact_list.import_status == ContactList.ImportStatus.DONE
    assert contact_list.rows_imported == N - 6
    assert len(fake_hubspot.calls("POST", "/crm/v3/objects/contacts/batch/read")) == 4
