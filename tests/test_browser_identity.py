import re
import pytest
from playwright.sync_api import Page, expect
from django.core import mail


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dump(live_server, page: Page):
    from accounts.sms import OUTBOX
    OUTBOX.clear()
    url = live_server.url
    page.goto(url + "/accounts/signup/")
    page.get_by_label("Email:").fill("ada@example.com")
    page.get_by_label("Phone:").fill("+1 415 555 0123")
    page.get_by_label("First name:").fill("Ada")
    page.get_by_label("Last name:").fill("Lovelace")
    page.get_by_label("Company:").fill("Acme")
    page.get_by_label("I am 18").check()
    page.get_by_label("I accept").check()
    page.get_by_label("Password:", exact=True).fill("a long and unusual passphrase 42")
    page.get_by_label("Password (again):", exact=True).fill("a long and unusual passphrase 42")
    page.get_by_role("main").get_by_role("button", name="Sign Up").click()
    expect(page).to_have_url(url + "/accounts/phone/verify/")
    page.get_by_label("Code").fill(OUTBOX[-1].code)
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(url + "/accounts/confirm-email/")
    code = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", mail.outbox[-1].body, re.M).group(1)
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(url + "/dashboard/")
    print(page.locator("body").inner_text())
    page.get_by_test_id("nav-logout").click()
    expect(page).to_have_url(url + "/")
    page.get_by_test_id("nav-login").click()
    page.get_by_label("Login:").fill("ada@example.com")
    page.get_by_label("Password:").fill("a long and unusual passphrase 42")
    page.get_by_role("main").get_by_role("button", name="Sign In").click()
    page.wait_for_timeout(1000)
    print(page.url, OUTBOX)
    print(page.locator("body").inner_html())
    page.get_by_label("Code").fill(OUTBOX[-1].code)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_timeout(1000)
    print(page.url)
    print(page.locator("body").inner_html())
    page.screenshot(path="/tmp/scratch/trust.png", full_page=True)
