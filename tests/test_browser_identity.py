"""Identity in a real browser: sign up, receive the code, verify, log out, log in with the
second step, trust the browser; and log in with a code alone.

Codes texted by the console SMS sender land in `accounts.sms.OUTBOX` (the live server runs in
this process); emailed codes in `django.core.mail.outbox` (the locmem backend).
"""

import re
import time
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from tests.conftest import NewAccount, email_code, enter_code, field, fill_signup_form

SCREENSHOTS = Path("/tmp")
ACCOUNT = NewAccount()
DAY = 24 * 60 * 60


def wrong(code: str) -> str:
    """A code of the same shape that is certainly not `code`."""
    return f"{(int(code) + 1) % 10**6:06d}"


def log_out(page: Page, url: str) -> None:
    page.get_by_test_id("nav-logout").click()
    expect(page).to_have_url(url + "/")
    expect(page.get_by_test_id("nav-login")).to_be_visible()


def log_in_with_password(page: Page, url: str, account: NewAccount = ACCOUNT) -> None:
    page.goto(url + "/accounts/login/")
    field(page, "Email or mobile number").fill(account.email)
    field(page, "Password").fill(account.password)
    page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()


def expect_login_code_page(page: Page, url: str, account: NewAccount = ACCOUNT) -> None:
    expect(page).to_have_url(url + "/accounts/login/code/confirm/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your login code")
    expect(page.get_by_role("main")).to_contain_text(f"We've sent a code to {account.mobile_e164}")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_sign_up_verify_log_in_with_the_second_step_and_trust_the_browser(live, page: Page, new_page, sms_outbox):
    from allauth.account.models import EmailAddress

    from accounts.models import User

    url = live.url

    # 1. Sign up from the landing page; the form asks for everything the account needs.
    page.goto(url + "/")
    page.get_by_test_id("nav-signup").click()
    expect(page).to_have_url(url + "/accounts/signup/")
    fill_signup_form(page, ACCOUNT)
    page.screenshot(path=str(SCREENSHOTS / "identity-signup.png"), full_page=True, animations="disabled")
    page.get_by_role("main").get_by_role("button", name="Sign up").click()

    # 2. The code texted to the mobile (typed with punctuation, texted to its E.164 form).
    expect(page).to_have_url(url + "/accounts/phone/verify/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your mobile number")
    expect(page.get_by_role("main")).to_contain_text(f"We've sent a code to {ACCOUNT.mobile_e164}")
    assert [sent.phone for sent in sms_outbox] == [ACCOUNT.mobile_e164]
    sms_code = sms_outbox[-1].code
    assert re.fullmatch(r"\d{6}", sms_code)
    user = User.objects.get(email=ACCOUNT.email)
    assert user.mobile_verified_at is None

    # A wrong code is refused in place; no new code is sent.
    enter_code(page, wrong(sms_code))
    expect(page.locator("#id_code_error")).to_have_text("Incorrect code.")
    expect(page).to_have_url(url + "/accounts/phone/verify/")
    expect(field(page, "Code")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=str(SCREENSHOTS / "identity-code.png"), full_page=True, animations="disabled")
    assert len(sms_outbox) == 1
    user.refresh_from_db()
    assert user.mobile_verified_at is None

    # The right code verifies the mobile; then the emailed code verifies the address.
    enter_code(page, sms_code)
    expect(page).to_have_url(url + "/accounts/confirm-email/")
    expect(page.get_by_role("alert").filter(has_text="verified")).to_contain_text(ACCOUNT.mobile_e164)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your email address")
    assert mail.outbox[-1].to == [ACCOUNT.email]
    # An email that does not come can be sent again, as a text can; asked for at once, the
    # page says to wait a moment (accounts/tests/test_account_pages.py sends the second one).
    code, emails = email_code(), len(mail.outbox)
    page.get_by_role("main").get_by_role("button", name="Send a new code").click()
    expect(page).to_have_url(url + "/accounts/confirm-email/")
    expect(page.get_by_role("alert").filter(has_text="Wait a few seconds")).to_be_visible()
    assert len(mail.outbox) == emails
    enter_code(page, code)
    expect(page).to_have_url(url + "/dashboard/")
    expect(page.get_by_test_id("balance")).to_have_text("100")

    user.refresh_from_db()
    assert user.mobile_number == ACCOUNT.mobile_e164 and user.mobile_verified_at is not None
    assert (user.first_name, user.last_name, user.company_name) == ("Ada", "Lovelace", "Acme")
    assert user.adult_confirmed_at is not None and user.terms_accepted_at is not None and user.terms_version
    assert EmailAddress.objects.filter(user=user, email=ACCOUNT.email, verified=True, primary=True).exists()
    assert len(sms_outbox) == 1  # one text for the whole sign-up

    # 3. Log out, log in with the password: the second step texts a code to the verified mobile.
    log_out(page, url)
    log_in_with_password(page, url)
    expect_login_code_page(page, url)
    assert [sent.phone for sent in sms_outbox] == [ACCOUNT.mobile_e164] * 2
    login_code = sms_outbox[-1].code
    assert login_code != sms_code
    enter_code(page, wrong(login_code))
    expect(page.locator("#id_code_error")).to_have_text("Incorrect code.")
    expect(page).to_have_url(url + "/accounts/login/code/confirm/")
    enter_code(page, login_code)

    # 4. Trust this browser for 30 days: one clear choice.
    expect(page).to_have_url(url + "/accounts/2fa/trust/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Trust this browser for 30 days?")
    page.screenshot(path=str(SCREENSHOTS / "identity-trust.png"), full_page=True, animations="disabled")
    page.get_by_role("button", name="Trust this browser for 30 days").click()
    expect(page).to_have_url(url + "/dashboard/")
    (trust_cookie,) = [c for c in page.context.cookies() if c["name"] == "mfa_trusted"]
    assert 29 * DAY < trust_cookie["expires"] - time.time() <= 30 * DAY
    assert len(sms_outbox) == 2

    # 5. The trusted browser logs in with the password alone: no new code.
    log_out(page, url)
    log_in_with_password(page, url)
    expect(page).to_have_url(url + "/dashboard/")
    expect(page.get_by_test_id("balance")).to_have_text("100")
    assert len(sms_outbox) == 2

    # 6. Another browser (no trust cookie) is asked for the second step again; it does not trust.
    other = new_page()
    log_in_with_password(other, url)
    expect_login_code_page(other, url)
    assert len(sms_outbox) == 3
    enter_code(other, sms_outbox[-1].code)
    expect(other).to_have_url(url + "/accounts/2fa/trust/")
    other.get_by_role("button", name=re.compile(r"^Don't trust it")).click()
    expect(other).to_have_url(url + "/dashboard/")
    assert not [c for c in other.context.cookies() if c["name"] == "mfa_trusted"]

    # ...so it is asked again next time.
    log_out(other, url)
    log_in_with_password(other, url)
    expect_login_code_page(other, url)
    assert len(sms_outbox) == 4


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_log_in_with_a_code_texted_to_the_mobile(live, page: Page, sign_up, sms_outbox):
    url = live.url
    page.goto(url + "/accounts/signup/")
    sign_up(page, url, ACCOUNT)
    log_out(page, url)
    sent = len(sms_outbox)

    # The login page offers a code instead of the password; the number may be typed any way.
    page.get_by_test_id("nav-login").click()
    page.get_by_role("main").get_by_role("button", name="Log in with a code instead").click()
    expect(page).to_have_url(url + "/accounts/login/code/")
    field(page, "Mobile number").fill("+1 415.555.0123")
    page.get_by_role("main").get_by_role("button", name="Send me a code").click()
    expect_login_code_page(page, url)
    assert len(sms_outbox) == sent + 1
    assert sms_outbox[-1].phone == ACCOUNT.mobile_e164

    enter_code(page, sms_outbox[-1].code)
    expect(page).to_have_url(url + "/dashboard/")
    expect(page.get_by_test_id("balance")).to_have_text("100")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_account_pages_say_log_in_and_sign_up_and_put_no_colon_after_a_label(live, page: Page, sms_outbox):
    url = live.url
    for path, heading, button in (
        ("/accounts/login/", "Log in", "Log in"),
        ("/accounts/signup/", "Sign up", "Sign up"),
        ("/accounts/login/code/", "Log in with a code", "Send me a code"),
        ("/accounts/password/reset/", None, None),
    ):
        page.goto(url + path)
        if heading:
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
            expect(page.get_by_role("main").get_by_role("button", name=button, exact=True)).to_be_visible()
        labels = page.locator("main label").all_inner_texts()
        assert labels and not [label for label in labels if label.strip().endswith(":")], (path, labels)
        main = page.get_by_role("main").inner_text()
        assert not re.search(r"sign[ -]?in|sign[ -]?out", main, re.IGNORECASE), (path, main)
    page.goto(url + "/accounts/login/")
    expect(page.get_by_role("main").get_by_role("link", name="Sign up")).to_have_attribute("href", "/accounts/signup/")
