"""Webhooks in a real browser, at desktop and phone sizes: add an endpoint, read its secret,
send a test event and see it in the log, resend it, rotate the secret, and have a URL inside
the network refused by the form."""

import re

import pytest
from playwright.sync_api import expect
from standardwebhooks.webhooks import Webhook

from integrations.webhooks.tests.conftest import receiver  # noqa: F401 - the fixture, here too
from tests.test_browser_campaign_lifecycle import fits_the_screen, open_as


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_add_an_endpoint_test_it_resend_and_rotate(live, browser, user, receiver, run_jobs, settings, size):  # noqa: F811
    from integrations.webhooks.models import Endpoint

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_ALLOW_HTTP = True
    watched = open_as(browser, live, user, size)
    page = watched.page

    watched.visit(live.url + "/integrations/")
    page.get_by_test_id("webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    expect(page.get_by_test_id("webhook-none")).to_be_visible()
    fits_the_screen(page)

    page.get_by_test_id("webhook-add").click()
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Description").fill("Our CRM")
    page.get_by_role("checkbox", name=re.compile(r"credits\.low")).uncheck()
    fits_the_screen(page)
    page.get_by_role("button", name="Add endpoint").click()

    endpoint = Endpoint.objects.get()
    assert "credits.low" not in endpoint.event_types and "call.completed" in endpoint.event_types
    expect(page.get_by_test_id("webhook-secret")).to_have_value(endpoint.secret)
    expect(page.get_by_test_id("webhook-no-deliveries")).to_be_visible()
    fits_the_screen(page)

    page.get_by_test_id("webhook-test").click()
    expect(page.get_by_text("Test event sent")).to_be_visible()
    run_jobs()
    page.reload()
    log = page.get_by_test_id("webhook-deliveries")
    expect(log).to_contain_text("webhook.test")
    expect(log).to_contain_text("Delivered")
    expect(log).to_contain_text("200")
    fits_the_screen(page)
    got = receiver.requests[0]
    assert Webhook(endpoint.secret).verify(got.body, got.headers)["type"] == "webhook.test"

    page.get_by_test_id("delivery-resend").click()
    run_jobs()
    assert len(receiver.requests) == 2
    assert receiver.requests[1].headers["webhook-id"] == got.headers["webhook-id"]

    old = endpoint.secret
    page.get_by_test_id("webhook-rotate").click()
    endpoint.refresh_from_db()
    expect(page.get_by_test_id("webhook-secret")).to_have_value(endpoint.secret)
    expect(page.get_by_test_id("webhook-previous-secret")).to_have_value(old)
    fits_the_screen(page)

    # Inside the network: refused by the form, with the reason.
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    watched.visit(live.url + "/integrations/webhooks/new/")
    page.get_by_label("URL").fill("http://169.254.169.254/latest/meta-data/")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_text(re.compile("link-local"))).to_be_visible()
    fits_the_screen(page)
    assert Endpoint.objects.count() == 1
    assert watched.violations() == []
