"""Accounts terminated for violations: staff may forfeit their remaining credits when terminating
(one ledger entry, with who and why; credits held by calls in progress settle as usual), and no
refund is requested or approved for them, as the refund policy says."""

import html
import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import AccountError, account_set_status
from billing import ledger
from billing.models import CreditPackage, LedgerEntry, Purchase, RefundRequest
from billing.paddle.events import account_token
from billing.refunds import RefundError, refund_request_create
from billing.tests.fake_paddle import DEFAULT_WEBHOOK_SECRET, FakePaddle, adjustment, event, signed_webhook, transaction
from billing.verification import ledger_problems

pytestmark = pytest.mark.django_db

PRICE = "pri_01jfakepaddle0starter00001"


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def package(db):
    return CreditPackage.objects.create(name="Starter", credits=500, price=Decimal("10.00"), paddle_price_id=PRICE)


@pytest.fixture
def fake(settings):
    with FakePaddle() as fake:
        settings.PADDLE_API_KEY = fake.api_key
        settings.PADDLE_API_BASE_URL = fake.base_url
        settings.PADDLE_WEBHOOK_SECRET = DEFAULT_WEBHOOK_SECRET
        yield fake


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="admin@example.com", password="admin pass 1234")


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def deliver(payload) -> int:
    body, headers = signed_webhook(DEFAULT_WEBHOOK_SECRET, payload)
    return Client().post(reverse("paddle_webhook"), body, content_type="application/json", headers=headers).status_code


def paid_pack(fake, user) -> Purchase:
    """A real payment: at (fake) Paddle, and granted by its signed webhook."""
    data = fake.add_transaction(
        transaction(price_id=PRICE, custom_data={"clozit_account_token": account_token(user.personal_workspace.pk)})
    )
    assert deliver(event("transaction.completed", data)) == 200
    return Purchase.objects.get(paddle_transaction_id=data["id"])


def balance(user):
    return ledger.balance_of(workspace=user.personal_workspace)


def terminate_in_admin(staff_client, user, *, reason, forfeit):
    """The admin's Terminate action: choose, read the form, confirm with its hidden fields."""
    url = reverse("admin:accounts_user_changelist")
    asked = staff_client.post(url, {"action": "terminate", "_selected_action": [user.pk]})
    form = asked.content.decode().split('<form method="post">', 1)[1].split("</form>", 1)[0]
    assert 'name="reason"' in form and 'name="forfeit_credits"' in form
    data: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form):
        data.setdefault(name, []).append(value)
    data.update(apply="Confirm", reason=reason)
    if forfeit:
        data["forfeit_credits"] = "on"
    return staff_client.post(url, data, follow=True)


# --- forfeiting credits on termination ----------------------------------------------------------


def test_terminating_can_forfeit_the_available_credits_while_a_call_settles(staff_client, staff, user, package, fake):
    paid_pack(fake, user)  # 100 starter + 500 bought
    ledger.hold_place(
        workspace=user.personal_workspace,
        reference="call:live",
        max_amount=Decimal(120),
        min_amount=Decimal(1),
        lifetime=timedelta(minutes=5),
    )

    page = text(terminate_in_admin(staff_client, user, reason="Spam campaigns reported", forfeit=True))

    assert "Terminated 1 account." in page and "Credits forfeited: owner@example.com 480." in page
    user.refresh_from_db()
    assert user.status == User.Status.TERMINATED and not user.is_active
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.FORFEIT)
    assert (entry.amount, entry.created_by, entry.memo) == (-480, staff, "Spam campaigns reported")
    assert (balance(user).balance, balance(user).held) == (120, 120)  # the live call's hold is untouched
    assert ledger_problems() == []

    ledger.hold_settle(reference="call:live", amount_used=Decimal(45))  # the call hangs up after 45 s
    assert (balance(user).balance, balance(user).held) == (75, 0)
    assert ledger_problems() == []
    assert "Forfeited on termination" in text(staff_client.get(reverse("admin:billing_ledgerentry_changelist")))


def test_terminating_without_forfeit_keeps_the_credits(staff_client, user):
    page = text(terminate_in_admin(staff_client, user, reason="Fraudulent payments", forfeit=False))

    assert "Terminated 1 account." in page and "forfeited" not in page
    assert balance(user).balance == 100
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.FORFEIT).exists()


def test_forfeiting_is_only_part_of_a_termination(staff, user):
    with pytest.raises(AccountError, match="only when terminating"):
        account_set_status(user=user, status=User.Status.SUSPENDED, reason="Check", by=staff, forfeit_credits=True)
    user.refresh_from_db()
    assert user.status == User.Status.ACTIVE and balance(user).balance == 100


def test_nothing_to_forfeit_writes_no_entry(staff, user):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(-100), kind=LedgerEntry.Kind.CALL_USAGE, reference="spent"
    )
    account_set_status(user=user, status=User.Status.TERMINATED, reason="Abuse", by=staff, forfeit_credits=True)
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.FORFEIT).exists()


# --- no refunds for terminated accounts -----------------------------------------------------------


def test_a_terminated_account_cannot_ask_for_a_refund(staff, user, package, fake):
    purchase = paid_pack(fake, user)
    account_set_status(user=user, status=User.Status.TERMINATED, reason="Illegal calling", by=staff)

    with pytest.raises(RefundError, match="terminated"):
        refund_request_create(workspace=user.personal_workspace, purchase=purchase, reason="Give my money back")

    # Staff re-enabled its log-in (say, to let it download its data): still no refund form.
    User.objects.filter(pk=user.pk).update(is_active=True)
    client = Client()
    client.force_login(user)
    form_url = reverse("refund_request", args=[purchase.paddle_transaction_id])
    assert form_url not in text(client.get(reverse("credits")))
    page = text(client.post(form_url, {"reason": "Give my money back"}, follow=True))
    assert "This account was terminated for breaking our terms" in page
    assert not RefundRequest.objects.exists() and balance(user).balance == 600


def test_staff_cannot_approve_a_refund_for_a_terminated_account(staff_client, staff, user, package, fake):
    purchase = paid_pack(fake, user)
    request = refund_request_create(
        workspace=user.personal_workspace, purchase=purchase, reason="Bought the wrong pack"
    )
    account_set_status(user=user, status=User.Status.TERMINATED, reason="Spam campaigns reported", by=staff)

    url = reverse("admin:billing_refundrequest_changelist")
    chosen = {"action": "approve", "_selected_action": [request.pk]}
    staff_client.post(url, chosen)
    page = text(staff_client.post(url, {**chosen, "apply": "1", "note": "OK"}, follow=True))

    assert f"Refund request #{request.pk}: The workspace Acme was terminated" in page
    request.refresh_from_db()
    assert request.status == RefundRequest.Status.REQUESTED  # open, for staff to reject
    assert balance(user).balance == 600 and fake.requests_to("POST", "/adjustments") == []
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND_CLAWBACK).exists()


def test_a_chargeback_keeps_a_terminated_account_terminated(staff, user, package, fake):
    purchase = paid_pack(fake, user)
    account_set_status(user=user, status=User.Status.TERMINATED, reason="Fraud", by=staff)
    chargeback = adjustment(
        f"adj_{uuid.uuid4().hex[:20]}", purchase.paddle_transaction_id, "chargeback", "approved", "1000"
    )
    assert deliver(event("adjustment.updated", chargeback)) == 200
    assert deliver(event("adjustment.updated", chargeback)) == 200

    user.refresh_from_db()
    assert user.status == User.Status.TERMINATED and user.status_reason == "Fraud"
    assert balance(user).balance == 100 and Purchase.objects.get().status == "charged_back"
    assert user.status_changes.count() == 1  # the termination only
