"""The notices page: only the person's own notices, newest first, marked read once shown; the
header's unread count; email choices (essential kinds cannot be turned off); export and purge;
the credits page's low-credit warning level."""

import csv
import io
import zipfile
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from accounts.export import account_export
from accounts.middleware import WORKSPACE_SESSION_KEY
from accounts.models import Membership, User
from accounts.services import account_purge, account_set_status
from billing.low_balance import low_balance_threshold_of
from notices import kinds
from notices.models import Notice, NoticeOptOut
from notices.services import NoticeError, notice_preferences_set, notice_send
from notices.tests.conftest import make_user

pytestmark = pytest.mark.django_db


def tell(user, n: int, kind=kinds.ACCOUNT_SUSPENDED):
    return notice_send(user=user, kind=kind, key=f"test:{n}", context={"scope": "account", "reason": f"Reason {n}"})


def test_the_page_lists_only_the_persons_own_notices_newest_first_and_marks_them_read(client, user):
    other = make_user("other@example.com")
    tell(user, 1)
    tell(user, 2, kinds.ACCOUNT_REACTIVATED)
    tell(other, 3)
    client.force_login(user)

    header = client.get(reverse("dashboard")).content.decode()
    assert 'data-testid="notices-unread" aria-hidden="true">2<' in header and "Notices, 2 unread" in header

    page = client.get(reverse("notice_list")).content.decode()
    assert page.index("Your Clozit account is active again") < page.index("Your Clozit account is suspended")
    assert "Why: Reason 1" in page and "Reason 3" not in page
    assert page.count(">New<") == 2
    assert not Notice.objects.filter(user=user, read_at__isnull=True).exists()
    assert Notice.objects.get(user=other).read_at is None  # another's notices are not touched

    header = client.get(reverse("dashboard")).content.decode()
    assert "notices-unread" not in header and 'data-testid="nav-notices"' in header


def test_the_page_is_paginated(client, user, settings):
    settings.NOTICES_PER_PAGE = 2
    for n in range(5):
        tell(user, n)
    client.force_login(user)
    assert client.get(reverse("notice_list")).content.decode().count('data-testid="notice-body-') == 2
    last = client.get(reverse("notice_list") + "?page=3").content.decode()
    assert last.count('data-testid="notice-body-') == 1 and "Page 3 of 3" in last
    assert Notice.objects.filter(user=user, read_at__isnull=True).count() == 2  # page 2 was not shown


def test_signed_out_visitors_are_sent_to_log_in(client):
    assert client.get(reverse("notice_list")).status_code == 302


def test_a_turned_off_kind_is_listed_but_not_emailed(user, client, django_capture_on_commit_callbacks, run_jobs):
    client.force_login(user)
    optional = [kind.code for kind in kinds.OPTIONAL_KINDS if kind.code != "campaign_completed"]
    essential = [code for code, kind in kinds.KINDS.items() if kind.essential]
    response = client.post(reverse("notice_preferences"), {"email": essential + optional})
    assert response.status_code == 302
    assert set(NoticeOptOut.objects.filter(user=user).values_list("kind", flat=True)) == {"campaign_completed"}
    form = client.get(reverse("notice_preferences")).content.decode()
    assert 'data-testid="email-campaign_completed">' in form  # not checked

    with django_capture_on_commit_callbacks(execute=True):
        notice = notice_send(
            user=user,
            kind=kinds.CAMPAIGN_COMPLETED,
            key="campaign:1:completed",
            context={"campaign": {"name": "Spring", "pk": 1}, "workspace": user.personal_workspace},
        )
    run_jobs()
    assert not mail.outbox
    notice.refresh_from_db()
    assert notice.email_note == "turned off"
    assert "you turned these emails off" in client.get(reverse("notice_list")).content.decode()


def test_essential_emails_cannot_be_turned_off(user, client):
    with pytest.raises(NoticeError, match="cannot be turned off"):
        notice_preferences_set(user=user, turned_off={"account_suspended"})
    with pytest.raises(NoticeError, match="no kind of email"):
        notice_preferences_set(user=user, turned_off={"everything"})

    client.force_login(user)
    # A crafted POST that leaves out the essential kinds' hidden fields asks to turn them off.
    response = client.post(reverse("notice_preferences"), {"email": ["low_balance"]}, follow=True)
    assert "cannot be turned off" in response.content.decode()
    assert not NoticeOptOut.objects.filter(user=user).exists()

    page = client.get(reverse("notice_preferences")).content.decode()
    assert 'checked disabled aria-describedby="why-essential" data-testid="email-account_suspended"' in page


def test_the_settings_page_links_to_the_notices_and_says_what_is_off(user, client):
    notice_preferences_set(user=user, turned_off={"low_balance"})
    client.force_login(user)
    page = client.get(reverse("account_settings")).content.decode()
    assert reverse("notice_preferences") in page and "Credits running low" in page


def test_notices_are_in_the_export_and_gone_after_the_purge(user):
    tell(user, 1)
    notice_preferences_set(user=user, turned_off={"low_balance"})
    with zipfile.ZipFile(io.BytesIO(account_export(user=user, workspace=user.personal_workspace))) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("notices.csv").decode())))
        off = archive.read("notice_emails_turned_off.csv").decode()
    assert rows[0]["subject"] == "[Clozit] Your Clozit account is suspended" and "Reason 1" in rows[0]["text"]
    assert "low_balance" in off

    account_set_status(user=user, status=User.Status.ACTIVE, reason="x", by=None)
    from accounts.services import account_delete

    account_delete(user=user)
    account_purge(user_id=user.pk)
    assert not Notice.objects.filter(user_id=user.pk).exists()
    assert not NoticeOptOut.objects.filter(user_id=user.pk).exists()


# --- The low-credit warning level on the credits page -----------------------------------------------
def test_owners_set_the_low_credit_warning_and_other_roles_cannot(user, client, settings):
    workspace = user.personal_workspace
    client.force_login(user)
    assert "(the default)" in client.get(reverse("credits")).content.decode()

    response = client.post(reverse("low_balance_threshold"), {"credits": "250"}, follow=True)
    assert "falls below 250 credits" in response.content.decode()
    assert low_balance_threshold_of(workspace=workspace) == (Decimal(250), True)

    response = client.post(reverse("low_balance_threshold"), {"credits": "-5"}, follow=True)
    assert low_balance_threshold_of(workspace=workspace) == (Decimal(250), True)
    assert "greater than or equal to 0" in response.content.decode()

    client.post(reverse("low_balance_threshold"), {"credits": ""})
    assert low_balance_threshold_of(workspace=workspace) == (Decimal(settings.LOW_BALANCE_DEFAULT_CREDITS), False)

    member = make_user("member@example.com", mobile="+14155550188")
    Membership.objects.create(workspace=workspace, user=member, role=Membership.Role.MEMBER)
    client.force_login(member)
    session = client.session
    session[WORKSPACE_SESSION_KEY] = workspace.pk
    session.save()
    assert client.post(reverse("low_balance_threshold"), {"credits": "1"}).status_code == 403
    assert low_balance_threshold_of(workspace=workspace)[1] is False
