"""HubSpot in a real browser, at desktop and phone size: connect (a refused token first, then the
right one), then import a HubSpot list, confirm consent, and find its contacts in the new list
once the worker has read HubSpot. The HubSpot here is the local fake the SDK talks to."""

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from integrations.hubspot.tests.fake_hubspot import FakeHubSpot
from tests.conftest import field
from tests.test_browser_csp import VIEWPORTS


@pytest.fixture
def fake_hubspot(settings):
    fake = FakeHubSpot()
    settings.HUBSPOT_API_BASE_URL = fake.base_url
    yield fake
    fake.stop()


def log_in(page, url: str, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


def fits(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_connect_then_import_a_list(live, new_page, user, fake_hubspot, run_jobs, size):
    from campaigns.models import ContactList

    ids = [
        fake_hubspot.add_contact(firstname="Ann", lastname="Lee", phone="(202) 555-0101"),
        fake_hubspot.add_contact(firstname="Bob", lastname="Ray", phone="+1 202 555 0102"),
        fake_hubspot.add_contact(firstname="Cy", lastname="Nophone"),
    ]
    fake_hubspot.add_list("Webinar leads", ids)
    page = new_page()
    page.set_viewport_size(VIEWPORTS[size])
    url = live.url
    log_in(page, url, user)

    page.goto(url + "/integrations/hubspot/")
    expect(page.get_by_test_id("hubspot-not-connected")).to_contain_text("crm.lists.read")
    assert fits(page)
    field(page, "Private app access token").fill("pat-na1-00000000-typo")
    page.get_by_role("button", name="Connect HubSpot").click()
    expect(page.locator("#id_token-errors")).to_contain_text("HubSpot refused the access token")
    field(page, "Private app access token").fill(fake_hubspot.token)
    page.get_by_role("button", name="Connect HubSpot").click()
    expect(page.get_by_test_id("hubspot-token-last4")).to_have_text(fake_hubspot.token[-4:])
    expect(page.get_by_role("main")).not_to_contain_text(fake_hubspot.token)
    assert fits(page)

    page.get_by_test_id("hubspot-import").click()
    expect(page).to_have_url(url + "/integrations/hubspot/import/")
    field(page, "Contacts to import").select_option(label="Webinar leads (3 contacts)")
    expect(field(page, "Phone number")).to_have_value("phone")
    expect(field(page, "First name")).to_have_value("firstname")
    assert fits(page)
    expect(page.locator("#id_consent")).to_have_attribute("required", "")  # no import without it
    page.locator("#id_consent").check()
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+/$"))

    run_jobs()
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    assert contact_list.import_status == ContactList.ImportStatus.DONE
    page.reload()
    main = page.get_by_role("main")
    expect(main).to_contain_text("Ann")
    expect(main).to_contain_text("Bob")
    expect(main).not_to_contain_text("Nophone")
    assert fits(page)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_failed_push_back_shows_why_and_is_retried(live, new_page, user, fake_hubspot, size):
    from integrations.hubspot.models import PushBack
    from integrations.hubspot.services import hubspot_connect

    hubspot_connect(workspace=user.personal_workspace, token=fake_hubspot.token, by=user)
    failed = PushBack.objects.create(
        workspace=user.personal_workspace,
        kind=PushBack.Kind.CALL_RESULT,
        key="call:1",
        phone_number="+12025550101",
        object_id="51",
        status=PushBack.Status.FAILED,
        attempts=1,
        last_error="HubSpot refused the request (400): Property values were not valid: “clozit_outcome” does not exist",
    )
    PushBack.objects.create(
        workspace=user.personal_workspace,
        kind=PushBack.Kind.OPT_OUT,
        key="opt_out:+12025550102:",
        phone_number="+12025550102",
        status=PushBack.Status.SENT,
    )
    page = new_page()
    page.set_viewport_size(VIEWPORTS[size])
    log_in(page, live.url, user)
    page.goto(live.url + "/integrations/hubspot/")
    rows = page.get_by_test_id("hubspot-push")
    expect(rows).to_have_count(2)
    failed_row = page.locator("[data-testid=hubspot-push][data-status=failed]")
    expect(failed_row).to_contain_text("“clozit_outcome” does not exist")
    assert fits(page)
    failed_row.get_by_test_id("hubspot-push-retry").click()
    expect(page.locator("[data-testid=hubspot-push][data-status=failed]")).to_have_count(0)
    expect(page.locator("[data-testid=hubspot-push][data-status=pending]")).to_have_count(1)
    failed.refresh_from_db()
    assert failed.status == PushBack.Status.PENDING and failed.attempts == 0
    assert fits(page)
