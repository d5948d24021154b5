"""Credits and pauses: a campaign keeps calling while the balance can pay for a useful call,
pauses only when nothing can be called and no call of its own is live, says how much each call
reserves and how much is available, and resumes by itself when credits arrive or the account is
reactivated. Calls end through call_finish, the transition the carrier's webhooks drive."""

import html
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import account_set_status
from billing import ledger
from campaigns.calls.services import call_finish
from campaigns.dialing import dialer
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, CampaignContact
from campaigns.tests.factories import make_campaign

pytestmark = pytest.mark.django_db

NUMBERS = [f"+120255501{n:02d}" for n in range(6)]


def answered(call_id, *, seconds):
    Call.objects.filter(pk=call_id).update(
        status=Call.Status.IN_PROGRESS, answered_at=timezone.now(), answered_by="human", provider_call_id=f"SM{call_id}"
    )
    call_finish(call_id=call_id, status=Call.Status.COMPLETED, duration_seconds=seconds)


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="staff@example.com", password="x")


def first_campaign(user, **fields) -> Campaign:
    """The issue's first campaign: the 100 welcome credits, an agent whose calls may last 240 s,
    two calls at a time."""
    campaign = make_campaign(user, NUMBERS[:4], concurrency=2, max_call_seconds=240)
    Campaign.objects.filter(pk=campaign.pk).update(**fields)
    services.campaign_launch(campaign=campaign, by=user)
    return campaign


def test_a_call_holding_every_credit_does_not_pause_the_campaign(user):
    campaign = first_campaign(user)

    (first,) = dialer._claim_calls(campaign.pk)

    # The first call holds all 100 credits; the second slot waits for it instead of pausing.
    assert Call.objects.get(pk=first).time_limit_seconds == 100
    campaign.refresh_from_db()
    assert (campaign.status, campaign.status_reason) == (Campaign.Status.RUNNING, "")
    assert CampaignContact.objects.filter(campaign=campaign, status="pending").count() == 3

    # A 39-credit call ends: 61 are available, and the next call is placed with them.
    answered(first, seconds=39)
    assert ledger.balance_of(workspace=user.personal_workspace).available == 61
    (second,) = dialer._claim_calls(campaign.pk)
    assert Call.objects.get(pk=second).time_limit_seconds == 61
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


def test_it_pauses_only_when_nothing_useful_can_be_held_and_says_what_is_true(user, settings):
    campaign = first_campaign(user)
    (first,) = dialer._claim_calls(campaign.pk)
    answered(first, seconds=94)  # 6 credits left: less than the 10 a call needs

    assert dialer._claim_calls(campaign.pk) == []

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.pause_kind == Campaign.PauseKind.CREDITS
    assert campaign.status_reason == (
        "Paused: not enough credits for the next call. Each call reserves up to 240 credits while it runs "
        "(the agent's longest call, 4 min; what is not used is returned at hang-up) and needs at least 10 "
        "to start; 6 are available. Add credits: the campaign resumes by itself within a minute."
    )
    assert CampaignContact.objects.filter(campaign=campaign, status="pending").count() == 3


def test_credits_held_by_another_campaign_are_named_in_the_pause(user):
    busy = first_campaign(user)
    (call_id,) = dialer._claim_calls(busy.pk)  # holds all 100
    other = make_campaign(user, NUMBERS[4:], concurrency=1, max_call_seconds=60)
    Campaign.objects.filter(pk=other.pk).update(status=Campaign.Status.RUNNING)
    CampaignContact.objects.bulk_create(
        [CampaignContact(campaign=other, contact=c) for c in other.contact_list.contacts.all()]
    )

    assert dialer._claim_calls(other.pk) == []

    other.refresh_from_db()
    assert other.pause_kind == Campaign.PauseKind.CREDITS
    assert "Each call reserves up to 60 credits" in other.status_reason
    assert "0 are available (100 more are held by calls in progress)" in other.status_reason
    assert "resumes by itself within a minute of credits becoming available" in other.status_reason
    # Its call ends: the freed credits resume the other campaign on the next sweep.
    answered(call_id, seconds=20)
    dialer.sweep()
    other.refresh_from_db()
    assert other.status == Campaign.Status.RUNNING
    assert other.status_reason == "Resumed by itself when credits became available."


def paused_for_credits(user) -> Campaign:
    campaign = first_campaign(user)
    (first,) = dialer._claim_calls(campaign.pk)
    answered(first, seconds=95)
    dialer._claim_calls(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.pause_kind == Campaign.PauseKind.CREDITS
    return campaign


def test_a_purchase_resumes_a_campaign_paused_for_credits(user, client, settings):
    from billing.models import CreditPackage
    from billing.tests.test_paddle_webhooks import SECRET, completed, deliver

    settings.PADDLE_WEBHOOK_SECRET = SECRET
    settings.PADDLE_API_KEY = "pdl_test_key"
    CreditPackage.objects.create(name="Starter", credits=500, price=Decimal("10.00"), paddle_price_id="pri_500")
    campaign = paused_for_credits(user)
    dialer.sweep()  # nothing has arrived yet: it stays paused
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED

    assert deliver(client, completed(user)).status_code == 200
    assert ledger.balance_of(workspace=user.personal_workspace).available == 505
    dialer.sweep()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.status_reason == "Resumed by itself when credits became available."
    assert Call.objects.filter(campaign=campaign, status=Call.Status.QUEUED).count() == 2  # calling again


def test_a_staff_adjustment_resumes_it_too_and_the_page_says_so_before_the_sweep(user, client, staff):
    campaign = paused_for_credits(user)
    client.force_login(staff)
    account = user.personal_workspace.credit_account
    response = client.post(
        reverse("admin:billing_creditaccount_adjust", args=[account.pk]), {"amount": "300", "memo": "Goodwill"}
    )
    assert response.status_code == 302

    # Between the credits arriving and the next sweep, the page does not claim they are missing.
    client.force_login(user)
    page = page_text(client.get(reverse("campaign_detail", args=[campaign.pk])))
    assert "305 credits are available now: the campaign resumes by itself within a minute." in page
    assert "not enough credits" not in page

    dialer.sweep()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


def test_the_page_shows_todays_balance_not_the_one_at_the_pause(user, client):
    campaign = paused_for_credits(user)
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("3"), kind="staff_adjustment", reference="a-little"
    )
    client.force_login(user)

    page = page_text(client.get(reverse("campaign_detail", args=[campaign.pk])))

    assert "Each call reserves up to 240 credits" in page
    assert "needs at least 10 to start; 8 are available." in page


def test_a_campaign_paused_by_its_owner_is_never_resumed_by_credits(user):
    campaign = first_campaign(user)
    services.campaign_pause(campaign=campaign)
    ledger.credit_post(workspace=user.personal_workspace, amount=Decimal("500"), kind="purchase", reference="pack")
    dialer.sweep()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.status_reason) == (Campaign.Status.PAUSED, "Paused by you.")


# --- suspension and reactivation ------------------------------------------------------------


def test_after_reactivation_a_campaign_the_suspension_paused_says_what_is_true(user, staff, client):
    campaign = first_campaign(user)
    account_set_status(user=user, status=User.Status.SUSPENDED, reason="Spam reports", by=staff)
    campaign.refresh_from_db()
    assert campaign.pause_kind == Campaign.PauseKind.ACCOUNT
    assert campaign.status_reason == "Paused: the account is suspended."

    account_set_status(user=user, status=User.Status.ACTIVE, reason="Reviewed", by=staff)

    # The owner decides when calling resumes; nothing says the account is still suspended.
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    expected = (
        "Paused while the account could not place calls. It is active again: resume the campaign to go on calling."
    )
    assert campaign.status_reason == expected
    client.force_login(user)
    page = page_text(client.get(reverse("campaign_detail", args=[campaign.pk])))
    assert expected in page and "suspended" not in page
    services.campaign_resume(campaign=campaign)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.status_reason, campaign.pause_kind) == (Campaign.Status.RUNNING, "", "")


def test_after_reactivation_without_credits_the_page_says_credits_are_needed(user, staff, client):
    campaign = first_campaign(user)
    account_set_status(user=user, status=User.Status.SUSPENDED, reason="Spam reports", by=staff)
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("-95"), kind="staff_adjustment", reference="drain"
    )
    account_set_status(user=user, status=User.Status.ACTIVE, reason="Reviewed", by=staff)
    client.force_login(user)

    page = page_text(client.get(reverse("campaign_detail", args=[campaign.pk])))

    assert (
        "Paused while the account could not place calls. It is active again: resume the campaign to go on "
        "calling once at least 10 credits are free (5 are available now)." in page
    )


def test_an_old_suspension_pause_reads_true_once_the_account_is_active(user, client):
    """A campaign the dialer paused for a suspension that has ended since does not keep saying
    the account is suspended."""
    campaign = first_campaign(user)
    services.campaign_pause(campaign=campaign, reason="Paused: the account is suspended.", kind="account")
    client.force_login(user)

    page = page_text(client.get(reverse("campaign_detail", args=[campaign.pk])))

    assert "the account is suspended" not in page
    assert "It is active again: resume the campaign to go on calling." in page


# --- before launch ------------------------------------------------------------------------------


def test_the_draft_summary_says_what_each_call_reserves(user, client):
    campaign = make_campaign(user, NUMBERS[:2], max_call_seconds=240)
    client.force_login(user)
    url = reverse("campaign_preflight", args=[campaign.pk])

    assert (
        "Each call reserves up to 240 credits while it runs (the agent's longest call, 4 min) and returns what it "
        "does not use at hang-up; a call needs at least 10 credits free to start." in page_text(client.get(url))
    )
    Campaign.objects.filter(pk=campaign.pk).update(budget_credits=Decimal(50))
    capped = page_text(client.get(url))
    assert "Each call reserves up to 50 credits while it runs (what is left of the campaign's budget)" in capped
