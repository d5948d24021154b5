"""Suspending, terminating and reactivating accounts from the admin, and what the account sees."""

import html
import re
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import AccountStatusChange, User
from accounts.sms import OUTBOX
from campaigns.errors import CampaignError
from campaigns.lifecycle import services as campaigns
from campaigns.models import Campaign
from campaigns.tests.factories import make_campaign

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # the `user` fixture's
APP_URLS = ["/dashboard/", "/agents/", "/contacts/", "/campaigns/", "/calls/", "/credits/", "/settings/"]


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="admin@example.com", password="admin pass 1234")


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def choose(staff_client, action, *users):
    """Step one: staff select accounts and pick an action."""
    return staff_client.post(
        reverse("admin:accounts_user_changelist"), {"action": action, "_selected_action": [u.pk for u in users]}
    )


def confirm(staff_client, action, *users, reason):
    """Step two: the reason form posted back."""
    return staff_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": action, "_selected_action": [u.pk for u in users], "apply": "Confirm", "reason": reason},
        follow=True,
    )


def set_status(staff_client, action, *users, reason):
    """Both steps, the second posting back exactly the hidden fields the reason form carries."""
    asked = choose(staff_client, action, *users)
    assert 'name="reason"' in asked.content.decode()
    form = asked.content.decode().split('<form method="post">', 1)[1].split("</form>", 1)[0]
    data: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form):
        data.setdefault(name, []).append(value)
    assert sorted(data["_selected_action"]) == sorted(str(u.pk) for u in users) and data["action"] == [action]
    response = staff_client.post(
        reverse("admin:accounts_user_changelist"), {**data, "apply": "Confirm", "reason": reason}, follow=True
    )
    assert response.status_code == 200
    return response


def history_rows(response) -> list[tuple[str, str, str]]:
    """The status history inline on the admin's user page: (status, reason, changed by) per row."""
    page = text(response)

    def cells(field):
        return [
            re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(rf'<td class="field-{field}">(.*?)</td>', page, re.S)
        ]

    return list(zip(cells("status"), cells("reason"), cells("changed_by"), strict=True))


def running_campaign(user) -> Campaign:
    campaign = make_campaign(user, ["+12025550101"])
    return campaigns.campaign_launch(campaign=campaign, by=user)


# --- The admin asks why -------------------------------------------------------------------
@pytest.mark.parametrize("action", ["suspend", "terminate", "reactivate"])
def test_each_action_first_asks_for_a_reason_and_changes_nothing(staff_client, user, action):
    response = choose(staff_client, action, user)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="reason"' in page and 'name="apply"' in page
    assert f'name="action" value="{action}"' in page
    assert f'name="_selected_action" value="{user.pk}"' in page
    assert "owner@example.com (now Active)" in text(response)
    user.refresh_from_db()
    assert user.status == User.Status.ACTIVE and user.status_reason == ""
    assert not AccountStatusChange.objects.exists()


@pytest.mark.parametrize("reason", ["", "   \n "])
def test_an_empty_reason_asks_again(staff_client, user, reason):
    response = confirm(staff_client, "suspend", user, reason=reason)

    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == ["This field is required."]
    assert 'name="reason"' in response.content.decode()
    user.refresh_from_db()
    assert user.status == User.Status.ACTIVE
    assert not AccountStatusChange.objects.exists()


def test_status_reason_who_and_when_are_recorded_and_shown_on_the_user_page(staff_client, staff, user):
    before = timezone.now()
    response = set_status(staff_client, "suspend", user, reason="Complaints about call content")

    assert [str(m) for m in response.context["messages"]] == ["Suspended 1 account."]
    change = AccountStatusChange.objects.get()
    assert change.user == user and change.changed_by == staff
    assert change.status == User.Status.SUSPENDED
    assert change.reason == "Complaints about call content"
    assert before <= change.changed_at <= timezone.now()
    user.refresh_from_db()
    assert (user.status, user.status_reason) == (User.Status.SUSPENDED, "Complaints about call content")
    assert before <= user.status_changed_at <= timezone.now()

    set_status(staff_client, "reactivate", user, reason="Explained; customer trained")
    page = staff_client.get(reverse("admin:accounts_user_change", args=[user.pk]))
    assert page.status_code == 200
    assert history_rows(page) == [  # newest first
        ("Active", "Explained; customer trained", "admin@example.com"),
        ("Suspended", "Complaints about call content", "admin@example.com"),
    ]
    assert 'name="status_changes-0-reason"' not in page.content.decode()  # the history is read-only


def test_the_reason_is_trimmed(staff_client, user):
    set_status(staff_client, "suspend", user, reason="  Unpaid invoice  \n")

    user.refresh_from_db()
    assert user.status_reason == "Unpaid invoice"
    assert AccountStatusChange.objects.get().reason == "Unpaid invoice"


def test_non_staff_cannot_change_a_status(client, user):
    other = User.objects.create_user(email="other@example.com", password="x")
    client.force_login(user)

    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "suspend", "_selected_action": [other.pk], "apply": "Confirm", "reason": "Because"},
    )

    assert response.status_code == 302
    other.refresh_from_db()
    assert other.status == User.Status.ACTIVE


def test_the_service_refuses_a_blank_reason_or_an_unknown_status(user):
    with pytest.raises(services.AccountError, match="reason"):
        services.account_set_status(user=user, status=User.Status.SUSPENDED, reason="  ", by=None)
    with pytest.raises(services.AccountError, match="Unknown"):
        services.account_set_status(user=user, status="banned", reason="Spam", by=None)
    user.refresh_from_db()
    assert user.status == User.Status.ACTIVE
    assert not AccountStatusChange.objects.exists()


# --- Suspension -----------------------------------------------------------------------------
def test_suspension_pauses_running_campaigns_and_blocks_launch_and_resume(staff_client, user):
    running = running_campaign(user)
    draft = make_campaign(user, ["+12025550102"])
    bystander = User.objects.create_user(email="bystander@example.com", password="x")
    services.account_created(user=bystander)
    theirs = running_campaign(bystander)

    set_status(staff_client, "suspend", user, reason="Complaints about call content")

    running.refresh_from_db()
    assert running.status == Campaign.Status.PAUSED
    assert running.status_reason == "Paused: the account is suspended."
    with pytest.raises(CampaignError, match="suspended"):
        campaigns.campaign_resume(campaign=running)
    with pytest.raises(CampaignError, match="suspended"):
        campaigns.campaign_launch(campaign=draft, by=user)
    running.refresh_from_db()
    draft.refresh_from_db()
    assert running.status == Campaign.Status.PAUSED and draft.status == Campaign.Status.DRAFT
    theirs.refresh_from_db()
    assert theirs.status == Campaign.Status.RUNNING  # other accounts are untouched


def test_suspended_user_sees_only_the_suspended_page_with_the_reason(staff_client, client, user):
    set_status(staff_client, "suspend", user, reason="Complaints about call content")
    client.force_login(user)
    suspended_url = reverse("account_suspended")

    for url in [*APP_URLS, "/accounts/email/", reverse("landing")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == suspended_url, url
    assert client.post(reverse("agent_create"), {"name": "x"})["Location"] == suspended_url
    # Their data is still theirs to take.
    export = client.get(reverse("account_data_export"))
    assert export.status_code == 200 and export["Content-Type"] == "application/zip"

    page = client.get(suspended_url)
    assert page.status_code == 200
    assert "Your account is suspended" in text(page)
    assert "Complaints about call content" in text(page)

    for url in ["/terms/", "/privacy/", "/refunds/", "/healthz"]:
        assert client.get(url).status_code == 200, url
    assert client.get(reverse("account_logout")).status_code == 200
    assert client.post(reverse("account_logout"))["Location"] == reverse("landing")
    assert client.session.get(SESSION_KEY) is None


def test_suspended_user_can_still_log_in(staff_client, client, user):
    """Suspension is not termination: the password is accepted and the usual texted-code step follows
    (once signed in, the gate shows the suspended page, as above)."""
    set_status(staff_client, "suspend", user, reason="Unpaid invoice")
    OUTBOX.clear()

    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})

    assert response["Location"] == reverse("account_confirm_login_code")
    assert OUTBOX and OUTBOX[-1].phone == user.mobile_number


# --- Reactivation ---------------------------------------------------------------------------
def test_reactivation_restores_the_account(staff_client, client, user):
    campaign = running_campaign(user)
    set_status(staff_client, "suspend", user, reason="Unpaid invoice")
    client.force_login(user)
    assert client.get("/dashboard/").status_code == 302

    response = set_status(staff_client, "reactivate", user, reason="Invoice paid")

    assert [str(m) for m in response.context["messages"]] == ["Reactivated 1 account."]
    user.refresh_from_db()
    assert user.status == User.Status.ACTIVE and user.personal_workspace.can_dial and user.is_active
    assert user.status_reason == "Invoice paid"
    for url in APP_URLS:
        assert client.get(url).status_code == 200, url
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED  # the owner decides when calling resumes
    campaigns.campaign_resume(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


# --- Termination ----------------------------------------------------------------------------
def test_terminated_account_cannot_log_in_and_is_signed_out(staff_client, client, user):
    campaign = running_campaign(user)
    signed_in = Client()
    signed_in.force_login(user)

    response = set_status(staff_client, "terminate", user, reason="Fraudulent payments")

    assert [str(m) for m in response.context["messages"]] == ["Terminated 1 account."]
    user.refresh_from_db()
    assert user.status == User.Status.TERMINATED and not user.is_active
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.status_reason == "Paused: the account is terminated."
    # A session opened before the termination is no longer signed in.
    assert signed_in.get("/dashboard/")["Location"].startswith(reverse("account_login"))

    OUTBOX.clear()
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response["Location"] == reverse("account_inactive")
    assert client.session.get(SESSION_KEY) is None
    assert OUTBOX == []  # no login code is texted either
    assert client.get("/dashboard/")["Location"].startswith(reverse("account_login"))


def test_reactivating_a_terminated_account_lets_it_log_in_again(staff_client, client, user):
    set_status(staff_client, "terminate", user, reason="Fraudulent payments")
    set_status(staff_client, "reactivate", user, reason="Payments were genuine")

    user.refresh_from_db()
    assert user.is_active and user.status == User.Status.ACTIVE
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response["Location"] == reverse("account_confirm_login_code")  # the next step, as for anyone


def test_reactivation_does_not_reopen_a_deleted_account(staff_client, user):
    services.account_delete(user=user)

    set_status(staff_client, "reactivate", user, reason="Asked by mistake")

    user.refresh_from_db()
    assert user.status == User.Status.ACTIVE
    assert not user.is_active


def test_status_history_keeps_every_change_in_order(staff_client, staff, user):
    for action, reason in [("suspend", "One"), ("reactivate", "Two"), ("terminate", "Three")]:
        set_status(staff_client, action, user, reason=reason)

    history = list(user.status_changes.order_by("changed_at", "id").values_list("status", "reason", "changed_by"))
    assert history == [
        ("suspended", "One", staff.pk),
        ("active", "Two", staff.pk),
        ("terminated", "Three", staff.pk),
    ]
    user.refresh_from_db()
    assert user.status_changed_at >= timezone.now() - timedelta(minutes=1)
