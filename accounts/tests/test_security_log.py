"""The security activity log (accounts/security.py): what is recorded, from where, what the person
sees under Settings and what they can do about it, and how long it is kept."""

import csv
import io
import re
import zipfile
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import security, services
from accounts.export import account_export
from accounts.models import SecurityEvent, User
from accounts.tests.conftest import last_sms, log_in
from accounts.tests.test_social_login import (  # noqa: F401 - the fake Google and its fixtures
    ADA,
    configure,
    identity_provider,
)

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
)
PASSWORD = "correct horse battery"


def browser(ip: str = "203.0.113.9", agent: str = FIREFOX_WINDOWS) -> Client:
    return Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=agent)


def kinds(user) -> list[str]:
    """The user's events, oldest first."""
    return list(SecurityEvent.objects.filter(user=user).order_by("created_at", "pk").values_list("kind", flat=True))


def signed_in(client) -> bool:
    return client.session.get(SESSION_KEY) is not None


# --- What is recorded ------------------------------------------------------------------------


def test_a_password_sign_in_is_recorded_with_its_address_and_browser(owner):
    client = browser()

    log_in(client, trust=True)

    assert kinds(owner) == [Kind.CODE_SENT, Kind.LOGIN, Kind.TRUSTED_BROWSER]
    for event in SecurityEvent.objects.filter(user=owner):
        assert (event.ip_address, event.user_agent) == ("203.0.113.9", FIREFOX_WINDOWS)
    assert SecurityEvent.objects.get(kind=Kind.CODE_SENT).detail == "to the mobile ending 23"
    # The session is listed too, with the same address and browser.
    [session] = UserSession.objects.filter(user=owner)
    assert (session.ip, session.user_agent) == ("203.0.113.9", FIREFOX_WINDOWS)

    page = client.get(reverse("account_settings")).content.decode()
    recent = page.split('data-testid="security-events"')[1]
    assert "Signed in" in recent and "203.0.113.9" in recent and "Firefox on Windows" in recent
    sessions = page.split('data-testid="user-sessions"')[1].split("</table>")[0]
    assert "Firefox on Windows" in sessions and "203.0.113.9" in sessions and "This browser" in sessions


def test_a_sessions_address_and_last_seen_are_brought_up_to_date_at_most_every_interval(owner, settings):
    client = browser()
    log_in(client)
    [session] = UserSession.objects.filter(user=owner)
    seen = session.last_seen_at

    # The same browser from another address a moment later: nothing is written yet.
    client.defaults["REMOTE_ADDR"] = "198.51.100.7"
    client.get(reverse("account_settings"))
    session.refresh_from_db()
    assert (session.ip, session.last_seen_at) == ("203.0.113.9", seen)

    # Once the interval has passed, the next page brings the row up to date.
    settings.SESSION_ACTIVITY_EVERY_SECONDS = 0
    client.get(reverse("account_settings"))
    session.refresh_from_db()
    assert session.ip == "198.51.100.7" and session.last_seen_at > seen


def test_a_skipped_trust_question_records_no_trusted_browser(owner):
    log_in(browser(), trust=False)

    assert kinds(owner) == [Kind.CODE_SENT, Kind.LOGIN]


def test_a_failed_sign_in_is_recorded_for_a_known_email_and_never_holds_the_password(owner):
    client = browser(ip="198.51.100.7")

    response = client.post(reverse("account_login"), {"login": "Owner@Example.com", "password": "guess-one-two"})

    assert response.status_code == 200
    [event] = SecurityEvent.objects.filter(user=owner)
    assert (event.kind, event.ip_address, event.user_agent) == (Kind.LOGIN_FAILED, "198.51.100.7", FIREFOX_WINDOWS)
    assert "guess" not in f"{event.detail} {event.user_agent}"


def test_a_failed_sign_in_with_the_mobile_number_is_recorded(owner):
    browser().post(reverse("account_login"), {"login": "+1 415 555 0123", "password": "guess-one-two"})

    assert kinds(owner) == [Kind.LOGIN_FAILED]


def test_a_failed_sign_in_for_an_unknown_email_records_nothing(owner):
    response = browser().post(reverse("account_login"), {"login": "nobody@example.com", "password": "guess-one-two"})

    assert response.status_code == 200
    assert SecurityEvent.objects.count() == 0


def test_a_wrong_login_code_is_recorded(owner):
    client = browser()
    client.post(reverse("account_login"), {"login": owner.email, "password": PASSWORD})
    code = last_sms()

    client.post(reverse("account_confirm_login_code"), {"code": f"{(int(code) + 1) % 10**6:06d}"})

    assert kinds(owner) == [Kind.CODE_SENT, Kind.CODE_FAILED]


def test_a_password_change_is_recorded(owner):
    client = browser()
    log_in(client)

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "a-new-long-passphrase-77", "password2": "a-new-long-passphrase-77"},
    )

    assert response.status_code == 302
    assert kinds(owner)[-1] == Kind.PASSWORD_CHANGED


def test_a_password_reset_is_recorded(owner, mailoutbox):
    client = browser()
    client.post(reverse("account_reset_password"), {"email": owner.email})
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mailoutbox[-1].body).group(1)
    response = client.get(link)

    client.post(
        response["Location"], {"password1": "a-new-long-passphrase-77", "password2": "a-new-long-passphrase-77"}
    )

    assert Kind.PASSWORD_RESET in kinds(owner)


def test_adding_an_email_and_making_it_primary_are_recorded(owner, mailoutbox):
    client = browser()
    log_in(client)
    client.post(reverse("account_email"), {"email": "new.address@example.com", "action_add": ""})
    code = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", mailoutbox[-1].body, re.MULTILINE).group(1)
    client.post(reverse("account_email_verification_sent"), {"code": code})

    client.post(reverse("account_email"), {"email": "new.address@example.com", "action_primary": ""})

    details = list(SecurityEvent.objects.filter(user=owner, kind=Kind.EMAIL_CHANGED).values_list("detail", flat=True))
    assert "added new.address@example.com" in details
    assert "primary owner@example.com → new.address@example.com" in details


def test_a_new_mobile_is_recorded_once_its_code_is_entered(owner):
    client = browser()
    log_in(client)
    client.post(reverse("account_change_phone"), {"phone": "+1 415 555 0166"})
    assert Kind.MOBILE_CHANGED not in kinds(owner)  # asked for, not yet confirmed

    client.post(reverse("account_verify_phone"), {"code": last_sms("+14155550166")})

    event = SecurityEvent.objects.get(user=owner, kind=Kind.MOBILE_CHANGED)
    assert (event.detail, event.ip_address) == ("now ending 66", "203.0.113.9")


def test_the_sign_up_records_its_sign_in_but_no_mobile_change(client, sms_outbox):
    from accounts.tests.conftest import complete_signup

    complete_signup(client)

    user = User.objects.get(email="new.workspace@example.com")
    assert kinds(user) == [Kind.LOGIN]


def test_connecting_and_disconnecting_google_are_recorded(owner, identity_provider):  # noqa: F811 - the fixture
    client = browser()
    log_in(client)
    response = client.post(reverse("google_login"), {"process": "connect"})
    callback = urlsplit(identity_provider.authorize(response["Location"], {**ADA, "email": "ada@gmail.example"}))

    client.get(f"{callback.path}?{callback.query}")

    account = SocialAccount.objects.get(user=owner)
    assert SecurityEvent.objects.get(user=owner, kind=Kind.SOCIAL_CONNECTED).detail == "google"

    client.post(reverse("socialaccount_connections"), {"account": account.pk})

    assert not SocialAccount.objects.filter(user=owner).exists()
    assert SecurityEvent.objects.get(user=owner, kind=Kind.SOCIAL_DISCONNECTED).detail == "google"


def test_a_data_export_is_recorded(owner):
    client = browser()
    log_in(client)

    assert client.get(reverse("account_data_export")).status_code == 200

    event = SecurityEvent.objects.get(user=owner, kind=Kind.DATA_EXPORTED)
    assert event.ip_address == "203.0.113.9"


def test_closing_the_account_is_recorded(owner):
    client = browser()
    log_in(client)

    client.post(reverse("account_delete"), {"confirm_email": owner.email})

    assert kinds(owner)[-2:] == [Kind.ACCOUNT_CLOSED, Kind.LOGOUT]


def test_making_and_revoking_an_api_key_are_recorded_once(owner):
    client = browser()
    log_in(client)

    client.post(reverse("api_key_create"), {"name": "CRM sync", "scope": "read"})
    key = owner.personal_workspace.api_keys.get()
    for _ in range(2):  # the second click changes nothing
        client.post(reverse("api_key_revoke", args=[key.pk]))

    created = SecurityEvent.objects.get(user=owner, kind=Kind.API_KEY_CREATED)
    assert created.detail.startswith("CRM sync (") and created.ip_address == "203.0.113.9"
    assert SecurityEvent.objects.filter(user=owner, kind=Kind.API_KEY_REVOKED).count() == 1


# --- What the person can do --------------------------------------------------------------------


def test_this_wasnt_me_signs_out_everywhere_and_sends_a_reset_link(owner, mailoutbox):
    here, elsewhere = browser(), browser(ip="192.0.2.50", agent=CHROME_ANDROID)
    log_in(here)
    log_in(elsewhere)
    mailoutbox.clear()

    response = here.post(reverse("security_not_me"))

    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
    assert not signed_in(here) and not signed_in(elsewhere)
    assert elsewhere.get(reverse("account_settings"))["Location"].startswith(reverse("account_login"))
    assert not UserSession.objects.filter(user=owner).exists()
    [email] = mailoutbox
    assert email.to == [owner.email] and "/accounts/password/reset/key/" in email.body
    assert SecurityEvent.objects.filter(user=owner, kind=Kind.NOT_ME, ip_address="203.0.113.9").exists()
    # The password no longer signs in (nor lets a "trusted" browser skip the code) until the reset.
    owner.refresh_from_db()
    assert not owner.has_usable_password()
    response = browser().post(reverse("account_login"), {"login": owner.email, "password": PASSWORD})
    assert response.status_code == 200 and "Location" not in response


def test_signing_out_the_other_sessions_keeps_this_one(owner):
    here, elsewhere = browser(), browser(ip="192.0.2.50", agent=CHROME_ANDROID)
    log_in(here)
    log_in(elsewhere)
    page = here.get(reverse("account_settings")).content.decode()
    assert "Chrome on Android" in page and "Sign out all other sessions" in page

    response = here.post(reverse("security_sessions_end_others"))

    assert response["Location"] == reverse("account_settings") + "#security"
    assert signed_in(here) and not signed_in(elsewhere)
    assert [s.ip for s in UserSession.objects.filter(user=owner)] == ["203.0.113.9"]
    assert SecurityEvent.objects.get(user=owner, kind=Kind.SESSIONS_ENDED).detail == "1 ended"


def test_signing_out_the_other_sessions_ends_one_the_sessions_table_never_listed(owner):
    here = browser()
    log_in(here)
    untracked = Client()
    untracked.force_login(owner)  # no allauth sign-in: no usersessions row, as before this log existed
    assert UserSession.objects.filter(user=owner).count() == 1

    here.post(reverse("security_sessions_end_others"))

    assert signed_in(here) and not signed_in(untracked)
    assert SecurityEvent.objects.get(user=owner, kind=Kind.SESSIONS_ENDED).detail == "1 ended"


def test_the_actions_take_a_post_only(owner):
    client = browser()
    log_in(client)

    for name in ("security_not_me", "security_sessions_end_others"):
        assert client.get(reverse(name)).status_code == 405
    assert signed_in(client)


def test_another_accounts_events_are_never_shown(owner):
    stranger = User.objects.create_user(email="stranger@example.com", password=PASSWORD)
    services.account_created(user=stranger)
    security.security_event_record(
        user=stranger, kind=Kind.LOGIN, request=browser(ip="192.0.2.99").get("/").wsgi_request
    )
    client = browser()
    log_in(client)

    for name in ("account_settings", "security_activity"):
        page = client.get(reverse(name)).content.decode()
        assert "203.0.113.9" in page and "192.0.2.99" not in page


def test_the_full_list_pages_through_everything(owner):
    for _ in range(60):
        SecurityEvent.objects.create(user=owner, kind=Kind.LOGIN_FAILED, ip_address="198.51.100.1")
    client = browser()
    log_in(client)

    first = client.get(reverse("security_activity")).content.decode()
    second = client.get(reverse("security_activity") + "?page=2").content.decode()

    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert first.count("<tr>") + second.count("<tr>") == 2 + SecurityEvent.objects.filter(user=owner).count()


# --- Kept for a year, exported, erased --------------------------------------------------------


def test_the_daily_job_deletes_only_events_older_than_the_retention(owner, settings):
    settings.SECURITY_LOG_RETENTION_DAYS = 365
    old = SecurityEvent.objects.create(user=owner, kind=Kind.LOGIN)
    recent = SecurityEvent.objects.create(user=owner, kind=Kind.LOGIN)
    SecurityEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=366))
    SecurityEvent.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(days=364))

    assert security.security_events_purge_due() == 1
    assert security.security_events_purge_due() == 0

    assert list(SecurityEvent.objects.values_list("pk", flat=True)) == [recent.pk]


def test_the_export_holds_the_security_log(owner):
    log_in(browser())

    with zipfile.ZipFile(io.BytesIO(account_export(user=owner))) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("security_log.csv").decode())))

    assert [(r["kind"], r["ip_address"], r["user_agent"]) for r in rows] == [
        (Kind.CODE_SENT, "203.0.113.9", FIREFOX_WINDOWS),
        (Kind.LOGIN, "203.0.113.9", FIREFOX_WINDOWS),
    ]


def test_the_purge_erases_the_security_log_and_sessions(owner):
    log_in(browser())
    User.objects.filter(pk=owner.pk).update(deletion_requested_at=timezone.now() - timedelta(days=31), is_active=False)

    assert services.accounts_purge_due() == 1

    assert not SecurityEvent.objects.filter(user=owner).exists()
    assert not UserSession.objects.filter(user=owner).exists()


def test_staff_see_the_log_in_the_admin(owner, admin_client):
    log_in(browser())

    listing = admin_client.get(reverse("admin:accounts_securityevent_changelist") + "?q=owner%40example.com")
    user_page = admin_client.get(reverse("admin:accounts_user_change", args=[owner.pk]))

    text = listing.content.decode()
    assert "Firefox on Windows" in text and "203.0.113.9" in text and "Signed in" in text
    assert f"/admin/accounts/securityevent/?user={owner.pk}" in user_page.content.decode()
    assert "2 events" in user_page.content.decode()


# --- The browser label ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (FIREFOX_WINDOWS, "Firefox on Windows"),
        (CHROME_ANDROID, "Chrome on Android"),
        (SAFARI_IPHONE, "Safari on iPhone"),
        (EDGE_WINDOWS, "Edge on Windows"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.1 Safari/605.1.15",
            "Safari on macOS",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
        ("curl/8.5.0", "curl"),
        ("", "Unknown browser"),
    ],
)
def test_the_browser_label(agent, label):
    assert security.user_agent_label(agent) == label
