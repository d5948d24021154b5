"""Phone numbers in a real browser: search the carrier's numbers (results swapped in by htmx),
buy one after the fee is spelled out, have an agent answer it, call from it, release it.

The configured carrier is the simulated one, which offers fictional 555-01XX numbers.
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import NewAccount, field

EMAIL = "ada@example.com"
WANTED = "+12125550100"
FEE = Decimal("60")  # the starter credits (100) pay one month
SCREENSHOTS = Path("/tmp")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_search_buy_answer_with_an_agent_and_release_a_number(live, page: Page, sign_up, settings):
    from billing import ledger
    from billing.models import LedgerEntry
    from campaigns.tests.factories import make_agent
    from telephony.models import PhoneNumber

    settings.PHONE_NUMBER_MONTHLY_CREDITS = FEE
    url = live.url
    page.goto(url + "/accounts/signup/")
    sign_up(page, url, NewAccount(email=EMAIL))
    from accounts.models import User

    user = User.objects.get(email=EMAIL)
    make_agent(user, name="Front desk")

    # 1. The page: no numbers of one's own yet; the shared fallback number.
    page.get_by_test_id("nav-numbers").click()
    expect(page).to_have_url(url + "/numbers/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Phone numbers")
    expect(page.get_by_test_id("shared-numbers")).to_contain_text(settings.DEFAULT_CALLER_ID)

    # 2. Search: the results appear in place.
    expect(field(page, "Country")).to_have_value("US")
    field(page, "Area code").fill("212")
    page.get_by_role("button", name="Search").click()
    results = page.get_by_test_id("search-results")
    expect(results).to_contain_text(WANTED)
    expect(results).to_contain_text("60 credits a month for any of these")
    expect(page).to_have_url(url + "/numbers/")

    # 3. Buy: the fee and that it is not refundable, before anything is charged.
    page.get_by_test_id(f"buy-{WANTED}").click()
    expect(page).to_have_url(re.compile(r"/numbers/buy/\?number=%2B12125550100$"))
    terms = page.get_by_test_id("buy-terms")
    expect(terms).to_contain_text("60 credits a month.")
    expect(terms).to_contain_text("again every 30 days")
    expect(terms).to_contain_text("Fees are not refundable")
    expect(terms).to_contain_text("You have 100 credits available.")
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 100
    page.screenshot(path=str(SCREENSHOTS / "numbers-buy.png"), full_page=True, animations="disabled")
    page.get_by_role("button", name="Buy for 60 credits a month").click()
    expect(page).to_have_url(url + "/numbers/")
    expect(page.get_by_role("alert")).to_contain_text(f"{WANTED} is yours. Choose an agent to answer calls to it.")
    row = page.get_by_test_id(f"number-{WANTED}")
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("60 credits")
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 40

    # 4. An agent answers it.
    row.get_by_label(f"Agent answering {WANTED}").select_option(label="Front desk")
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text(f"“Front desk” answers calls to {WANTED}.")
    expect(row.get_by_label(f"Agent answering {WANTED}")).to_have_value(
        str(PhoneNumber.objects.get(number=WANTED).inbound_agent_id)
    )

    # 5. New campaigns call from it by default.
    page.goto(url + "/campaigns/new/")
    expect(field(page, "Caller number")).to_have_value(WANTED)

    # 6. Release: asked first; the fee stops, nothing is refunded.
    page.get_by_test_id("nav-numbers").click()
    row.get_by_role("link", name="Release").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Release {WANTED}?")
    expect(page.get_by_role("main")).to_contain_text("is not refunded")
    page.get_by_role("button", name="Release number").click()
    expect(page).to_have_url(url + "/numbers/")
    expect(page.get_by_role("alert")).to_contain_text(f"{WANTED} was released. Its monthly fee has stopped.")
    expect(row).to_contain_text("Released")
    expect(row.get_by_role("link", name="Release")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "numbers-released.png"), full_page=True, animations="disabled")

    assert PhoneNumber.objects.get(number=WANTED).status == PhoneNumber.Status.RELEASED
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 40
    assert (
        LedgerEntry.objects.filter(
            account__workspace=user.personal_workspace, kind=LedgerEntry.Kind.NUMBER_RENTAL
        ).count()
        == 1
    )
