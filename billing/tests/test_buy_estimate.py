"""The buy page's estimate comes from Paddle's pricing preview (through the real SDK, against a
local fake Paddle API): base price, tax for the buyer's country, total."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import CreditPackage
from billing.tests.fake_paddle import fake_paddle, paddle_settings  # noqa: F401 - fixtures

STARTER_PRICE = "pri_01jfakepaddle0starter00001"  # 10.00 USD in the fake


@pytest.fixture
def package(db):
    return CreditPackage.objects.create(
        name="Starter", credits=500, price=Decimal("10.00"), paddle_price_id=STARTER_PRICE
    )


@pytest.mark.django_db
def test_estimate_shows_tax_for_the_buyers_country(client, user, package, paddle_settings):  # noqa: F811
    user.personal_workspace.default_country = "DE"
    user.personal_workspace.save()
    client.force_login(user)
    page = client.get(reverse("credits_buy")).content.decode()
    assert "10.00 USD" in page and "1.90 USD" in page and "11.90 USD" in page
    assert "Test checkout" not in page and "Buy with Paddle" in page
    preview = paddle_settings.requests_to("POST", "/pricing-preview")[-1]
    assert preview.json["address"]["country_code"] == "DE"
    assert preview.json["items"] == [{"price_id": STARTER_PRICE, "quantity": 1}]


@pytest.mark.django_db
def test_the_page_still_works_when_paddle_fails(client, user, package, paddle_settings):  # noqa: F811
    paddle_settings.fail_next("POST", "/pricing-preview", status=500)
    client.force_login(user)
    page = client.get(reverse("credits_buy")).content.decode()
    assert "10.00 USD" in page and "calculated at checkout" in page


@pytest.mark.django_db
def test_estimate_shows_the_service_fee_and_taxes_both(client, user, package, paddle_settings):  # noqa: F811
    paddle_settings.add_price("pri_fee", 150, "USD", name="Service fee")
    package.service_fee = Decimal("1.50")
    package.service_fee_price_id = "pri_fee"
    package.save()
    user.personal_workspace.default_country = "DE"
    user.personal_workspace.save()
    client.force_login(user)
    page = client.get(reverse("credits_buy")).content.decode()
    # 10.00 + 1.50 fee, 19% tax on both = 2.19, total 13.69
    assert "Service fee" in page and "1.50 USD" in page and "2.19 USD" in page and "13.69 USD" in page
    preview = paddle_settings.requests_to("POST", "/pricing-preview")[-1]
    assert [item["price_id"] for item in preview.json["items"]] == [STARTER_PRICE, "pri_fee"]


@pytest.mark.django_db
def test_the_invoice_link_comes_from_paddle(client, user, package, paddle_settings):  # noqa: F811
    from billing.models import Purchase

    paddle_settings.add_transaction({"id": "txn_01inv", "status": "completed"})
    Purchase.objects.create(
        workspace=user.personal_workspace,
        package=package,
        paddle_transaction_id="txn_01inv",
        credits=500,
        status="completed",
        invoice_number="325-7",
    )
    client.force_login(user)
    assert 'href="/credits/purchases/txn_01inv/invoice/"' in client.get(reverse("credits")).content.decode()
    response = client.get(reverse("purchase_invoice", args=["txn_01inv"]))
    assert response.status_code == 302 and response["Location"].endswith("txn_01inv.pdf?token=fake")
    other = client.get(reverse("purchase_invoice", args=["txn_not_mine"]))
    assert other.status_code == 404


@pytest.mark.django_db
def test_estimates_are_kept_for_a_while(client, user, package, paddle_settings):  # noqa: F811
    client.force_login(user)
    client.get(reverse("credits_buy"))
    client.get(reverse("credits_buy"))
    assert len(paddle_settings.requests_to("POST", "/pricing-preview")) == 1


@pytest.mark.django_db
def test_without_an_api_key_the_buy_page_never_calls_paddle(client, user, package, settings, paddle_settings):  # noqa: F811
    """Packs keep their Paddle price ids when the key is removed (or not yet set): the page shows the
    base price at once instead of waiting on a request Paddle would refuse anyway."""
    settings.PADDLE_API_KEY = ""
    client.force_login(user)
    page = client.get(reverse("credits_buy")).content.decode()
    assert "10.00 USD" in page and "calculated at checkout" in page
    assert paddle_settings.requests == []
