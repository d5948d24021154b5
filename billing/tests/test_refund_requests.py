"""Refund requests: customers ask within 7 days with a reason, staff approve or reject in the admin;
approving takes back only the unused credits and refunds their share through Paddle (the local
fake, via the real SDK); used credits are never refunded. Replacement credits for technical errors."""

import html
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from billing import ledger
from billing.models import CreditPackage, LedgerEntry, Purchase, RefundRequest
from billing.paddle.events import account_token
from billing.refunds import RefundError, refund_request_approve, refund_request_create, refund_request_reject
from billing.tests.fake_paddle import DEFAULT_WEBHOOK_SECRET, FakePaddle, event, signed_webhook, transaction

pytestmark = pytest.mark.django_db

PRICE = "pri_01jfakepaddle0starter00001"


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def package(db):
    return CreditPackage.objects.create(name="Starter", credits=500, price=Decimal("10.00"), paddle_price_id=PRICE)


@pytest.fixture
def fake(settings):
    """Paddle configured, its API the local fake (through the real SDK), its webhooks signed for us."""
    with FakePaddle() as fake:
        settings.PADDLE_API_KEY = fake.api_key
        settings.PADDLE_API_BASE_URL = fake.base_url
        settings.PADDLE_WEBHOOK_SECRET = DEFAULT_WEBHOOK_SECRET
        yield fake


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="admin@example.com", password="admin pass 1234")


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


def balance(user) -> Decimal:
    return ledger.balance_of(workspace=user.personal_workspace).balance


def deliver(payload) -> int:
    body, headers = signed_webhook(DEFAULT_WEBHOOK_SECRET, payload)
    return Client().post(reverse("paddle_webhook"), body, content_type="application/json", headers=headers).status_code


def paddle_purchase(fake, user, *, total_minor="1000", tax_minor="0") -> Purchase:
    """A real payment: the transaction exists at (fake) Paddle and its signed webhook granted the credits."""
    data = fake.add_transaction(
        transaction(
            price_id=PRICE,
            custom_data={"clozit_account_token": account_token(user.personal_workspace.pk)},
            total_minor=total_minor,
            tax_minor=tax_minor,
        )
    )
    assert deliver(event("transaction.completed", data)) == 200
    return Purchase.objects.get(paddle_transaction_id=data["id"])


def test_purchase(user, package, *, paid_ago=timedelta(hours=1)) -> Purchase:
    """A development test-checkout purchase (no Paddle), paid `paid_ago`."""
    purchase = Purchase.objects.create(
        workspace=user.personal_workspace,
        package=package,
        paddle_transaction_id=f"txn_test_{uuid.uuid4().hex[:24]}",
        status=Purchase.Status.COMPLETED,
        credits=package.credits,
        total=package.price,
        currency="USD",
        test_mode=True,
        completed_at=timezone.now() - paid_ago,
    )
    ledger.credit_post(
        workspace=user.personal_workspace,
        amount=package.credits,
        kind=LedgerEntry.Kind.PURCHASE,
        reference=f"paddle:{purchase.paddle_transaction_id}",
    )
    return purchase


test_purchase.__test__ = False  # a helper, not a test


def spend(user, amount):
    ledger.credit_post(
        workspace=user.personal_workspace,
        amount=-Decimal(amount),
        kind=LedgerEntry.Kind.AI_QUERY,
        reference=uuid.uuid4().hex,
    )


def open_request(user, purchase, reason="The calls never connected.") -> RefundRequest:
    return refund_request_create(workspace=user.personal_workspace, purchase=purchase, reason=reason)


def admin_decide(admin_client, refund_request, action, note):
    """Pick the admin action, see the note page, confirm; returns the final page."""
    url = reverse("admin:billing_refundrequest_changelist")
    chosen = {"action": action, "_selected_action": [refund_request.pk]}
    page = admin_client.post(url, chosen)
    assert page.status_code == 200 and 'name="note"' in page.content.decode()
    return admin_client.post(url, {**chosen, "apply": "1", "note": note}, follow=True)


# --- Customers ask for a refund -----------------------------------------------------------------


def test_customer_requests_a_refund_from_billing_history(owner_client, user, package):
    purchase = test_purchase(user, package)

    history = text(owner_client.get(reverse("credits")))
    form_url = reverse("refund_request", args=[purchase.paddle_transaction_id])
    assert "Request a refund" in history and form_url in history

    assert "Credits you have already used are never refunded" in text(owner_client.get(form_url))
    response = owner_client.post(form_url, {"reason": "  Wrong pack bought.  "}, follow=True)

    page = text(response)
    assert "We received your refund request" in page
    assert "Refund request: Awaiting review" in page
    assert form_url not in page  # no second request while this one is open
    request = RefundRequest.objects.get()
    assert (request.workspace, request.purchase, request.reason, request.status) == (
        user.personal_workspace,
        purchase,
        "Wrong pack bought.",
        "requested",
    )
    assert balance(user) == 600  # nothing changes until staff decide


def test_a_refund_cannot_be_requested_after_seven_days(owner_client, user, package):
    purchase = test_purchase(user, package, paid_ago=timedelta(days=7, minutes=1))
    form_url = reverse("refund_request", args=[purchase.paddle_transaction_id])

    assert form_url not in text(owner_client.get(reverse("credits")))
    page = text(owner_client.post(form_url, {"reason": "Too late?"}, follow=True))
    assert "Refunds can be requested within 7 days of payment" in page
    with pytest.raises(RefundError, match="within 7 days"):
        open_request(user, purchase)
    assert not RefundRequest.objects.exists()


def test_a_purchase_within_seven_days_can_still_be_refunded(user, package):
    purchase = test_purchase(user, package, paid_ago=timedelta(days=6, hours=23))
    assert open_request(user, purchase).status == "requested"


def test_nobody_can_request_a_refund_of_someone_elses_purchase(client, user, package):
    purchase = test_purchase(user, package)
    other = User.objects.create_user(
        email="other@example.com",
        password="another pass 123",
        mobile_number="+14155550199",
        mobile_verified_at=timezone.now(),
    )
    client.force_login(other)

    form_url = reverse("refund_request", args=[purchase.paddle_transaction_id])
    assert client.get(form_url).status_code == 404
    assert client.post(form_url, {"reason": "Give me money"}).status_code == 404
    with pytest.raises(RefundError, match="not on your account"):
        open_request(other, purchase)
    assert not RefundRequest.objects.exists()


def test_only_one_open_request_per_purchase_and_a_reason_is_required(owner_client, user, package):
    purchase = test_purchase(user, package)
    form_url = reverse("refund_request", args=[purchase.paddle_transaction_id])

    page = text(owner_client.post(form_url, {"reason": "   "}))
    assert "This field is required" in page
    with pytest.raises(RefundError, match="Tell us why"):
        open_request(user, purchase, reason="  ")
    assert not RefundRequest.objects.exists()

    open_request(user, purchase)
    page = text(owner_client.post(form_url, {"reason": "Again"}, follow=True))
    assert "already being reviewed" in page
    with pytest.raises(RefundError, match="already being reviewed"):
        open_request(user, purchase)
    assert RefundRequest.objects.count() == 1


def test_a_pending_purchase_cannot_be_refunded(user, package):
    purchase = test_purchase(user, package)
    Purchase.objects.filter(pk=purchase.pk).update(status=Purchase.Status.PENDING, completed_at=None)
    purchase.refresh_from_db()
    with pytest.raises(RefundError, match="Only a paid purchase"):
        open_request(user, purchase)


# --- Staff approve: real payments through Paddle ------------------------------------------------


def test_approving_with_every_credit_unused_refunds_the_whole_payment(
    admin_client, owner_client, user, staff, package, fake
):
    purchase = paddle_purchase(fake, user)
    request = open_request(user, purchase)
    assert balance(user) == 600

    page = text(admin_decide(admin_client, request, "approve", "Within policy."))

    assert f"Refund request #{request.pk} approved: 500.00 credits taken back, 10.00 USD refunded" in page
    assert balance(user) == 100  # the starter credits stay
    request.refresh_from_db()
    purchase.refresh_from_db()
    assert (request.status, request.credits_refunded, request.amount_refunded) == ("approved", 500, Decimal("10.00"))
    assert (request.decided_by, request.staff_note) == (staff, "Within policy.")
    assert request.paddle_adjustment_id in fake.adjustments
    assert (purchase.status, purchase.credits_clawed_back) == ("refunded", 500)
    assert purchase.adjustments_applied == [request.paddle_adjustment_id]

    [call] = fake.requests_to("POST", "/adjustments")
    line_item = fake.transactions[purchase.paddle_transaction_id]["details"]["line_items"][0]["id"]
    assert call.json["action"] == "refund" and call.json["transaction_id"] == purchase.paddle_transaction_id
    assert [(i["item_id"], i["type"]) for i in call.json["items"]] == [(line_item, "full")]
    assert fake.adjustments[request.paddle_adjustment_id]["totals"]["total"] == "1000"

    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REFUND_CLAWBACK)
    assert entry.amount == -500 and entry.reference == f"refund-request:{request.pk}"
    history = text(owner_client.get(reverse("credits")))
    assert "Refund request: Approved (500 credits, 10.00 USD)" in history
    assert "Within policy." in history


def test_after_some_credits_were_spent_only_the_unused_share_is_refunded(user, staff, package, fake):
    purchase = paddle_purchase(fake, user, total_minor="1190", tax_minor="190")  # 10.00 + 19 % tax
    spend(user, 400)  # 600 -> 200 left, so 300 of the 500 bought were used
    request = open_request(user, purchase)

    request = refund_request_approve(request=request, by=staff, note="")

    assert request.credits_refunded == 200 and balance(user) == 0
    # 200 of 500 credits unused: 40 % of the 11.90 paid, tax included.
    [call] = fake.requests_to("POST", "/adjustments")
    line_item = fake.transactions[purchase.paddle_transaction_id]["details"]["line_items"][0]["id"]
    assert call.json["items"] == [{"item_id": line_item, "type": "partial", "amount": "476"}]
    assert request.amount_refunded == Decimal("4.76")
    purchase.refresh_from_db()
    assert purchase.credits_clawed_back == 200


def test_approving_when_everything_was_used_refunds_nothing_and_calls_no_paddle(admin_client, user, package, fake):
    purchase = paddle_purchase(fake, user)
    spend(user, 600)
    request = open_request(user, purchase)

    page = text(admin_decide(admin_client, request, "approve", "All used."))

    assert "approved with nothing to refund: all credits of the purchase were used" in page
    request.refresh_from_db()
    purchase.refresh_from_db()
    assert (request.status, request.credits_refunded, request.paddle_adjustment_id) == ("approved", 0, "")
    assert purchase.status == "completed" and purchase.credits_clawed_back == 0
    assert fake.requests_to("POST", "/adjustments") == []
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND_CLAWBACK).exists()


def test_paddle_approving_the_refund_later_does_not_take_credits_twice(user, staff, package, fake):
    purchase = paddle_purchase(fake, user)
    spend(user, 300)  # 300 left: 300 of the purchase refundable
    request = refund_request_approve(request=open_request(user, purchase), by=staff, note="")
    assert balance(user) == 0

    adjustment = fake.adjustments[request.paddle_adjustment_id]
    assert deliver(event("adjustment.created", adjustment)) == 200
    assert deliver(event("adjustment.updated", fake.set_adjustment_status(adjustment["id"], "approved"))) == 200

    purchase.refresh_from_db()
    assert purchase.credits_clawed_back == 300 and purchase.status == "refunded"
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND_CLAWBACK).count() == 1
    ledger.credit_post(
        workspace=user.personal_workspace, amount=50, kind=LedgerEntry.Kind.STAFF_ADJUSTMENT, reference="later-grant"
    )
    assert deliver(event("adjustment.updated", adjustment)) == 200  # a redelivery with a new event id
    assert balance(user) == 50


def test_paddle_declining_the_refund_returns_the_credits(owner_client, user, staff, package, fake):
    purchase = paddle_purchase(fake, user)
    request = refund_request_approve(request=open_request(user, purchase), by=staff, note="OK")
    assert balance(user) == 100

    assert deliver(event("adjustment.updated", fake.set_adjustment_status(request.paddle_adjustment_id, "rejected")))
    assert balance(user) == 600
    request.refresh_from_db()
    purchase.refresh_from_db()
    assert request.status == "rejected" and "Paddle declined the refund" in request.staff_note
    assert (purchase.status, purchase.credits_clawed_back) == ("completed", 0)
    assert "Refund request: Rejected" in text(owner_client.get(reverse("credits")))


def test_a_paddle_failure_changes_nothing_and_staff_see_why(admin_client, user, package, fake):
    purchase = paddle_purchase(fake, user)
    request = open_request(user, purchase)
    fake.fail_next(
        "POST", "/adjustments", status=400, code="adjustment_pending_refund_request", detail="A refund is pending."
    )

    page = text(admin_decide(admin_client, request, "approve", "OK"))

    assert "Paddle refused the refund (adjustment_pending_refund_request: A refund is pending.)" in page
    assert "Nothing was changed" in page
    assert balance(user) == 600
    request.refresh_from_db()
    purchase.refresh_from_db()
    assert (request.status, request.credits_refunded, request.decided_by) == ("requested", 0, None)
    assert (purchase.status, purchase.credits_clawed_back, purchase.adjustments_applied) == ("completed", 0, [])
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND_CLAWBACK).exists()
    assert fake.adjustments == {}


def test_paddle_unreachable_changes_nothing(user, staff, package, fake, settings):
    purchase = paddle_purchase(fake, user)
    request = open_request(user, purchase)
    settings.PADDLE_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens there

    with pytest.raises(RefundError, match="could not be reached"):
        refund_request_approve(request=request, by=staff, note="")
    assert balance(user) == 600 and RefundRequest.objects.get().status == "requested"


# --- Test purchases, rejections, decided requests -----------------------------------------------


def test_a_test_mode_purchase_is_refunded_in_credits_without_calling_paddle(user, staff, package, fake):
    purchase = test_purchase(user, package)
    spend(user, 200)  # 400 left

    request = refund_request_approve(request=open_request(user, purchase), by=staff, note="")

    assert (request.credits_refunded, request.amount_refunded, request.paddle_adjustment_id) == (
        400,
        Decimal("8.00"),
        "",
    )
    assert balance(user) == 0
    assert fake.requests == []


def test_a_test_mode_purchase_is_refunded_when_paddle_is_not_configured(user, staff, package, settings):
    settings.PADDLE_API_KEY = ""
    purchase = test_purchase(user, package)
    request = refund_request_approve(request=open_request(user, purchase), by=staff, note="")
    assert request.credits_refunded == 500 and balance(user) == 100


def test_a_real_payment_is_not_refunded_in_credits_only_when_paddle_is_not_configured(user, staff, package, settings):
    settings.PADDLE_API_KEY = ""
    purchase = test_purchase(user, package)
    Purchase.objects.filter(pk=purchase.pk).update(test_mode=False)
    with pytest.raises(RefundError, match="Paddle is not configured"):
        refund_request_approve(request=open_request(user, purchase), by=staff, note="")
    assert balance(user) == 600


def test_rejecting_records_the_note_and_the_customer_sees_it(admin_client, owner_client, user, staff, package):
    purchase = test_purchase(user, package)
    request = open_request(user, purchase)

    page = admin_decide(admin_client, request, "reject", "")
    assert "This field is required" in text(page)  # a rejection needs a note
    page = text(admin_decide(admin_client, request, "reject", "Credits were used for 40 calls."))

    assert f"Refund request #{request.pk} rejected." in page
    request.refresh_from_db()
    assert (request.status, request.staff_note, request.decided_by) == (
        "rejected",
        "Credits were used for 40 calls.",
        staff,
    )
    assert request.decided_at is not None and balance(user) == 600
    history = text(owner_client.get(reverse("credits")))
    assert "Refund request: Rejected" in history and "Credits were used for 40 calls." in history
    # A rejected request does not block a new one within the 7 days.
    assert "Request a refund" in history


def test_a_decided_request_cannot_be_decided_again(admin_client, user, staff, package):
    purchase = test_purchase(user, package)
    request = refund_request_approve(request=open_request(user, purchase), by=staff, note="")

    with pytest.raises(RefundError, match="already approved"):
        refund_request_reject(request=request, by=staff, note="Changed my mind")
    page = text(admin_decide(admin_client, request, "approve", "again"))
    assert "was already approved" in page
    assert balance(user) == 100 and LedgerEntry.objects.filter(kind="refund_clawback").count() == 1


def test_staff_find_refund_requests_by_status_and_email(admin_client, user, package):
    request = open_request(user, test_purchase(user, package))
    url = reverse("admin:billing_refundrequest_changelist")

    page = text(admin_client.get(url, {"status__exact": "requested", "q": "owner@example"}))
    assert reverse("admin:billing_refundrequest_change", args=[request.pk]) in page
    assert "Approve selected refund requests" in page and "Reject selected refund requests" in page
    assert reverse("admin:billing_refundrequest_change", args=[request.pk]) not in text(
        admin_client.get(url, {"status__exact": "approved"})
    )
    assert (
        'name="reason"'
        not in admin_client.get(reverse("admin:billing_refundrequest_change", args=[request.pk])).content.decode()
    )


# --- Replacement credits --------------------------------------------------------------------


def test_staff_grant_replacement_credits_for_a_technical_error(admin_client, owner_client, user, staff):
    account = user.personal_workspace.credit_account
    url = reverse("admin:billing_creditaccount_replacement", args=[account.pk])
    assert url in text(admin_client.get(reverse("admin:billing_creditaccount_changelist")))

    assert "Ensure this value is greater than or equal to 0.01" in text(
        admin_client.post(url, {"amount": "-5", "reason": "x"})
    )
    assert "This field is required" in text(admin_client.post(url, {"amount": "30", "reason": ""}))
    response = admin_client.post(url, {"amount": "30", "reason": "Call 812 charged but dropped by carrier"})

    assert response.status_code == 302
    assert balance(user) == 130
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.STAFF_ADJUSTMENT)
    assert (entry.amount, entry.created_by) == (30, staff)
    assert entry.memo == "Replacement for technical error: Call 812 charged but dropped by carrier"
    assert "Replacement for technical error: Call 812" in text(owner_client.get(reverse("credits")))
