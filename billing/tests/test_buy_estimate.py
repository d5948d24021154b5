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
    user.default_country = "DE"
    user.save()
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
