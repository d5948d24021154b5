"""The notices page in a real Chromium, at desktop and phone size: the unread count in the header,
a notice expanded to its full text, and an email kind turned off that stays off."""

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from tests.conftest import browser, live, new_page  # noqa: F401 - the browser fixtures of tests/
from tests.test_browser_csp import VIEWPORTS


def log_in(page, url: str, user) -> None:
    """Signed in as `user` in this page's browser (a session cookie, as tests.test_browser_workspaces does)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_read_a_notice_and_turn_off_campaign_completed_emails(live, new_page, user, size):  # noqa: F811
    from notices import kinds
    from notices.models import NoticeOptOut
    from notices.services import notice_send

    notice = notice_send(
        user=user,
        kind=kinds.ACCOUNT_SUSPENDED,
        key="test:suspended",
        context={"scope": "account", "reason": "Several people reported unwanted calls"},
    )
    page = new_page()
    page.set_viewport_size(VIEWPORTS[size])
    log_in(page, live.url, user)
    page.goto(live.url + "/dashboard/")

    toggle = page.get_by_test_id("nav-menu")
    if toggle.is_visible():  # on a phone the links fold into the menu
        toggle.click()
    expect(page.get_by_test_id("notices-unread")).to_have_text("1")
    page.get_by_test_id("nav-notices").click()

    expect(page.get_by_role("heading", name="Notices")).to_be_visible()
    body = page.get_by_test_id(f"notice-body-{notice.pk}")
    expect(body).to_be_hidden()
    page.get_by_text("Your Clozit account is suspended", exact=True).click()
    expect(body).to_contain_text("Why: Several people reported unwanted calls")
    expect(body).to_contain_text("reply to this email")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=f"/tmp/notices-{size}.png", full_page=True)

    page.get_by_test_id("notice-preferences").click()
    essential = page.get_by_test_id("email-account_suspended")
    expect(essential).to_be_checked()
    expect(essential).to_be_disabled()
    completed = page.get_by_test_id("email-campaign_completed")
    expect(completed).to_be_checked()
    completed.uncheck()
    page.get_by_test_id("save-email-choices").click()
    expect(page.get_by_text("Your email choices are saved.")).to_be_visible()
    expect(page.get_by_test_id("email-campaign_completed")).not_to_be_checked()
    page.reload()
    expect(page.get_by_test_id("email-campaign_completed")).not_to_be_checked()
    page.screenshot(path=f"/tmp/notice-preferences-{size}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert list(NoticeOptOut.objects.filter(user=user).values_list("kind", flat=True)) == ["campaign_completed"]
