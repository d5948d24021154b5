"""The admin for support staff: one "Accounts" section, counts that read right, an icon, and a
user page that shows the account at a glance (balance, campaigns, recent calls) with buttons that
suspend, reactivate, terminate or restore it for a reason, through accounts.services."""

import html
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services
from accounts.models import AccountStatusChange, User
from billing import ledger
from campaigns.models import Call, DoNotCall
from campaigns.tests.factories import make_campaign

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="admin@example.com", password="admin pass 1234")


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def add_calls(campaign, count: int) -> None:
    for i in range(count):
        Call.objects.create(
            workspace=campaign.workspace,
            campaign=campaign,
            agent=campaign.agent,
            to_number=f"+120255501{i:02d}",
            from_number="+12025550100",
            provider="simulated",
            status="completed",
            outcome="interested",
            duration_seconds=10 + i,
            credits_charged=10 + i,
        )


def section_titles(page: str) -> list[str]:
    return re.findall(r'<caption>\s*<a href="[^"]*" class="section"[^>]*>(.*?)</a>', page)


def test_the_index_has_one_accounts_section_holding_everything_about_signing_in(staff_client):
    page = staff_client.get(reverse("admin:index")).content.decode()

    titles = section_titles(page)
    assert titles.count("Accounts") == 1, titles
    accounts = page.split('class="section" title="Models in the Accounts application">Accounts</a>', 1)[1]
    accounts = accounts.split("</table>", 1)[0]
    for model in ("Users", "Email addresses", "Groups", "Authenticators", "Social accounts"):
        assert f">{model}</a>" in accounts, model
    assert "Django administration" not in page and "Clozit administration" in page
    assert "Background jobs" in titles and "Django_Rq" not in page


def test_counts_read_right_for_the_do_not_call_list(staff_client, user):
    changelist = reverse("admin:campaigns_donotcall_changelist")
    assert "0 do-not-call entries" in text(staff_client.get(changelist))
    DoNotCall.objects.create(workspace=user.personal_workspace, phone_number="+12025550101", reason="asked")
    assert "1 do-not-call entry" in text(staff_client.get(changelist))
    DoNotCall.objects.create(workspace=user.personal_workspace, phone_number="+12025550102", reason="asked")
    page = text(staff_client.get(changelist))
    assert "2 do-not-call entries" in page
    assert "Delete selected do-not-call entries" in page


def test_admin_pages_and_the_site_have_an_icon(staff_client, client):
    assert 'rel="icon"' in staff_client.get(reverse("admin:index")).content.decode()
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("/favicon.svg")


def overview_queries(user) -> int:
    from accounts.selectors import account_overview

    with CaptureQueriesContext(connection) as queries:
        account_overview(user=user)
    return len(queries)


def test_the_user_page_shows_balance_campaigns_and_recent_calls(staff_client, user):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("250"), kind="staff_adjustment", reference="topup"
    )
    campaign = make_campaign(user, ["+12025550101"])
    add_calls(campaign, 12)
    url = reverse("admin:accounts_user_change", args=[user.pk])
    few = overview_queries(user)
    add_calls(campaign, 5)
    more = overview_queries(user)

    response = staff_client.get(url)
    page = text(response)

    assert response.status_code == 200
    balance = ledger.balance_of(workspace=user.personal_workspace)
    assert f"Balance {balance.balance.normalize():f} credits" in re.sub(r"<[^>]+>", "", page)
    assert reverse("admin:billing_creditaccount_adjust", args=[user.personal_workspace.credit_account.pk]) in page
    assert campaign.name in page and reverse("admin:campaigns_campaign_change", args=[campaign.pk]) in page
    assert "17 calls" in page
    shown = re.findall(r'href="/admin/campaigns/call/(\d+)/change/"', page)
    assert len(shown) == 10  # the most recent ten
    newest = Call.objects.filter(workspace=user.personal_workspace).order_by("-created_at", "-id")[:10]
    assert [int(pk) for pk in shown] == [call.pk for call in newest]
    assert more == few  # a fixed number of queries, however many calls
    # "All campaigns", "All calls" and "Ledger" open the account's own rows.
    for link in re.findall(r'href="(/admin/[a-z]+/[a-z]+/\?[^"]+)"', page):
        listed = staff_client.get(html.unescape(link))
        assert listed.status_code == 200 and "e=1" not in listed.request["QUERY_STRING"], link
        if "/securityevent/" in link:
            continue  # the account's security log: test_security_log.py reads it
        assert "Acme" in text(listed) or "17 calls" in text(listed), link  # the personal workspace


def test_suspend_from_the_user_page_asks_a_reason_then_calls_the_service(staff_client, staff, user):
    page = text(staff_client.get(reverse("admin:accounts_user_change", args=[user.pk])))
    suspend = reverse("admin:accounts_user_status", args=[user.pk, "suspend"])
    assert f'href="{suspend}"' in page
    assert reverse("admin:accounts_user_status", args=[user.pk, "reactivate"]) not in page  # already active

    asked = staff_client.get(suspend)
    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()
    again = staff_client.post(suspend, {"reason": "  "})
    assert again.status_code == 200 and "This field is required." in text(again)
    user.refresh_from_db()
    assert user.status == User.Status.ACTIVE

    done = staff_client.post(suspend, {"reason": "Complaints from callees"}, follow=True)

    assert done.redirect_chain[-1][0] == reverse("admin:accounts_user_change", args=[user.pk])
    assert "Suspended owner@example.com." in text(done)
    user.refresh_from_db()
    assert user.status == User.Status.SUSPENDED and user.status_reason == "Complaints from callees"
    change = AccountStatusChange.objects.get(user=user)
    assert change.changed_by == staff
    assert reverse("admin:accounts_user_status", args=[user.pk, "reactivate"]) in text(done)

    staff_client.post(reverse("admin:accounts_user_status", args=[user.pk, "reactivate"]), {"reason": "Resolved"})
    user.refresh_from_db()
    assert user.status == User.Status.ACTIVE


def test_a_closed_account_is_restored_from_its_page(staff_client, user):
    services.account_delete(user=user)
    page = text(staff_client.get(reverse("admin:accounts_user_change", args=[user.pk])))
    restore = reverse("admin:accounts_user_status", args=[user.pk, "restore"])
    assert f'href="{restore}"' in page

    staff_client.post(restore, {"reason": "Asked by email"})

    user.refresh_from_db()
    assert user.is_active and user.deletion_requested_at is None


def test_an_unknown_action_or_a_refused_change_says_why(staff_client, user):
    assert staff_client.get(reverse("admin:accounts_user_status", args=[user.pk, "explode"])).status_code == 404
    response = staff_client.post(reverse("admin:accounts_user_status", args=[user.pk, "restore"]), {"reason": "x"})
    assert response.status_code == 200
    assert "This account was not closed: there is nothing to restore." in text(response)


def test_bulk_actions_count_accounts_in_words(staff_client, user):
    other = User.objects.create_user(email="other@example.com", password="x")
    response = staff_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "suspend", "_selected_action": [user.pk, other.pk], "apply": "Confirm", "reason": "Spam"},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == ["Suspended 2 accounts."]
