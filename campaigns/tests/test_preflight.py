"""The pre-flight summary before launch: who can be called now and who cannot, and why; what it
may cost and how long it may take, from the account's own history where there is one."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from billing import ledger
from campaigns.contacts import donotcall
from campaigns.lifecycle import services
from campaigns.lifecycle.preflight import campaign_preflight
from campaigns.models import Call, Campaign, Contact, DoNotCall
from campaigns.tests.factories import make_campaign

NEW_YORK = ["+12125550101", "+12125550102", "+12125550103"]
LOS_ANGELES = ["+14155550104", "+14155550105"]
INDIA = "+919876543210"
INMARSAT = "+870772001799"  # valid, but in no time zone
ON_MY_LIST = "+12125550106"
ON_PLATFORM_LIST = "+12125550107"
TOKYO_RESIDENT = "+14155550108"  # a Los Angeles number whose owner lives in Tokyo


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def tuesday_morning_in_new_york(monkeypatch, settings):
    settings.CALLING_WINDOWS_ENFORCED = True
    settings.CALLS_PER_SECOND = {"default": 0}
    at = utc(2025, 1, 14, 14, 30)  # 09:30 New York, 06:30 Los Angeles, 20:00 India, 23:30 Tokyo
    monkeypatch.setattr(timezone, "now", lambda: at)
    return at


@pytest.fixture
def crafted(user, tuesday_morning_in_new_york) -> Campaign:
    numbers = [*NEW_YORK, *LOS_ANGELES, INDIA, INMARSAT, ON_MY_LIST, ON_PLATFORM_LIST, TOKYO_RESIDENT]
    campaign = make_campaign(user, numbers, concurrency=4)
    Contact.objects.filter(phone_number=TOKYO_RESIDENT).update(time_zone="Asia/Tokyo")
    # Not importable, but lists made before the import checked numbers may hold such rows.
    Contact.objects.create(contact_list=campaign.contact_list, phone_number="+1202")
    donotcall.dnc_add(workspace=user.personal_workspace, phone_number=ON_MY_LIST)
    DoNotCall.objects.create(workspace=None, phone_number=ON_PLATFORM_LIST)
    DoNotCall.objects.create(workspace=None, phone_number=ON_MY_LIST)  # on both: counted once, as yours
    return campaign


def history(user, *, answered: int, unanswered: int, seconds: int, ring: int = 20) -> None:
    start = timezone.now() - dt.timedelta(days=1)
    calls = []
    for n in range(answered + unanswered):
        connected = seconds if n < answered else 0
        calls.append(
            Call(
                workspace=user.personal_workspace,
                to_number="+12125550199",
                from_number="+14155550000",
                provider="simulated",
                status=Call.Status.COMPLETED if connected else Call.Status.NO_ANSWER,
                duration_seconds=connected,
                dialing_started_at=start,
                ended_at=start + dt.timedelta(seconds=ring + connected),
            )
        )
    Call.objects.bulk_create(calls)


@pytest.mark.django_db
def test_counts_who_can_be_called_now_and_why_not(crafted):
    report = campaign_preflight(campaign=crafted)

    assert report.contacts == 11
    assert report.callable_now == 3  # New York
    assert report.outside_window == 4  # Los Angeles (2), India (20:00, after the campaign's hours), Tokyo
    assert (report.dnc_account, report.dnc_platform) == (1, 1)
    assert report.no_time_zone == 1
    assert report.invalid == 1
    assert report.to_call == 7


@pytest.mark.django_db
def test_estimates_use_typical_figures_without_history(crafted):
    report = campaign_preflight(campaign=crafted)

    assert report.history_calls == 0
    assert (report.answer_rate, report.connected_seconds) == (0.35, 60)
    assert report.estimated_credits == Decimal(147)  # 7 contacts x 35% x 60 s, 1 credit a second
    # 25 s ringing + 35% of 60 s per attempt = 46 s; 7 attempts 4 at a time.
    assert report.attempt_seconds == 46
    assert report.estimated_seconds == 81  # ceil(7 * 46 / 4)


@pytest.mark.django_db
def test_estimates_come_from_the_accounts_last_calls(crafted, user, settings):
    history(user, answered=30, unanswered=10, seconds=90)
    report = campaign_preflight(campaign=crafted)

    assert report.history_calls == 40
    assert (report.answer_rate, report.connected_seconds) == (0.75, 90)
    assert report.estimated_credits == Decimal(473)  # ceil(7 x 0.75 x 90)
    assert report.attempt_seconds == round((30 * 110 + 10 * 20) / 40)  # ringing included
    # Calls per second bound the time as well as lines do.
    settings.CALLS_PER_SECOND = {"default": 0, "simulated": 1 / 32}
    assert campaign_preflight(campaign=crafted).estimated_seconds == 7 * 32


@pytest.mark.django_db
def test_costs_a_fixed_number_of_queries(crafted, user, django_assert_num_queries, django_assert_max_num_queries):
    with django_assert_max_num_queries(4) as small:
        campaign_preflight(campaign=crafted)
    Contact.objects.bulk_create(
        Contact(contact_list=crafted.contact_list, phone_number=f"+1212555{n:04d}") for n in range(2000, 2400)
    )
    with django_assert_num_queries(len(small.captured_queries)):
        report = campaign_preflight(campaign=crafted)
    assert report.contacts == 411


@pytest.mark.django_db
def test_a_paused_campaign_counts_who_is_still_queued(crafted, user):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(1000), kind="staff_adjustment", reference="topup"
    )
    services.campaign_launch(campaign=crafted, by=user)
    services.campaign_pause(campaign=crafted)
    crafted.targets.filter(contact__phone_number=NEW_YORK[0]).update(status="done")
    crafted.refresh_from_db()

    report = campaign_preflight(campaign=crafted)

    # The do-not-call numbers were skipped at launch; the rest are still queued.
    assert (report.contacts, report.callable_now, report.outside_window) == (8, 2, 4)
    assert report.budget_left is None


@pytest.mark.django_db
def test_the_draft_page_loads_the_summary(client, crafted, user):
    client.force_login(user)
    page = client.get(reverse("campaign_detail", args=[crafted.pk])).content.decode()
    assert reverse("campaign_preflight", args=[crafted.pk]) in page

    summary = client.get(reverse("campaign_preflight", args=[crafted.pk]), HTTP_HX_REQUEST="true")
    html = summary.content.decode()
    assert 'data-testid="preflight-callable">3<' in html
    assert 'data-testid="preflight-outside">4<' in html
    assert 'data-testid="preflight-dnc">2<' in html
    text = " ".join(strip_tags(html).split())
    assert "yours 1, platform 1" in text
    assert "about 147 credits" in text
    assert "Contacts without a time zone are not called until you set one" in text


@pytest.mark.django_db
def test_the_summary_is_the_owners_alone(client, crafted):
    from accounts.models import User

    other = User.objects.create_user(
        email="other@example.com", password="x", mobile_number="+14155550199", mobile_verified_at=timezone.now()
    )
    client.force_login(other)
    assert client.get(reverse("campaign_preflight", args=[crafted.pk])).status_code == 404
