"""Price changes with notice: a rise is scheduled 30 days ahead at least, every active account is
told once (email and in the app), the old price applies everywhere until the change's moment
(charges, holds and time limits, the buy page, Paddle checkout, the pre-flight estimate, number
fees) and only the new one after; a canceled change leaves the price as it was."""

import re
from datetime import timedelta
from decimal import Decimal

import django_rq
import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import account_created
from billing import ledger, prices
from billing.models import CreditPackage, LedgerEntry, Plan, PriceChange, Purchase
from billing.price_changes import PriceChangeError, price_change_cancel, price_change_schedule
from billing.tests.fake_paddle import fake_paddle, paddle_settings  # noqa: F401 - fixtures
from billing.tests.test_paddle_webhooks import SECRET, completed, deliver
from campaigns.dialing.single import call_place_now
from campaigns.lifecycle.preflight import campaign_preflight
from campaigns.models import Call
from campaigns.tests.factories import SHARED_CALLER, make_agent, make_campaign
from notices.models import Notice
from telephony import numbers
from telephony.models import PhoneNumber

pytestmark = pytest.mark.django_db

STARTER_PRICE = "pri_01jfakepaddle0starter00001"  # 10.00 USD in the fake Paddle
NEW_STARTER_PRICE = "pri_01starter_1200"
CALLEE = "+12025550101"


@pytest.fixture(autouse=True)
def fresh_prices():
    """Each test starts without a cached list of changes (another test's would be stale)."""
    prices.cache_clear()
    yield
    prices.cache_clear()


@pytest.fixture
def staff(db):
    return User.objects.create_user(email="staff@example.com", password="staff secret pass", is_staff=True)


@pytest.fixture
def package(db):
    return CreditPackage.objects.create(
        name="Starter", credits=500, price=Decimal("10.00"), paddle_price_id=STARTER_PRICE
    )


def days(n: int):
    return timezone.now() + timedelta(days=n)


def take_effect(change: PriceChange) -> None:
    """The change's moment has come: its date moved into the past (as time would), cache dropped."""
    PriceChange.objects.filter(pk=change.pk).update(effective_at=timezone.now())
    prices.cache_clear()


def drain(run_jobs, capture) -> None:
    """Run the queued jobs and those they queue after their commits (the broadcast queues the
    emails), as a worker would: the test's transaction never commits, so callbacks are run here."""
    for _ in range(3):
        with capture(execute=True) as callbacks:
            run_jobs()
        if not callbacks:
            return


def schedule_rate(staff, value: str, *, when, item=PriceChange.Item.CALL_SECOND, summary="") -> PriceChange:
    return price_change_schedule(item=item, new_value=Decimal(value), effective_at=when, by=staff, summary=summary)


# --- Rules ---------------------------------------------------------------------------------------
def test_a_rise_sooner_than_the_notice_period_is_refused_and_nobody_is_told(
    staff, user, run_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PriceChangeError, match="30 days"):
        schedule_rate(staff, "1.5", when=days(29))
    run_jobs()
    assert not PriceChange.objects.exists()
    assert not Notice.objects.exists() and mail.outbox == []
    assert prices.call_second_rate() == Decimal("1")


def test_a_decrease_may_start_at_once_and_calls_cost_less_straight_away(staff, user):
    change = schedule_rate(staff, "0.8", when=timezone.now())
    assert change.old_value == Decimal("1") and change.announced_at is not None
    assert prices.call_second_rate() == Decimal("0.8")
    assert ledger.call_cost(seconds=100) == Decimal("80")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"new_value": Decimal("1"), "effective_at": "later"}, "already"),
        ({"new_value": Decimal("0"), "effective_at": "later"}, "above zero"),
        ({"new_value": Decimal("0.5"), "effective_at": "past"}, "past"),
        ({"new_value": Decimal("0.5"), "effective_at": "later", "new_paddle_price_id": "pri_x"}, "Paddle"),
    ],
)
def test_changes_that_make_no_sense_are_refused(staff, fields, message):
    when = days(40) if fields.pop("effective_at") == "later" else days(-1)
    with pytest.raises(PriceChangeError, match=message):
        price_change_schedule(item=PriceChange.Item.CALL_SECOND, effective_at=when, by=staff, **fields)
    assert not PriceChange.objects.exists()


def test_changes_are_scheduled_and_canceled_in_order_so_no_announcement_is_changed_behind_it(staff):
    later = schedule_rate(staff, "0.9", when=days(10))

    # Slipped in before: the announced 1.0 -> 0.9 would become a rise from 0.5 on 5 days' notice.
    with pytest.raises(PriceChangeError, match="later change"):
        schedule_rate(staff, "0.5", when=days(5))
    price_change_cancel(change=later, by=staff)
    earlier_after_cancel = schedule_rate(staff, "0.5", when=days(5))
    then = schedule_rate(staff, "0.4", when=days(10))
    assert (then.old_value, then.new_value) == (Decimal("0.5"), Decimal("0.4"))

    # Canceling the first while the second is pending would change what the second does.
    with pytest.raises(PriceChangeError, match="cancel that one first"):
        price_change_cancel(change=earlier_after_cancel, by=staff)
    price_change_cancel(change=then, by=staff)
    assert price_change_cancel(change=earlier_after_cancel, by=staff).canceled_at is not None


def test_credits_are_charged_in_hundredths(staff):
    with pytest.raises(PriceChangeError, match="two decimals"):
        schedule_rate(staff, "0.125", when=days(40), item=PriceChange.Item.AI_QUERY)
    assert schedule_rate(staff, "0.25", when=timezone.now(), item=PriceChange.Item.AI_QUERY).new_value == Decimal(
        "0.25"
    )


def test_a_pack_change_needs_a_new_paddle_price_and_one_moment_holds_one_change(staff, package):
    with pytest.raises(PriceChangeError, match="Paddle id"):
        price_change_schedule(
            item=PriceChange.Item.PACKAGE_PRICE,
            package=package,
            new_value=Decimal("12"),
            effective_at=days(31),
            by=staff,
        )
    when = days(31)
    price_change_schedule(
        item=PriceChange.Item.PACKAGE_PRICE,
        package=package,
        new_value=Decimal("12"),
        effective_at=when,
        by=staff,
        new_paddle_price_id=NEW_STARTER_PRICE,
    )
    with pytest.raises(PriceChangeError, match="same moment"):
        price_change_schedule(
            item=PriceChange.Item.PACKAGE_PRICE,
            package=package,
            new_value=Decimal("11"),
            effective_at=when,
            by=staff,
            new_paddle_price_id="pri_other",
        )
    with pytest.raises(PriceChangeError, match="already the price"):
        price_change_schedule(
            item=PriceChange.Item.PACKAGE_PRICE,
            package=package,
            new_value=Decimal("11"),
            effective_at=days(60),
            by=staff,
            new_paddle_price_id=STARTER_PRICE,
        )
    assert PriceChange.objects.count() == 1


# --- The announcement ------------------------------------------------------------------------------
def test_every_active_account_is_told_once_by_email_and_in_the_app(
    staff, user, run_jobs, django_capture_on_commit_callbacks
):
    second = User.objects.create_user(email="second@example.com", password="another secret pass")
    account_created(user=second)
    gone = User.objects.create_user(email="gone@example.com", password="another secret pass", is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        change = schedule_rate(staff, "1.2", when=days(31), summary="Carrier rates went up.")
    drain(run_jobs, django_capture_on_commit_callbacks)

    told = Notice.objects.filter(key=f"price-change:{change.pk}")
    assert set(told.values_list("user__email", flat=True)) == {user.email, second.email, staff.email}
    assert not told.filter(user=gone).exists()
    assert sorted(m.to[0] for m in mail.outbox) == sorted([user.email, second.email, staff.email])
    message = mail.outbox[0]
    assert "Voice calls" in message.subject
    assert "1.2 credits per connected second" in message.body and "1 credit per connected second" in message.body
    assert "Carrier rates went up." in message.body and "30 days" in message.body
    assert told.first().link.endswith(reverse("credits_buy"))

    # The broadcast job run again (a retry, a replay) tells nobody twice.
    django_rq.get_queue("default").enqueue(
        "notices.jobs.notice_broadcast_run_job", "price_change", f"price-change:{change.pk}", {"what": "x"}, ""
    )
    drain(run_jobs, django_capture_on_commit_callbacks)
    assert told.count() == 3 and len(mail.outbox) == 3


# --- Calls: the rate of the moment the call was placed ------------------------------------------
def place_call(user) -> Call:
    agent = make_agent(user, max_call_seconds=120)
    PhoneNumber.objects.get_or_create(number=SHARED_CALLER, defaults={"provider": "simulated"})
    return call_place_now(workspace=user.personal_workspace, agent=agent, to=CALLEE, by=user, consent=True)


def finish(call: Call, seconds: int) -> Call:
    from campaigns.calls.services import call_finish

    call_finish(call_id=call.pk, status=Call.Status.COMPLETED, duration_seconds=seconds)
    call.refresh_from_db()
    return call


def test_calls_pay_the_old_rate_until_the_change_and_the_new_rate_after(staff, user):
    ledger.credit_post(workspace=user.personal_workspace, amount=Decimal(400), kind="staff_adjustment", reference="t")
    change = schedule_rate(staff, "2", when=days(31))

    before = place_call(user)
    assert before.time_limit_seconds == 120  # 120 credits held at 1 credit a second
    assert finish(before, 30).credits_charged == Decimal(30)

    placed_before_the_change = place_call(user)
    take_effect(change)
    # Placed at the old rate, settled after the change: the rate its hold and time limit used.
    assert finish(placed_before_the_change, 30).credits_charged == Decimal(30)

    after = place_call(user)
    assert after.time_limit_seconds == 120  # 240 credits held at 2 credits a second
    assert finish(after, 30).credits_charged == Decimal(60)
    usage = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE).order_by("pk")
    assert list(usage.values_list("amount", flat=True)) == [Decimal(-30), Decimal(-30), Decimal(-60)]


def test_ai_answers_pay_the_cost_in_force_when_they_were_asked(staff, user):
    workspace = user.personal_workspace
    change = schedule_rate(staff, "1", when=days(31), item=PriceChange.Item.AI_QUERY)
    ledger.ai_query_reserve(workspace=workspace, reference="ask:1")
    take_effect(change)
    assert ledger.ai_query_settle(reference="ask:1") == Decimal("0.5")
    ledger.ai_query_reserve(workspace=workspace, reference="ask:2")
    assert ledger.ai_query_settle(reference="ask:2") == Decimal("1")


def test_the_preflight_estimate_uses_the_rate_in_force_and_names_the_coming_one(staff, user, client):
    campaign = make_campaign(user, ["+12025550142", "+12025550143", "+12025550144"])
    base = campaign_preflight(campaign=campaign)
    assert base.call_rate == 1 and base.call_rate_change is None

    change = schedule_rate(staff, "2", when=days(31), summary="Carrier rates went up.")
    pending = campaign_preflight(campaign=campaign)
    assert pending.estimated_credits == base.estimated_credits  # the old rate until the change
    assert pending.call_rate_change.new_value == 2
    client.force_login(user)
    summary = client.get(reverse("campaign_preflight", args=[campaign.pk]), HTTP_HX_REQUEST="true")
    text = " ".join(summary.content.decode().split())
    assert "From " in text and "calls cost 2 credits a second" in text and "Carrier rates went up." in text

    take_effect(change)
    after = campaign_preflight(campaign=campaign)
    assert after.estimated_credits == 2 * base.estimated_credits and after.call_rate_change is None


# --- Phone numbers ---------------------------------------------------------------------------------
def test_number_fees_follow_the_fee_in_force_at_purchase_and_at_each_renewal(staff, user, settings):
    settings.PHONE_NUMBER_MONTHLY_CREDITS = Decimal("150")
    workspace = user.personal_workspace
    ledger.credit_post(workspace=workspace, amount=Decimal(1000), kind="staff_adjustment", reference="t")
    now = timezone.now()
    number = numbers.number_record(
        workspace=workspace,
        number="+14155550177",
        provider="simulated",
        provider_number_id="PN1",
        monthly_fee=prices.number_monthly_fee(),
    )
    change = schedule_rate(staff, "200", when=days(31), item=PriceChange.Item.NUMBER_MONTHLY)
    assert prices.number_monthly_fee() == Decimal("150")

    # The first renewal (day 30) starts before the change: the old fee.
    numbers.numbers_renew(now=now + timedelta(days=30, seconds=1))
    number.refresh_from_db()
    assert number.monthly_fee == Decimal("150")
    # The next period starts after it: the new fee, and the page shows it.
    numbers.numbers_renew(now=now + timedelta(days=60, seconds=1))
    number.refresh_from_db()
    assert number.monthly_fee == Decimal("200")
    charges = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.NUMBER_RENTAL).order_by("pk")
    assert list(charges.values_list("amount", flat=True)) == [Decimal(-150), Decimal(-150), Decimal(-200)]
    assert change.effective_at < now + timedelta(days=60)


def test_the_numbers_page_shows_the_fee_now_and_the_coming_one(staff, user, client, settings):
    settings.PHONE_NUMBER_MONTHLY_CREDITS = Decimal("150")
    change = schedule_rate(staff, "200", when=days(31), item=PriceChange.Item.NUMBER_MONTHLY)
    client.force_login(user)
    page = " ".join(client.get(reverse("number_list")).content.decode().split())
    assert "costs 150 credits a month" in page and "the fee becomes 200 credits a month" in page
    take_effect(change)
    page = " ".join(client.get(reverse("number_list")).content.decode().split())
    assert "costs 200 credits a month" in page and "the fee becomes" not in page


# --- The buy page and Paddle ---------------------------------------------------------------------
def price_ids_on(page: str) -> list[str]:
    return re.findall(r'data-price-id="([^"]*)"', page)


def test_buy_page_and_checkout_use_the_price_in_force_and_show_the_coming_one(
    staff,
    user,
    package,
    client,
    paddle_settings,  # noqa: F811
):
    paddle_settings.add_price(NEW_STARTER_PRICE, 1200, "USD")
    change = price_change_schedule(
        item=PriceChange.Item.PACKAGE_PRICE,
        package=package,
        new_value=Decimal("12.00"),
        effective_at=days(31),
        by=staff,
        new_paddle_price_id=NEW_STARTER_PRICE,
        summary="Carrier costs went up.",
    )
    client.force_login(user)
    page = " ".join(client.get(reverse("credits_buy")).content.decode().split())
    assert "10.00 USD" in page and "12.00 USD" in page and "Carrier costs went up." in page
    assert f"From {timezone.localtime(change.effective_at):%-d %B %Y}" in page
    assert price_ids_on(page) == [STARTER_PRICE]  # checkout still charges today's price
    assert paddle_settings.requests_to("POST", "/pricing-preview")[-1].json["items"][0]["price_id"] == STARTER_PRICE

    take_effect(change)
    page = " ".join(client.get(reverse("credits_buy")).content.decode().split())
    assert "12.00 USD" in page and "10.00 USD" not in page and "Carrier costs went up." not in page
    assert price_ids_on(page) == [NEW_STARTER_PRICE]
    preview = paddle_settings.requests_to("POST", "/pricing-preview")[-1]
    assert preview.json["items"][0]["price_id"] == NEW_STARTER_PRICE


def test_a_payment_with_the_new_paddle_price_grants_the_pack(staff, user, package, client, settings):
    settings.PADDLE_WEBHOOK_SECRET = SECRET
    settings.PADDLE_API_KEY = "pdl_test_key"
    price_change_schedule(
        item=PriceChange.Item.PACKAGE_PRICE,
        package=package,
        new_value=Decimal("8.00"),
        effective_at=timezone.now(),
        by=staff,
        new_paddle_price_id="pri_starter_800",
    )
    assert deliver(client, completed(user, price_id="pri_starter_800", total="800")).status_code == 200
    purchase = Purchase.objects.get()
    assert purchase.package == package and purchase.credits == 500 and purchase.total == Decimal("8.00")
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 600  # 100 starter + 500


def test_plan_prices_change_for_new_subscriptions_on_the_buy_page(staff, user, client, settings):
    settings.PADDLE_API_KEY = "pdl_test_key"
    plan = Plan.objects.create(
        name="Growth", paddle_price_id="pri_growth", monthly_price=Decimal("29.00"), included_credits=2000
    )
    change = price_change_schedule(
        item=PriceChange.Item.PLAN_PRICE,
        plan=plan,
        new_value=Decimal("35.00"),
        effective_at=days(30) + timedelta(minutes=1),
        by=staff,
        new_paddle_price_id="pri_growth_35",
    )
    client.force_login(user)
    page = " ".join(client.get(reverse("credits_buy")).content.decode().split())
    assert "29.00 USD (plus tax)" in page and "new subscriptions cost 35.00 USD a month" in page
    assert price_ids_on(page) == ["pri_growth"]
    take_effect(change)
    page = " ".join(client.get(reverse("credits_buy")).content.decode().split())
    assert "35.00 USD (plus tax)" in page and "29.00" not in page
    assert price_ids_on(page) == ["pri_growth_35"]


# --- Canceling --------------------------------------------------------------------------------------
def test_a_canceled_change_leaves_the_old_price_and_is_announced(
    staff, user, package, client, run_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        change = schedule_rate(staff, "2", when=days(31))
        price_change_cancel(change=change, by=staff)
    drain(run_jobs, django_capture_on_commit_callbacks)
    change.refresh_from_db()
    assert change.canceled_at is not None
    take_effect(change)  # its date passes: still canceled, so nothing changes
    assert prices.call_second_rate() == Decimal("1") and ledger.call_cost(seconds=10) == Decimal(10)
    canceled = Notice.objects.get(user=user, key=f"price-change:{change.pk}:canceled")
    assert "off" in canceled.subject and "stays at 1 credit per connected second" in canceled.body
    assert len([m for m in mail.outbox if m.to == [user.email]]) == 2
    client.force_login(user)
    assert "per connected second" in client.get(reverse("credits_buy")).content.decode()
    assert "From " not in client.get(reverse("credits_buy")).content.decode()


def test_a_change_in_force_cannot_be_canceled(staff):
    change = schedule_rate(staff, "0.9", when=timezone.now())
    with pytest.raises(PriceChangeError, match="in force already"):
        price_change_cancel(change=change, by=staff)
    assert prices.call_second_rate() == Decimal("0.9")


# --- Admin ------------------------------------------------------------------------------------------
@pytest.fixture
def admin_client(client, db):
    superuser = User.objects.create_superuser(email="root@example.com", password="root secret pass")
    client.force_login(superuser)
    return client


def admin_add(client, **fields):
    when = fields.pop("when")
    data = {
        "item": PriceChange.Item.CALL_SECOND,
        "new_value": "1.5",
        "effective_at_0": timezone.localtime(when).strftime("%Y-%m-%d"),
        "effective_at_1": timezone.localtime(when).strftime("%H:%M:%S"),
        "summary": "",
        **fields,
    }
    return client.post(reverse("admin:billing_pricechange_add"), data)


def test_staff_schedule_in_admin_with_the_rules_shown_as_form_errors(admin_client):
    refused = admin_add(admin_client, when=days(10))
    assert refused.status_code == 200 and "30 days" in refused.content.decode()
    assert not PriceChange.objects.exists()

    done = admin_add(admin_client, when=days(32), summary="Carrier rates went up.")
    assert done.status_code == 302
    change = PriceChange.objects.get()
    assert change.new_value == Decimal("1.5") and change.announced_at is not None
    assert change.created_by.email == "root@example.com"
    listing = admin_client.get(reverse("admin:billing_pricechange_changelist")).content.decode()
    assert "pending (announced)" in listing

    admin_client.post(
        reverse("admin:billing_pricechange_changelist"),
        {"action": "cancel_changes", "_selected_action": [change.pk]},
    )
    change.refresh_from_db()
    assert change.canceled_at is not None


def test_pack_prices_are_fixed_in_admin_once_saved(admin_client, package):
    page = admin_client.get(reverse("admin:billing_creditpackage_change", args=[package.pk])).content.decode()
    assert 'name="price"' not in page and 'name="paddle_price_id"' not in page
