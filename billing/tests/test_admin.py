"""What staff can do with credits and accounts in the Django admin, and what nobody can do."""

import html
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import User
from billing import ledger
from billing.models import CreditAccount, LedgerEntry
from campaigns.errors import CampaignError
from campaigns.lifecycle import services
from campaigns.models import Campaign
from campaigns.tests.factories import make_campaign

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="admin@example.com", password="admin pass 1234")


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def account_of(user) -> CreditAccount:
    return CreditAccount.objects.get(workspace=user.personal_workspace)


def adjust_url(user) -> str:
    return reverse("admin:billing_creditaccount_adjust", args=[account_of(user).pk])


# --- Credit accounts and the ledger ---------------------------------------------------------
def test_staff_sees_credit_accounts_with_an_adjust_link(admin_client, user):
    response = admin_client.get(reverse("admin:billing_creditaccount_changelist"))

    assert response.status_code == 200
    page = text(response)
    assert "Acme" in page  # the workspace, named after the company
    assert adjust_url(user) in page
    assert "Grant or remove credits…" in page
    assert reverse("admin:billing_creditaccount_add") not in page


def test_credit_account_page_is_read_only(admin_client, user):
    account = account_of(user)

    page = admin_client.get(reverse("admin:billing_creditaccount_change", args=[account.pk]))
    assert page.status_code == 200
    assert 'name="balance"' not in page.content.decode()

    admin_client.post(reverse("admin:billing_creditaccount_change", args=[account.pk]), {"balance": "99999"})
    assert admin_client.get(reverse("admin:billing_creditaccount_add")).status_code == 403
    assert admin_client.post(reverse("admin:billing_creditaccount_delete", args=[account.pk])).status_code == 403
    assert account_of(user).balance == Decimal("100")


def test_ledger_list_is_read_only(admin_client, user):
    entry = LedgerEntry.objects.get(account__workspace=user.personal_workspace)

    response = admin_client.get(reverse("admin:billing_ledgerentry_changelist"))

    assert response.status_code == 200
    page = text(response)
    assert "Acme" in page and "Starter credits" in page
    assert reverse("admin:billing_ledgerentry_add") not in page
    assert 'name="action"' not in page  # no bulk delete

    assert admin_client.get(reverse("admin:billing_ledgerentry_add")).status_code == 403
    assert admin_client.get(reverse("admin:billing_ledgerentry_delete", args=[entry.pk])).status_code == 403
    detail = admin_client.get(reverse("admin:billing_ledgerentry_change", args=[entry.pk]))
    assert detail.status_code == 200
    assert 'name="amount"' not in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()

    admin_client.post(reverse("admin:billing_ledgerentry_change", args=[entry.pk]), {"amount": "1000000"})
    entry.refresh_from_db()
    assert entry.amount == Decimal("100")
    assert LedgerEntry.objects.count() == 1


def test_ledger_admin_denies_every_change_permission(rf, staff):
    from django.contrib import admin

    request = rf.get("/admin/")
    request.user = staff
    for model in (LedgerEntry, CreditAccount):
        model_admin = admin.site._registry[model]
        assert model_admin.has_view_permission(request)
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)


def test_hold_list_opens(admin_client):
    assert admin_client.get(reverse("admin:billing_credithold_changelist")).status_code == 200


def test_adjust_form_shows_the_current_balance(admin_client, user):
    response = admin_client.get(adjust_url(user))

    assert response.status_code == 200
    page = text(response)
    assert "Adjust credits for Acme" in page
    assert "Current balance: <strong>100.00</strong> credits" in page


def test_staff_adjustment_posts_a_ledger_entry_with_who_and_why(admin_client, staff, user):
    response = admin_client.post(adjust_url(user), {"amount": "250", "memo": "Goodwill for the outage"}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:billing_creditaccount_changelist")
    assert any("adjusted by 250" in str(m) for m in response.context["messages"])
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.STAFF_ADJUSTMENT)
    assert entry.account.workspace == user.personal_workspace
    assert entry.amount == Decimal("250")
    assert entry.balance_after == Decimal("350")
    assert entry.created_by == staff
    assert entry.memo == "Goodwill for the outage"
    assert entry.reference.startswith("staff:")
    assert ledger.balance_of(workspace=user.personal_workspace).balance == Decimal("350")


def test_staff_can_remove_credits(admin_client, user):
    admin_client.post(adjust_url(user), {"amount": "-40.50", "memo": "Duplicate grant"})

    assert ledger.balance_of(workspace=user.personal_workspace).balance == Decimal("59.50")
    assert LedgerEntry.objects.get(kind=LedgerEntry.Kind.STAFF_ADJUSTMENT).amount == Decimal("-40.50")


def test_adjusting_below_zero_is_refused_and_changes_nothing(admin_client, user):
    response = admin_client.post(adjust_url(user), {"amount": "-150", "memo": "Too much"})

    assert response.status_code == 200
    assert "Not enough credits for this change." in text(response)
    assert response.context["form"].errors["amount"] == ["Not enough credits for this change."]
    assert ledger.balance_of(workspace=user.personal_workspace).balance == Decimal("100")
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.STAFF_ADJUSTMENT).exists()


def test_adjusting_below_held_credits_is_refused(admin_client, user):
    from datetime import timedelta

    ledger.hold_place(
        workspace=user.personal_workspace,
        reference="call:1",
        max_amount=Decimal("80"),
        min_amount=Decimal("10"),
        lifetime=timedelta(minutes=5),
    )

    response = admin_client.post(adjust_url(user), {"amount": "-50", "memo": "Would cut into a live call"})

    assert "Not enough credits for this change." in text(response)
    assert account_of(user).balance == Decimal("100")


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"amount": "0", "memo": "Nothing"}, "amount", "Enter a non-zero amount."),
        ({"amount": "10", "memo": ""}, "memo", "This field is required."),
        ({"amount": "ten", "memo": "Typo"}, "amount", "Enter a number."),
    ],
)
def test_adjust_form_validation(admin_client, user, data, field, message):
    response = admin_client.post(adjust_url(user), data)

    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert LedgerEntry.objects.count() == 1


def test_adjust_form_for_unknown_account_is_404(admin_client):
    assert admin_client.get(reverse("admin:billing_creditaccount_adjust", args=[999999])).status_code == 404


# --- Who may enter the admin ---------------------------------------------------------------
def test_non_staff_cannot_reach_admin(client, user):
    client.force_login(user)
    urls = [
        reverse("admin:index"),
        reverse("admin:billing_creditaccount_changelist"),
        reverse("admin:billing_ledgerentry_changelist"),
        adjust_url(user),
        reverse("admin:accounts_user_changelist"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url

    client.post(adjust_url(user), {"amount": "1000", "memo": "Free money"})
    assert ledger.balance_of(workspace=user.personal_workspace).balance == Decimal("100")
    assert LedgerEntry.objects.count() == 1


def test_anonymous_cannot_reach_admin(client, user):
    response = client.post(adjust_url(user), {"amount": "1000", "memo": "Free money"})

    assert response.status_code == 302
    assert ledger.balance_of(workspace=user.personal_workspace).balance == Decimal("100")


def test_staff_without_superuser_sees_credit_accounts(client, user):
    clerk = User.objects.create_user(email="clerk@example.com", password="x", is_staff=True)
    client.force_login(clerk)

    assert client.get(reverse("admin:billing_creditaccount_changelist")).status_code == 200


# --- Suspending accounts -------------------------------------------------------------------
def user_action(admin_client, action, *users, reason="Unpaid invoices"):
    """Run a status action the way staff do: pick the accounts, then confirm with a reason."""
    data = {"action": action, "_selected_action": [u.pk for u in users]}
    asked = admin_client.post(reverse("admin:accounts_user_changelist"), data)
    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()
    return admin_client.post(
        reverse("admin:accounts_user_changelist"), {**data, "apply": "Confirm", "reason": reason}, follow=True
    )


def test_suspend_action_records_status_reason_and_who(admin_client, staff, user):
    response = user_action(admin_client, "suspend", user, reason="Complaints about call content")

    assert response.status_code == 200
    assert any(str(m) == "Suspended 1 account." for m in response.context["messages"])
    user.refresh_from_db()
    assert user.status == User.Status.SUSPENDED
    assert user.status_reason == "Complaints about call content"
    assert user.status_changed_at is not None
    assert user.is_active  # can still log in and see their data
    assert not user.personal_workspace.can_dial and not user.in_good_standing
    change = user.status_changes.get()
    assert (change.status, change.reason, change.changed_by) == (
        User.Status.SUSPENDED,
        "Complaints about call content",
        staff,
    )


def test_suspended_account_cannot_launch_a_campaign(admin_client, user):
    campaign = make_campaign(user, ["+12025550101"])
    user_action(admin_client, "suspend", user)

    with pytest.raises(CampaignError, match="suspended"):
        services.campaign_launch(campaign=campaign, by=user)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not campaign.targets.exists()


def test_suspended_account_cannot_launch_through_the_app(admin_client, client, user):
    campaign = make_campaign(user, ["+12025550101"])
    user_action(admin_client, "suspend", user, reason="Complaints about call content")
    client.force_login(user)

    response = client.post(reverse("campaign_action", args=[campaign.pk, "launch"]), follow=True)

    # The account gate sends a suspended account to the page that says why, before any view runs.
    assert response.redirect_chain == [(reverse("account_suspended"), 302)]
    assert "Complaints about call content" in text(response)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_suspended_account_cannot_resume_a_paused_campaign(admin_client, user):
    campaign = make_campaign(user, ["+12025550101"])
    services.campaign_launch(campaign=campaign, by=user)
    services.campaign_pause(campaign=campaign)
    user_action(admin_client, "suspend", user)

    with pytest.raises(CampaignError, match="suspended"):
        services.campaign_resume(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED


def test_reactivate_action_lets_the_account_call_again(admin_client, user):
    campaign = make_campaign(user, ["+12025550101"])
    user_action(admin_client, "suspend", user)

    response = user_action(admin_client, "reactivate", user, reason="Invoices paid")

    assert any(str(m) == "Reactivated 1 account." for m in response.context["messages"])
    user.refresh_from_db()
    assert user.status == User.Status.ACTIVE
    assert user.status_reason == "Invoices paid"
    services.campaign_launch(campaign=campaign, by=user)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


def test_suspend_action_on_several_accounts(admin_client, user):
    second = User.objects.create_user(email="second@example.com", password="x")

    response = user_action(admin_client, "suspend", user, second)

    assert any(str(m) == "Suspended 2 accounts." for m in response.context["messages"])
    assert set(User.objects.filter(status=User.Status.SUSPENDED).values_list("email", flat=True)) == {
        "owner@example.com",
        "second@example.com",
    }
    assert User.objects.get(email="admin@example.com").status == User.Status.ACTIVE


def test_user_admin_status_fields_are_read_only(admin_client, user):
    page = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()

    assert 'name="email"' in page
    assert 'name="status"' not in page
    assert 'name="status_reason"' not in page
