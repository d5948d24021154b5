"""Buying credits without Paddle keys: the labelled test checkout posts the same signed webhook
Paddle would, to our own endpoint, and the purchase page follows it until the credits arrive."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing import ledger
from billing.models import CreditPackage, LedgerEntry, Purchase
from billing.verification import ledger_problems


@pytest.fixture
def package(db):
    return CreditPackage.objects.create(name="Starter pack", credits=500, price=Decimal("10.00"))


@pytest.fixture
def live(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.PADDLE_API_KEY = ""
    return live_server


@pytest.mark.django_db(transaction=True)
def test_test_checkout_grants_credits_through_the_signed_webhook(live, client, user, package, run_jobs):
    client.force_login(user)
    page = client.get(reverse("credits_buy"))
    assert "Test checkout" in page.content.decode() and "10.00 USD" in page.content.decode()

    response = client.post(reverse("credits_test_checkout", args=[package.pk]))
    purchase = Purchase.objects.get()
    status_url = reverse("purchase_status", args=[purchase.paddle_transaction_id])
    assert response["Location"] == status_url
    pending = client.get(status_url, HTTP_HX_REQUEST="true")
    assert pending.status_code == 200 and "on their way" in pending.content.decode()

    run_jobs()  # the job posts the signed transaction.completed to the live server

    done = client.get(status_url, HTTP_HX_REQUEST="true")
    assert done.status_code == 286  # htmx stops polling
    assert "500 credits were added" in done.content.decode()
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 600
    purchase.refresh_from_db()
    assert purchase.status == "completed" and purchase.test_mode and purchase.invoice_number.startswith("TEST-")
    assert LedgerEntry.objects.filter(kind="purchase", reference=f"paddle:{purchase.paddle_transaction_id}").exists()
    assert ledger_problems() == []

    history = client.get(reverse("credits"))
    assert "Starter pack" in history.content.decode()
    csv = client.get(reverse("credits_export") + "?kind=purchase").content.decode()
    assert csv.splitlines()[0].startswith("when,kind,amount") and "Purchase,500.00" in csv


@pytest.mark.django_db
def test_the_test_checkout_is_off_when_paddle_is_configured(client, user, package, settings):
    settings.PADDLE_API_KEY = "pdl_live_key"
    client.force_login(user)
    client.post(reverse("credits_test_checkout", args=[package.pk]))
    assert not Purchase.objects.exists()
    assert "Test checkout" not in client.get(reverse("credits_buy")).content.decode()


@pytest.mark.django_db
def test_suspended_accounts_cannot_buy(client, user, package):
    from accounts.services import account_set_status

    account_set_status(user=user, status="suspended", reason="Review", by=None)
    client.force_login(user)
    client.post(reverse("credits_test_checkout", args=[package.pk]))
    assert not Purchase.objects.exists()


@pytest.mark.django_db
def test_history_filters_by_kind(client, user):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(-5), kind="call_usage", reference="u1", memo="Call 1"
    )
    client.force_login(user)
    page = client.get(reverse("credits") + "?kind=call_usage").content.decode()
    assert "Call 1" in page and "Welcome credits" not in page
