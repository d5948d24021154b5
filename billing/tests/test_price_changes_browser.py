"""The buy page in a real browser, on a desktop and on a phone (390x844), while a pack's price
change is scheduled: today's price, the coming one with its date and why, and the rate change,
all readable without scrolling sideways.

The account is logged in by its session cookie (as tests/test_browser_analytics.py does)."""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.conftest import browser, live, new_page, page  # noqa: F401 - fixtures

PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def fresh_prices():
    """No cached list of changes from another test, and none of this test's left behind."""
    from billing import prices

    prices.cache_clear()
    yield
    prices.cache_clear()


DESKTOP = {"width": 1280, "height": 800}


def log_in(page: Page, url: str, user) -> None:  # noqa: F811
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_buy_page_shows_the_price_now_and_the_coming_one(live, page: Page, user, viewport):  # noqa: F811
    from billing.models import CreditPackage, PriceChange
    from billing.price_changes import price_change_schedule

    package = CreditPackage.objects.create(name="Starter", credits=500, price=Decimal("10.00"))
    when = timezone.now() + timedelta(days=40)
    price_change_schedule(
        item=PriceChange.Item.PACKAGE_PRICE,
        package=package,
        new_value=Decimal("12.00"),
        effective_at=when,
        by=None,
        new_paddle_price_id="pri_starter_1200",
        summary="Carrier costs went up",
    )
    price_change_schedule(
        item=PriceChange.Item.CALL_SECOND, new_value=Decimal("1.2"), effective_at=when, by=None, summary=""
    )

    page.set_viewport_size(viewport)
    log_in(page, live.url, user)
    page.goto(live.url + "/credits/buy/")
    day = f"{when.astimezone(ZoneInfo(user.time_zone or 'UTC')):%-d %B %Y}"  # shown in the account's zone

    card = page.get_by_test_id(f"package-{package.pk}")
    expect(card).to_contain_text("10.00 USD")
    expect(page.get_by_test_id(f"price-change-{package.pk}")).to_contain_text(f"From {day}")
    expect(page.get_by_test_id(f"price-change-{package.pk}")).to_contain_text("12.00 USD")
    note = page.get_by_test_id(f"price-change-note-{package.pk}")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Carrier costs went up")
    expect(note).to_contain_text("Until then you pay 10.00 USD")
    expect(page.get_by_test_id("rate-changes")).to_contain_text(f"From {day}, calls cost 1.2 credits per connected")

    # Nothing wider than the screen: the prices are read without scrolling sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=f"/tmp/price-change-buy-{viewport['width']}.png", full_page=True)
