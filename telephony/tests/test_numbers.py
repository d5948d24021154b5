"""Caller numbers: searching, buying, renewing and releasing them (through the real twilio SDK
against the local fake Twilio, or the simulated carrier), the Phone numbers pages, and admin."""

import html
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import django_rq
import pytest
from django.core import mail
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import account_created
from billing import ledger
from billing.models import CreditHold, LedgerEntry
from campaigns.tests.factories import make_agent
from telephony import numbers
from telephony.models import PhoneNumber
from telephony.tests.fake_twilio import UNAVAILABLE_NUMBER, fake_twilio  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
FEE = Decimal("150")
WANTED = "+14155550100"


@pytest.fixture(autouse=True)
def monthly_fee(settings):
    settings.PHONE_NUMBER_MONTHLY_CREDITS = FEE
    settings.DEFAULT_CALLER_ID = "+15005550006"


@pytest.fixture
def clock(monkeypatch):
    """A frozen clock: `clock.now` is what timezone.now() returns, everywhere."""

    class Clock:
        now = T0

    monkeypatch.setattr(timezone, "now", lambda: Clock.now)
    return Clock


@pytest.fixture
def twilio(settings, fake_twilio):  # noqa: F811
    settings.TELEPHONY_PROVIDER = "twilio"
    settings.PUBLIC_BASE_URL = "https://clozit.example"
    return fake_twilio


@pytest.fixture
def other(db):
    other = User.objects.create_user(email="rival@example.com", password="another secret pass")
    account_created(user=other)
    return other


def top_up(user, amount) -> None:
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(amount), kind="staff_adjustment", reference=f"topup:{amount}"
    )


def balance(user) -> Decimal:
    return ledger.balance_of(workspace=user.personal_workspace).balance


def rentals(user) -> list[tuple[str, Decimal]]:
    entries = LedgerEntry.objects.filter(
        account__workspace=user.personal_workspace, kind=LedgerEntry.Kind.NUMBER_RENTAL
    )
    return sorted(entries.values_list("reference", "amount"))


def owned(user, number=WANTED, **fields) -> PhoneNumber:
    fields = {"provider": "simulated", "provider_number_id": "PN1", "monthly_fee": FEE, **fields}
    return PhoneNumber.objects.create(workspace=user.personal_workspace, number=number, **fields)


def text(response) -> str:
    return html.unescape(response.content.decode())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- Searching ----------------------------------------------------------------------------------
def test_search_goes_to_twilio_and_leaves_out_numbers_in_use_here(twilio, user):
    owned(user, number="+14155550101")

    found = numbers.numbers_search(country="us", area_code="415", limit=3)

    assert [n.number for n in found] == ["+14155550100", "+14155550102"]
    assert found[0].country == "US" and found[0].locality == "San Francisco"
    path, query = twilio.requests[-1]
    assert path.endswith("/AvailablePhoneNumbers/US/Local.json")
    assert (query["AreaCode"], query["VoiceEnabled"], query["PageSize"]) == ("415", "true", "3")


@pytest.mark.parametrize(
    ("country", "area_code", "message"),
    [("", "", "Choose a country"), ("USA", "", "Choose a country"), ("US", "41a", "up to five digits")],
)
def test_search_refuses_what_is_not_a_country_or_an_area_code(country, area_code, message):
    with pytest.raises(numbers.NumberError, match=message):
        numbers.numbers_search(country=country, area_code=area_code)


def test_search_failures_are_explained(twilio, settings):
    twilio.fail_next_status = 503
    # The SDK reports a failed listing as TwilioException (not TwilioRestException): "could not be reached".
    with pytest.raises(numbers.NumberError, match=r"^Numbers could not be searched: Twilio could not be reached"):
        numbers.numbers_search(country="US")
    settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(numbers.NumberError, match="Twilio is not configured"):
        numbers.numbers_search(country="US")


# --- Buying -------------------------------------------------------------------------------------
def test_buying_charges_the_first_month_and_routes_inbound_calls_to_us(twilio, user, clock):
    top_up(user, 200)  # 300 with the starter credits

    bought = numbers.number_buy(workspace=user.personal_workspace, number=WANTED)

    assert (bought.workspace, bought.number, bought.status, bought.provider) == (
        user.personal_workspace,
        WANTED,
        "active",
        "twilio",
    )
    assert bought.provider_number_id in twilio.numbers
    assert bought.monthly_fee == FEE and bought.paid_until == T0 + timedelta(days=30)
    assert rentals(user) == [(f"number:{bought.pk}:2026-03-01", -FEE)]
    assert balance(user) == 150 and ledger.balance_of(workspace=user.personal_workspace).held == 0
    (sent,) = twilio.numbers_bought()
    assert sent["PhoneNumber"] == WANTED
    assert sent["VoiceUrl"] == "https://clozit.example/telephony/twilio/inbound/"
    assert sent["StatusCallback"] == "https://clozit.example/telephony/twilio/inbound/status/"
    assert CreditHold.objects.get().status == CreditHold.Status.RELEASED  # the purchase hold, freed


def test_without_enough_credits_nothing_is_bought_or_charged(twilio, user):
    with pytest.raises(numbers.NumberError) as refused:
        numbers.number_buy(workspace=user.personal_workspace, number=WANTED)

    assert str(refused.value) == "A number costs 150 credits a month and you have 100 available. Buy credits first."
    assert not twilio.numbers_bought() and not PhoneNumber.objects.exists()
    assert balance(user) == 100 and not rentals(user)


def test_credits_held_by_calls_in_progress_cannot_pay_for_a_number(user):
    top_up(user, 100)
    ledger.hold_place(
        workspace=user.personal_workspace,
        reference="call:1",
        max_amount=100,
        min_amount=10,
        lifetime=timedelta(minutes=5),
    )

    with pytest.raises(numbers.NumberError, match="you have 100 available"):
        numbers.number_buy(workspace=user.personal_workspace, number=WANTED)


@pytest.mark.parametrize("failure", ["unavailable", "outage"])
def test_a_provider_failure_on_buying_charges_nothing(twilio, user, failure):
    top_up(user, 200)
    number = UNAVAILABLE_NUMBER if failure == "unavailable" else WANTED
    if failure == "outage":
        twilio.fail_next_status = 503

    with pytest.raises(numbers.NumberError) as refused:
        numbers.number_buy(workspace=user.personal_workspace, number=number)

    expected = "(21422)" if failure == "unavailable" else "(20500)"
    assert str(refused.value).startswith(f"{number} could not be bought: Twilio could not buy the number:")
    assert expected in str(refused.value) and str(refused.value).endswith("Nothing was charged.")
    assert balance(user) == 300 and ledger.balance_of(workspace=user.personal_workspace).held == 0
    assert not PhoneNumber.objects.exists() and not rentals(user)


def test_when_recording_fails_after_buying_the_number_is_given_back(twilio, user, monkeypatch):
    top_up(user, 200)

    def broken_charge(**kwargs):
        raise ledger.LedgerError("the books are closed")

    monkeypatch.setattr(ledger, "number_rental_charge", broken_charge)

    with pytest.raises(numbers.NumberError, match="could not be added to your account and was given back"):
        numbers.number_buy(workspace=user.personal_workspace, number=WANTED)

    assert len(twilio.numbers_bought()) == 1 and len(twilio.released) == 1 and twilio.numbers == {}
    assert not PhoneNumber.objects.exists()
    assert balance(user) == 300 and ledger.balance_of(workspace=user.personal_workspace).held == 0


def test_a_suspended_account_cannot_buy(twilio, user):
    top_up(user, 200)
    user.personal_workspace.status = User.Status.SUSPENDED
    user.personal_workspace.save()

    with pytest.raises(numbers.NumberError, match="A suspended account cannot buy numbers."):
        numbers.number_buy(workspace=user.personal_workspace, number=WANTED)
    assert not twilio.numbers_bought()


def test_a_number_in_use_here_cannot_be_bought_again(user, other):
    top_up(user, 200)
    owned(other)

    with pytest.raises(numbers.NumberError, match=r"\+14155550100 is already in use on Clozit"):
        numbers.number_buy(workspace=user.personal_workspace, number="(415) 555-0100")


def test_an_unconfigured_provider_is_explained_and_charges_nothing(settings, user):
    settings.TELEPHONY_PROVIDER = "twilio"
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    top_up(user, 200)

    with pytest.raises(numbers.NumberError, match="Phone numbers are unavailable right now. Twilio is not configured"):
        numbers.number_buy(workspace=user.personal_workspace, number=WANTED)
    assert balance(user) == 300 and not CreditHold.objects.exists()


# --- Releasing and inbound agents ---------------------------------------------------------------
def test_releasing_gives_the_number_back_and_stops_the_fee_without_a_refund(twilio, user, clock):
    top_up(user, 200)
    bought = numbers.number_buy(workspace=user.personal_workspace, number=WANTED)
    clock.now = T0 + timedelta(days=3)

    numbers.number_release(phone_number=bought)
    numbers.number_release(phone_number=bought)  # again: nothing more happens

    bought.refresh_from_db()
    assert (bought.status, bought.released_at) == ("released", T0 + timedelta(days=3))
    assert twilio.released == [bought.provider_number_id] and twilio.numbers == {}
    assert balance(user) == 150  # the month paid is not refunded
    clock.now = T0 + timedelta(days=40)
    assert numbers.numbers_renew().renewed == 0 and balance(user) == 150


def test_a_release_the_provider_refuses_keeps_the_number(twilio, user):
    top_up(user, 200)
    bought = numbers.number_buy(workspace=user.personal_workspace, number=WANTED)
    twilio.fail_next_status = 503

    with pytest.raises(numbers.NumberError, match=r"could not be released: .* It is still active."):
        numbers.number_release(phone_number=bought)
    bought.refresh_from_db()
    assert bought.status == "active"


def test_only_the_owners_agents_answer_its_numbers(user, other):
    number = owned(user)
    mine, theirs = make_agent(user), make_agent(other)

    numbers.number_assign_agent(phone_number=number, agent=mine)
    with pytest.raises(numbers.NumberError, match="Choose one of your own agents."):
        numbers.number_assign_agent(phone_number=number, agent=theirs)
    number.refresh_from_db()
    assert number.inbound_agent == mine

    numbers.number_release(phone_number=number)
    with pytest.raises(numbers.NumberError, match="was released"):
        numbers.number_assign_agent(phone_number=number, agent=None)


def test_releasing_all_of_an_accounts_numbers(twilio, user, other):
    top_up(user, 400)
    first = numbers.number_buy(workspace=user.personal_workspace, number="+14155550100")
    second = numbers.number_buy(workspace=user.personal_workspace, number="+14155550101")
    twilio.numbers.pop(second.provider_number_id)  # already gone at the carrier
    theirs = owned(other, number="+14155550199")

    assert numbers.numbers_release_all(user.personal_workspace) == 2

    assert set(PhoneNumber.objects.filter(workspace=user.personal_workspace).values_list("status", flat=True)) == {
        "released"
    }
    assert twilio.released == [first.provider_number_id]
    theirs.refresh_from_db()
    assert theirs.status == "active"


def test_releasing_all_reports_numbers_the_provider_kept_and_a_retry_finishes(twilio, user):
    top_up(user, 400)
    first = numbers.number_buy(workspace=user.personal_workspace, number="+14155550100")
    second = numbers.number_buy(workspace=user.personal_workspace, number="+14155550101")
    twilio.fail_next_status = 503  # the first release fails, the second succeeds

    with pytest.raises(numbers.NumberError, match=r"could not release \+14155550100; try again later"):
        numbers.numbers_release_all(user.personal_workspace)
    assert dict(PhoneNumber.objects.values_list("number", "status")) == {
        first.number: "active",
        second.number: "released",
    }

    assert numbers.numbers_release_all(user.personal_workspace) == 1
    assert not PhoneNumber.objects.filter(status="active").exists()


# --- Renewal ------------------------------------------------------------------------------------
def test_renewal_charges_each_period_once_when_it_is_due(user, clock):
    top_up(user, 400)
    bought = numbers.number_buy(workspace=user.personal_workspace, number=WANTED)

    clock.now = T0 + timedelta(days=29, hours=23)
    assert numbers.numbers_renew() == numbers.RenewalReport()

    clock.now = T0 + timedelta(days=30)
    assert numbers.numbers_renew() == numbers.RenewalReport(renewed=1)
    assert numbers.numbers_renew() == numbers.RenewalReport()  # run twice: charged once

    bought.refresh_from_db()
    assert bought.paid_until == T0 + timedelta(days=60)
    assert rentals(user) == [(f"number:{bought.pk}:2026-03-01", -FEE), (f"number:{bought.pk}:2026-03-31", -FEE)]
    assert balance(user) == 200


def test_renewal_catches_up_on_every_period_missed(user, clock):
    top_up(user, 400)
    bought = numbers.number_buy(workspace=user.personal_workspace, number=WANTED)

    clock.now = T0 + timedelta(days=65)
    assert numbers.numbers_renew().renewed == 1

    bought.refresh_from_db()
    assert bought.paid_until == T0 + timedelta(days=90)
    assert len(rentals(user)) == 3 and balance(user) == 50


def test_renewal_keeps_the_fee_the_number_was_bought_at(user, clock, settings):
    top_up(user, 400)
    bought = numbers.number_buy(workspace=user.personal_workspace, number=WANTED)
    settings.PHONE_NUMBER_MONTHLY_CREDITS = Decimal("999")

    clock.now = T0 + timedelta(days=30)
    numbers.numbers_renew()

    assert rentals(user)[-1] == (f"number:{bought.pk}:2026-03-31", -FEE)


def test_a_number_the_account_cannot_pay_for_is_released_and_the_owner_told(
    twilio, user, clock, django_capture_on_commit_callbacks, run_jobs
):
    top_up(user, 100)  # 200: the first month, not the second
    bought = numbers.number_buy(workspace=user.personal_workspace, number=WANTED)
    clock.now = T0 + timedelta(days=30, hours=2)

    with django_capture_on_commit_callbacks(execute=True):
        assert numbers.numbers_renew() == numbers.RenewalReport(released=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert numbers.numbers_renew() == numbers.RenewalReport()  # a second run: nothing, nobody told twice
    run_jobs()  # the email goes as a notice (notices.jobs)

    bought.refresh_from_db()
    assert (bought.status, bought.released_at) == ("released", clock.now)
    assert twilio.released == [bought.provider_number_id]
    assert balance(user) == 50 and len(rentals(user)) == 1
    (email,) = mail.outbox
    assert email.to == ["owner@example.com"]
    assert email.subject == "[Clozit] Your number +14155550100 was released"
    assert "could not pay the monthly fee of 150 credits" in email.body
    assert "Campaigns that call from it will not dial" in email.body


def test_when_the_provider_cannot_take_an_unpaid_number_back_the_next_run_retries(twilio, user, clock):
    bought = owned(user, provider="twilio", paid_until=T0)
    twilio.numbers[bought.provider_number_id] = {"phone_number": WANTED}
    twilio.fail_next_status = 503

    assert numbers.numbers_renew() == numbers.RenewalReport(failed=1)
    bought.refresh_from_db()
    assert bought.status == "active" and not mail.outbox

    assert numbers.numbers_renew() == numbers.RenewalReport(released=1)
    bought.refresh_from_db()
    assert bought.status == "released" and twilio.released == [bought.provider_number_id]


def test_shared_numbers_and_numbers_without_a_paid_period_are_never_charged(user, clock):
    PhoneNumber.objects.create(number="+12025550100", provider="simulated")
    owned(user, paid_until=None)
    clock.now = T0 + timedelta(days=400)

    assert numbers.numbers_renew() == numbers.RenewalReport()
    assert not rentals(user)


@pytest.mark.django_db(transaction=True)
def test_a_run_skips_a_number_another_run_is_renewing(user, clock):
    """Two runs at once: the second finds the row locked, skips it, and charges nothing."""
    top_up(user, 400)
    bought = numbers.number_buy(workspace=user.personal_workspace, number=WANTED)
    clock.now = T0 + timedelta(days=30)
    locked, finish = threading.Event(), threading.Event()

    def other_run_holding_the_row():
        with transaction.atomic():
            PhoneNumber.objects.select_for_update().get(pk=bought.pk)
            locked.set()
            finish.wait(10)
        connection.close()

    worker = threading.Thread(target=other_run_holding_the_row)
    worker.start()
    assert locked.wait(10)
    try:
        assert numbers.numbers_renew() == numbers.RenewalReport()
    finally:
        finish.set()
        worker.join()
    assert len(rentals(user)) == 1

    assert numbers.numbers_renew() == numbers.RenewalReport(renewed=1)
    assert len(rentals(user)) == 2


def test_renewal_is_scheduled_daily_and_runs_as_a_job(user, run_jobs):
    from rq.cron import CronScheduler

    owned(user, paid_until=timezone.now() - timedelta(hours=1))
    top_up(user, 100)
    scheduler = CronScheduler(connection=django_rq.get_connection("default"))
    scheduler.load_config_from_file("clozit.cron")
    job = next(j for j in scheduler.get_jobs() if j.func is numbers.numbers_renew)
    assert (job.cron, job.queue_name) == ("47 1 * * *", "default")

    queued = job.enqueue(django_rq.get_connection("default"))
    run_jobs()

    queued.refresh()
    assert queued.return_value() == numbers.RenewalReport(renewed=1)
    assert balance(user) == 50


# --- Which numbers a campaign may call from -----------------------------------------------------
def test_caller_numbers_are_the_accounts_own_then_the_shared_ones(user, other, settings):
    assert numbers.caller_number_choices(user.personal_workspace) == [("+15005550006", "+15005550006 — shared")]
    PhoneNumber.objects.create(number="+12025550100", provider="simulated", label="Main line")
    owned(user, number="+14155550102", label="Sales")
    owned(user, number="+14155550103", status="released")
    owned(other, number="+14155550104")

    assert numbers.caller_number_choices(user.personal_workspace) == [
        ("+14155550102", "+14155550102 — your number (Sales)"),
        ("+12025550100", "+12025550100 — shared"),
    ]
    assert numbers.default_caller_number(user.personal_workspace) == "+14155550102"
    assert numbers.default_caller_number(other.personal_workspace) == "+14155550104"


def test_caller_number_usable(user, other):
    assert numbers.caller_number_usable(
        user.personal_workspace, "+15005550006"
    )  # the fallback, while nothing is shared
    assert not numbers.caller_number_usable(user.personal_workspace, "+12025550100")
    assert not numbers.caller_number_usable(user.personal_workspace, "")

    shared = PhoneNumber.objects.create(number="+12025550100", provider="simulated")
    mine = owned(user, number="+14155550102")
    owned(other, number="+14155550104")

    assert numbers.caller_number_usable(user.personal_workspace, "+12025550100")
    assert numbers.caller_number_usable(user.personal_workspace.pk, "+14155550102")
    assert not numbers.caller_number_usable(user.personal_workspace, "+14155550104")  # someone else's
    assert not numbers.caller_number_usable(
        user.personal_workspace, "+15005550006"
    )  # the fallback gave way to shared numbers

    numbers.number_release(phone_number=mine)
    shared.status = PhoneNumber.Status.RELEASED
    shared.save()
    assert not numbers.caller_number_usable(user.personal_workspace, "+14155550102")
    assert not numbers.caller_number_usable(user.personal_workspace, "+12025550100")
    assert numbers.caller_number_usable(
        user.personal_workspace, "+15005550006"
    )  # nothing shared any more: the fallback is back


# --- The Phone numbers pages --------------------------------------------------------------------
@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def test_the_page_lists_the_accounts_numbers_and_the_shared_ones(logged_in, user, other):
    agent = make_agent(user, name="Front desk")
    owned(user, number="+14155550102", inbound_agent=agent, paid_until=T0)
    owned(user, number="+14155550103", status="released", released_at=T0)
    owned(other, number="+14155550104")
    PhoneNumber.objects.create(number="+12025550100", provider="simulated")

    response = logged_in.get(reverse("number_list"))

    page = text(response)
    assert 'data-testid="nav-numbers" aria-current="page"' in page
    assert "+14155550102" in page and "Mar 1, 2026" in page and "150 credits" in page
    assert f'<option value="{agent.pk}" selected>Front desk</option>' in page
    assert "+14155550103" in page and "Released Mar 1, 2026" in page
    assert "+14155550104" not in page
    assert "<li>+12025550100</li>" in page
    assert 'value="US" selected' in page  # the search starts with the account's country


def test_searching_with_htmx_returns_only_the_results(logged_in):
    response = logged_in.get(reverse("number_list"), {"country": "US", "area_code": "212"}, HTTP_HX_REQUEST="true")

    page = text(response)
    assert "<html" not in page and "+12125550100" in page
    assert f'href="{reverse("number_buy")}?number=%2B12125550100"' in page


def test_searching_without_javascript_shows_the_whole_page(logged_in):
    page = text(logged_in.get(reverse("number_list"), {"country": "US", "area_code": "212"}))

    assert "<html" in page and "+12125550100" in page


def test_a_search_the_provider_fails_says_so_plainly(logged_in, settings):
    settings.TELEPHONY_PROVIDER = "twilio"
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""

    response = logged_in.get(reverse("number_list"), {"country": "US"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "Phone numbers are unavailable right now. Twilio is not configured" in text(response)
    assert "Traceback" not in text(response)


def test_buying_asks_first_with_the_fee_and_that_it_is_not_refundable(logged_in, user):
    page = text(logged_in.get(reverse("number_buy"), {"number": WANTED}))

    assert f"Buy {WANTED}?" in page
    assert "150 credits a month." in page and "every 30 days" in page
    assert "Fees are not refundable" in page and "You have 100 credits available." in page
    assert not PhoneNumber.objects.exists()


def test_buying_from_the_page(logged_in, user):
    top_up(user, 200)

    response = logged_in.post(reverse("number_buy"), {"number": WANTED}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("number_list")
    assert f"{WANTED} is yours. Choose an agent to answer calls to it." in messages_of(response)
    assert PhoneNumber.objects.get(workspace=user.personal_workspace).number == WANTED
    assert balance(user) == 150


def test_a_failed_purchase_on_the_page_explains_and_charges_nothing(logged_in, user, twilio):
    top_up(user, 200)
    twilio.fail_next_status = 503

    response = logged_in.post(reverse("number_buy"), {"number": WANTED})

    assert response.status_code == 200
    (message,) = messages_of(response)
    assert message.startswith(f"{WANTED} could not be bought: Twilio could not buy the number")
    assert message.endswith("Nothing was charged.") and "Traceback" not in text(response)
    assert balance(user) == 300 and not PhoneNumber.objects.exists()


def test_assigning_an_agent_from_the_page(logged_in, user, other):
    number = owned(user)
    agent = make_agent(user, name="Front desk")

    response = logged_in.post(reverse("number_agent", args=[number.pk]), {"agent": agent.pk}, follow=True)
    assert f"“Front desk” answers calls to {WANTED}." in messages_of(response)

    theirs = make_agent(other)
    response = logged_in.post(reverse("number_agent", args=[number.pk]), {"agent": theirs.pk}, follow=True)
    assert "Choose one of your agents." in messages_of(response)

    response = logged_in.post(reverse("number_agent", args=[number.pk]), {"agent": ""}, follow=True)
    assert f"Nobody answers calls to {WANTED}." in messages_of(response)
    number.refresh_from_db()
    assert number.inbound_agent is None


def test_releasing_from_the_page_asks_first_and_names_the_campaigns_affected(logged_in, user):
    from campaigns.tests.factories import make_campaign

    number = owned(user)
    campaign = make_campaign(user, ["+12025550101"])
    campaign.caller_number = WANTED
    campaign.save()

    page = text(logged_in.get(reverse("number_release", args=[number.pk])))
    assert f"Release {WANTED}?" in page and "is not refunded" in page and campaign.name in page

    response = logged_in.post(reverse("number_release", args=[number.pk]), follow=True)
    assert f"{WANTED} was released. Its monthly fee has stopped." in messages_of(response)
    number.refresh_from_db()
    assert number.status == "released"


def test_other_accounts_numbers_are_out_of_reach(logged_in, other):
    theirs = owned(other)

    assert logged_in.get(reverse("number_release", args=[theirs.pk])).status_code == 404
    assert logged_in.post(reverse("number_release", args=[theirs.pk])).status_code == 404
    assert logged_in.post(reverse("number_agent", args=[theirs.pk]), {"agent": ""}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "active"


# --- Admin --------------------------------------------------------------------------------------
@pytest.fixture
def staff_client(client, db):
    staff = User.objects.create_superuser(email="staff@example.com", password="staff secret pass")
    client.force_login(staff)
    return client


def test_staff_add_a_shared_number(staff_client, settings):
    settings.TELEPHONY_PROVIDER = "simulated"
    form = text(staff_client.get(reverse("admin:telephony_phonenumber_add")))
    assert 'name="owner"' not in form and 'value="simulated"' in form

    response = staff_client.post(
        reverse("admin:telephony_phonenumber_add"),
        {"number": "(202) 555-0100", "label": "Main line", "provider": "simulated", "provider_number_id": ""},
    )

    assert response.status_code == 302
    shared = PhoneNumber.objects.get()
    assert (shared.number, shared.workspace, shared.is_shared, shared.status) == ("+12025550100", None, True, "active")


def test_admin_lists_filters_and_releases_through_the_service(staff_client, user):
    mine = owned(user, number="+14155550102")
    PhoneNumber.objects.create(number="+12025550100", provider="simulated")
    changelist = reverse("admin:telephony_phonenumber_changelist")

    assert "+14155550102" not in text(staff_client.get(changelist, {"shared": "yes"}))
    assert "+14155550102" in text(staff_client.get(changelist, {"q": "owner@example"}))

    staff_client.post(changelist, {"action": "release", "_selected_action": [mine.pk]})

    mine.refresh_from_db()
    assert mine.status == "released" and mine.released_at is not None
    change = text(staff_client.get(reverse("admin:telephony_phonenumber_change", args=[mine.pk])))
    assert 'name="label"' not in change  # released numbers are history: read-only


# --- Demo data ----------------------------------------------------------------------------------
def test_demo_data_has_a_shared_number_for_its_campaign_and_a_number_its_agent_answers():
    from clozit.demo import load_demo

    user = load_demo()
    load_demo()  # again: nothing changes

    campaign = user.personal_workspace.campaigns.get()
    assert numbers.caller_number_usable(user.personal_workspace, campaign.caller_number)
    assert PhoneNumber.objects.get(workspace=None).number == campaign.caller_number == "+12025550100"
    own = PhoneNumber.objects.get(workspace=user.personal_workspace)
    assert own.inbound_agent == campaign.agent and own.monthly_fee == FEE
    assert len(rentals(user)) == 1
