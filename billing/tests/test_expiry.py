"""Credit expiry: off unless a plan turns it on with 30 days' notice; only unused plan credits
expire, oldest first, once per grant."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from billing import ledger
from billing.expiry import ExpiryError, credits_expire_due, plan_expiry_announce
from billing.models import LedgerEntry, Plan, Subscription

REAL_NOW = timezone.now


@pytest.fixture
def plan(db):
    return Plan.objects.create(name="Growth", paddle_price_id="pri_g", monthly_price=Decimal(29), included_credits=1000)


def at(days_ago):
    """Django's clock, moved: entries are append-only, so the test writes them in the past."""
    return mock.patch("django.utils.timezone.now", return_value=REAL_NOW() - timedelta(days=days_ago))


def grant(user, plan, ref, *, days_ago):
    with at(days_ago):
        return ledger.credit_post(
            workspace=user.personal_workspace,
            amount=plan.included_credits,
            kind="subscription_grant",
            reference=ref,
            memo=f"{plan.name}: credits for the period (plan {plan.pk})",
        )


def turn_on(plan, days=30):
    Plan.objects.filter(pk=plan.pk).update(
        credit_expiry_days=days, credit_expiry_from=timezone.localdate() - timedelta(days=400)
    )


@pytest.mark.django_db
def test_credits_never_expire_by_default(user, plan):
    grant(user, plan, "g1", days_ago=365)
    assert credits_expire_due() == 0
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 1100


@pytest.mark.django_db
def test_only_the_unused_part_of_an_old_grant_expires_once(user, plan):
    grant(user, plan, "g_old", days_ago=40)
    with at(30):
        ledger.credit_post(
            workspace=user.personal_workspace, amount=Decimal(-700), kind="call_usage", reference="spent"
        )  # oldest first
    grant(user, plan, "g_new", days_ago=5)
    with at(2):
        ledger.credit_post(workspace=user.personal_workspace, amount=Decimal(500), kind="purchase", reference="bought")
    turn_on(plan)
    # Balance 1900. Newer than the old grant: the 1000 new grant, 500 bought and the 100 starter
    # credits (granted when the test's account was made, today). What is left of the old grant: 300.
    assert credits_expire_due() == 1
    assert credits_expire_due() == 0
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 1600
    assert LedgerEntry.objects.get(kind="expiry").amount == Decimal(-300)


@pytest.mark.django_db
def test_expiry_needs_30_days_notice_and_emails_subscribers(user, plan, django_capture_on_commit_callbacks, run_jobs):
    Subscription.objects.create(
        workspace=user.personal_workspace, plan=plan, paddle_subscription_id="sub_1", status="active"
    )
    with pytest.raises(ExpiryError, match="30 days"):
        plan_expiry_announce(plan=plan, days=60, starting=timezone.localdate() + timedelta(days=10))
    assert not mail.outbox
    with django_capture_on_commit_callbacks(execute=True):
        told = plan_expiry_announce(plan=plan, days=60, starting=timezone.localdate() + timedelta(days=30))
    run_jobs()  # the email goes as a notice (notices.jobs)
    assert told == 1 and mail.outbox[0].to == [user.email] and "60 days" in mail.outbox[0].body
    plan.refresh_from_db()
    assert plan.credit_expiry_days == 60 and plan.credit_expiry_announced_at is not None


@pytest.mark.django_db
def test_staff_turn_expiry_on_from_admin(client, user, plan):
    staff = User.objects.create_superuser(email="staff@example.com", password="pw")
    client.force_login(staff)
    url = reverse("admin:billing_plan_changelist")
    data = {"action": "turn_on_expiry", "_selected_action": [plan.pk]}
    assert b"Turn on expiry" in client.post(url, data).content
    starting = (timezone.localdate() + timedelta(days=31)).isoformat()
    client.post(url, {**data, "apply": "1", "days": 90, "starting": starting})
    plan.refresh_from_db()
    assert plan.credit_expiry_days == 90


@pytest.mark.django_db
def test_an_ai_answer_costs_half_a_credit_once(user):
    ledger.ai_query_charge(workspace=user.personal_workspace, reference="summary:call:1")
    ledger.ai_query_charge(workspace=user.personal_workspace, reference="summary:call:1")
    assert ledger.balance_of(workspace=user.personal_workspace).balance == Decimal("99.50")
