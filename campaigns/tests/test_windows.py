"""Calling windows in the callee's own time: campaign hours and days, the legal window of the
callee's country, several zones per number, daylight saving time, unknown zones. Every test
runs on a frozen clock (Django's own, patched), never on the hour the suite happens to run."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import ledger
from campaigns.contacts import lists
from campaigns.contacts.windows import (
    WAITING_NEVER,
    WAITING_NO_ZONE,
    callee_time_zones,
    legal_window,
    next_window_opening,
    window_open,
)
from campaigns.dialing import dialer
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, CampaignContact, Contact
from campaigns.tests.factories import make_campaign

NEW_YORK = "+12125550101"
LOS_ANGELES = "+14155550102"
INDIA = "+919876543210"
LONDON = "+442079460123"
IDAHO = "+12085550103"  # area code 208: Boise (Mountain) and Los Angeles (Pacific)
NORTH_DAKOTA = "+17015550104"  # area code 701: Denver (Mountain) and North Dakota Center (Central)
INMARSAT = "+870772001799"  # a satellite number: valid, but in no time zone
TOLL_FREE = "+18005550105"  # spans every NANP zone from Guam to Newfoundland

EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def campaign_hours(start=dt.time(9), end=dt.time(20), days=(0, 1, 2, 3, 4)) -> Campaign:
    return Campaign(calling_hours_start=start, calling_hours_end=end, calling_days=list(days))


@pytest.fixture
def clock(monkeypatch, settings):
    """Windows on, and Django's clock frozen at whatever instant the test sets."""
    settings.CALLING_WINDOWS_ENFORCED = True
    now = {"at": utc(2025, 1, 14, 14, 30)}
    monkeypatch.setattr(timezone, "now", lambda: now["at"])

    def set_to(instant: dt.datetime) -> dt.datetime:
        now["at"] = instant
        return instant

    return set_to


# --- the rules, as pure functions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "open_at", "closed_at"),
    [
        # Tuesday 14 January 2025 (winter time everywhere north).
        ("America/New_York", utc(2025, 1, 14, 14, 0), utc(2025, 1, 14, 13, 59)),  # 09:00 EST
        ("America/Los_Angeles", utc(2025, 1, 14, 17, 0), utc(2025, 1, 14, 16, 59)),  # 09:00 PST
        ("Asia/Kolkata", utc(2025, 1, 14, 3, 30), utc(2025, 1, 14, 3, 29)),  # 09:00 IST
        ("Europe/London", utc(2025, 1, 14, 9, 0), utc(2025, 1, 14, 8, 59)),  # 09:00 GMT
    ],
)
def test_the_campaign_hours_are_the_callees_own(zone, open_at, closed_at):
    campaign = campaign_hours()
    assert window_open(campaign, [zone], open_at)
    assert not window_open(campaign, [zone], closed_at)


def test_the_end_of_the_hours_is_exclusive_and_days_count_in_the_callees_time():
    campaign = campaign_hours()
    assert window_open(campaign, ["America/New_York"], utc(2025, 1, 15, 0, 59))  # Tue 19:59 EST
    assert not window_open(campaign, ["America/New_York"], utc(2025, 1, 15, 1, 0))  # Tue 20:00
    # Saturday 10:00 in Sydney is still Friday evening in UTC: Sydney's Saturday counts.
    assert not window_open(campaign, ["Australia/Sydney"], utc(2025, 1, 17, 23, 0))
    assert window_open(campaign, ["Australia/Sydney"], utc(2025, 1, 16, 23, 0))  # Fri 10:00 AEDT


def test_the_legal_window_narrows_wide_campaign_hours(settings):
    campaign = campaign_hours(start=dt.time(7), end=dt.time(23), days=EVERY_DAY)
    tuesday_7_30_new_york = utc(2025, 1, 14, 12, 30)
    assert not window_open(campaign, ["America/New_York"], tuesday_7_30_new_york, country="US")
    assert next_window_opening(campaign, ["America/New_York"], tuesday_7_30_new_york, country="US") == utc(
        2025, 1, 14, 13, 0
    )  # 08:00: the US legal start
    assert not window_open(campaign, ["America/New_York"], utc(2025, 1, 15, 2, 0), country="US")  # 21:00
    # India: 09:00 to 21:00.
    assert legal_window("IN") == (dt.time(9), dt.time(21))
    assert not window_open(campaign, ["Asia/Kolkata"], utc(2025, 1, 14, 3, 0), country="IN")  # 08:30 IST
    assert window_open(campaign, ["Asia/Kolkata"], utc(2025, 1, 14, 3, 30), country="IN")
    # Elsewhere the configurable default applies.
    settings.CALLING_WINDOW_DEFAULT = "10:00-18:00"
    assert legal_window("GB") == (dt.time(10), dt.time(18))
    assert not window_open(campaign, ["Europe/London"], utc(2025, 1, 14, 9, 30), country="GB")
    assert next_window_opening(campaign, ["Europe/London"], utc(2025, 1, 14, 9, 30), country="GB") == utc(
        2025, 1, 14, 10, 0
    )
    assert not window_open(campaign, ["Europe/London"], utc(2025, 1, 14, 18, 0), country="GB")


def test_a_number_in_two_zones_is_called_only_while_both_are_inside():
    assert callee_time_zones(Contact(phone_number=IDAHO)) == ["America/Boise", "America/Los_Angeles"]
    campaign = campaign_hours()
    zones = callee_time_zones(Contact(phone_number=IDAHO))
    # 16:30 UTC: 09:30 in Boise but 08:30 in Los Angeles.
    assert window_open(campaign, ["America/Boise"], utc(2025, 1, 14, 16, 30))
    assert not window_open(campaign, zones, utc(2025, 1, 14, 16, 30))
    assert next_window_opening(campaign, zones, utc(2025, 1, 14, 16, 30)) == utc(2025, 1, 14, 17, 0)
    # And it closes with the earlier zone: 20:00 in Boise is 19:00 in Los Angeles.
    assert window_open(campaign, zones, utc(2025, 1, 15, 2, 59))
    assert not window_open(campaign, zones, utc(2025, 1, 15, 3, 0))

    dakota = callee_time_zones(Contact(phone_number=NORTH_DAKOTA))
    assert dakota == ["America/Denver", "America/North_Dakota/Center"]
    assert next_window_opening(campaign, dakota, utc(2025, 1, 14, 12, 0)) == utc(2025, 1, 14, 16, 0)  # 9:00 MST


def test_zones_too_far_apart_never_share_an_hour():
    three_morning_hours = campaign_hours(end=dt.time(12), days=EVERY_DAY)
    assert next_window_opening(three_morning_hours, ["America/New_York", "Asia/Kolkata"], utc(2025, 1, 14)) is None
    # A toll-free number may ring anywhere from Guam to Newfoundland.
    zones = callee_time_zones(Contact(phone_number=TOLL_FREE))
    assert len(zones) > 30
    one_hour = campaign_hours(end=dt.time(10), days=EVERY_DAY)
    assert next_window_opening(one_hour, zones, utc(2025, 1, 14, 12, 0)) is None
    # 11 hours a day: 09:00 in Guam (UTC+10) is 12:00 the day before in Pago Pago (UTC-11).
    assert next_window_opening(campaign_hours(days=EVERY_DAY), zones, utc(2025, 1, 14, 12, 0)) == utc(
        2025, 1, 14, 23, 0
    )


def test_no_calling_days_never_opens():
    assert next_window_opening(campaign_hours(days=()), ["America/New_York"], utc(2025, 1, 14, 12, 0)) is None


def test_the_next_opening_skips_days_the_campaign_does_not_call_on():
    friday_evening = utc(2025, 1, 18, 2, 0)  # Friday 21:00 EST
    assert next_window_opening(campaign_hours(), ["America/New_York"], friday_evening) == utc(2025, 1, 20, 14, 0)
    tuesdays_only = campaign_hours(days=[1])
    assert next_window_opening(tuesdays_only, ["America/New_York"], utc(2025, 1, 14, 14, 1)) == utc(2025, 1, 14, 14, 1)
    assert next_window_opening(tuesdays_only, ["America/New_York"], utc(2025, 1, 15, 14, 0)) == utc(2025, 1, 21, 14, 0)


@pytest.mark.parametrize(
    ("zone", "before", "opening"),
    [
        # US spring forward, Sunday 9 March 2025: 09:00 is EDT (UTC-4), not EST.
        ("America/New_York", utc(2025, 3, 9, 1, 30), utc(2025, 3, 9, 13, 0)),
        ("America/Los_Angeles", utc(2025, 3, 9, 5, 0), utc(2025, 3, 9, 16, 0)),
        # US fall back, Sunday 2 November 2025: 09:00 is EST again.
        ("America/New_York", utc(2025, 11, 2, 1, 30), utc(2025, 11, 2, 14, 0)),
        # Europe: summer time starts Sunday 30 March and ends Sunday 26 October 2025.
        ("Europe/London", utc(2025, 3, 29, 21, 0), utc(2025, 3, 30, 8, 0)),
        ("Europe/Berlin", utc(2025, 3, 29, 21, 0), utc(2025, 3, 30, 7, 0)),
        ("Europe/London", utc(2025, 10, 25, 21, 0), utc(2025, 10, 26, 9, 0)),
    ],
)
def test_daylight_saving_days(zone, before, opening):
    campaign = campaign_hours(days=EVERY_DAY)
    assert not window_open(campaign, [zone], before)
    assert next_window_opening(campaign, [zone], before) == opening
    assert window_open(campaign, [zone], opening)
    assert not window_open(campaign, [zone], opening - dt.timedelta(minutes=1))


def test_the_end_of_the_window_moves_with_daylight_saving():
    campaign = campaign_hours(days=EVERY_DAY)
    # Monday 10 March 2025, 00:30 UTC: 20:30 EDT on Sunday (19:30 if it were still EST).
    assert not window_open(campaign, ["America/New_York"], utc(2025, 3, 10, 0, 30))
    assert window_open(campaign, ["America/New_York"], utc(2025, 3, 9, 23, 59))


def test_the_contacts_own_zone_wins_and_a_bad_one_is_unknown():
    assert callee_time_zones(Contact(phone_number=NEW_YORK, time_zone="Asia/Tokyo")) == ["Asia/Tokyo"]
    assert callee_time_zones(Contact(phone_number=NEW_YORK)) == ["America/New_York"]
    assert callee_time_zones(Contact(phone_number=NEW_YORK, time_zone="Mars/Olympus")) == []
    assert callee_time_zones(Contact(phone_number=INMARSAT)) == []
    assert not window_open(campaign_hours(days=EVERY_DAY), [], utc(2025, 1, 14, 15, 0))


# --- the dialer -----------------------------------------------------------------------------


def waiting(campaign) -> dict[str, CampaignContact]:
    return {
        t.contact.phone_number: t
        for t in CampaignContact.objects.filter(campaign=campaign, status="pending").select_related("contact")
    }


def dialled(call_ids) -> set[str]:
    return set(Call.objects.filter(pk__in=call_ids).values_list("to_number", flat=True))


def launch(user, numbers, **fields) -> Campaign:
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(5000), kind="staff_adjustment", reference="topup"
    )
    campaign = make_campaign(user, numbers, concurrency=10)
    Campaign.objects.filter(pk=campaign.pk).update(**fields)
    services.campaign_launch(campaign=campaign, by=user)
    return campaign


@pytest.mark.django_db
def test_claims_take_only_callees_inside_their_window_and_say_when_the_others_open(clock, user):
    clock(utc(2025, 1, 14, 14, 30))  # Tuesday: 09:30 New York, 06:30 Los Angeles, 20:00 India
    numbers = [NEW_YORK, LOS_ANGELES, INDIA, LONDON, IDAHO, INMARSAT]
    campaign = launch(user, numbers)

    assert dialled(dialer._claim_calls(campaign.pk)) == {NEW_YORK, LONDON}

    left = waiting(campaign)
    assert left[LOS_ANGELES].next_attempt_at == utc(2025, 1, 14, 17, 0)
    assert left[LOS_ANGELES].waiting_reason == "Outside calling hours (opens at 09:00 callee time)"
    assert left[IDAHO].next_attempt_at == utc(2025, 1, 14, 17, 0)  # when Los Angeles opens too
    # India: the campaign ends at 20:00 there; Wednesday 09:00 IST.
    assert left[INDIA].next_attempt_at == utc(2025, 1, 15, 3, 30)
    assert left[INMARSAT].waiting_reason == WAITING_NO_ZONE
    assert left[INMARSAT].next_attempt_at == utc(2025, 1, 14, 15, 30)
    assert all(t.attempts == 0 for t in left.values())

    clock(utc(2025, 1, 14, 16, 0))  # nothing new is open; the waiting are not even looked at
    assert dialer._claim_calls(campaign.pk) == []
    clock(utc(2025, 1, 14, 17, 0))
    assert dialled(dialer._claim_calls(campaign.pk)) == {LOS_ANGELES, IDAHO}
    clock(utc(2025, 1, 15, 3, 30))
    assert dialled(dialer._claim_calls(campaign.pk)) == {INDIA}
    assert waiting(campaign)[INMARSAT].waiting_reason == WAITING_NO_ZONE  # still waiting for a zone


@pytest.mark.django_db
def test_an_unknown_zone_waits_until_the_user_sets_one(clock, user):
    clock(utc(2025, 1, 14, 14, 30))
    campaign = launch(user, [INMARSAT])
    assert dialer._claim_calls(campaign.pk) == []
    target = waiting(campaign)[INMARSAT]
    assert target.waiting_reason == "No time zone known for this number: set one on the contact"

    contact = target.contact
    contact.time_zone = "Europe/London"  # 14:30 there
    contact.save(update_fields=["time_zone"])
    assert lists.campaign_targets_recheck(contact=contact) == 1

    assert dialled(dialer._claim_calls(campaign.pk)) == {INMARSAT}


@pytest.mark.django_db
def test_a_recheck_keeps_a_retrys_spacing(clock, user):
    campaign = launch(user, [NEW_YORK])
    later = timezone.now() + dt.timedelta(minutes=30)
    CampaignContact.objects.filter(campaign=campaign).update(
        next_attempt_at=later, waiting_reason="Retrying after busy"
    )
    contact = Contact.objects.get(phone_number=NEW_YORK)
    assert lists.campaign_targets_recheck(contact=contact) == 0
    assert waiting(campaign)[NEW_YORK].next_attempt_at == later


@pytest.mark.django_db
def test_a_number_that_is_never_inside_the_window_waits_with_a_reason(clock, user):
    clock(utc(2025, 1, 14, 18, 0))
    campaign = launch(user, [TOLL_FREE], calling_days=EVERY_DAY, calling_hours_end=dt.time(10))
    assert dialer._claim_calls(campaign.pk) == []
    target = waiting(campaign)[TOLL_FREE]
    assert target.waiting_reason == WAITING_NEVER and target.next_attempt_at > timezone.now()


@pytest.mark.django_db
def test_the_contacts_own_zone_decides(clock, user):
    clock(utc(2025, 1, 14, 14, 30))  # 09:30 in New York, 23:30 in Tokyo
    campaign = launch(user, [NEW_YORK, "+12125550102"])
    Contact.objects.filter(phone_number=NEW_YORK).update(time_zone="Asia/Tokyo")
    assert dialled(dialer._claim_calls(campaign.pk)) == {"+12125550102"}
    assert waiting(campaign)[NEW_YORK].next_attempt_at == utc(2025, 1, 15, 0, 0)  # Wed 09:00 JST


@pytest.mark.django_db
def test_windows_off_dial_at_any_hour(clock, settings, user):
    clock(utc(2025, 1, 14, 8, 0))  # 03:00 in New York
    settings.CALLING_WINDOWS_ENFORCED = False
    campaign = launch(user, [NEW_YORK, INMARSAT])
    assert dialled(dialer._claim_calls(campaign.pk)) == {NEW_YORK, INMARSAT}


@pytest.mark.django_db
def test_a_long_list_outside_its_window_is_set_aside_a_bounded_slice_at_a_time(
    clock, user, django_assert_max_num_queries
):
    clock(utc(2025, 1, 14, 14, 30))  # Los Angeles closed, New York open
    sleeping = [f"+1415200{n:04d}" for n in range(dialer.CLAIM_SCAN_LIMIT + 100)]
    campaign = launch(user, [*sleeping, NEW_YORK])

    with django_assert_max_num_queries(40):
        assert dialer._claim_calls(campaign.pk) == []  # New York is past the first 500 looked at
    set_aside = CampaignContact.objects.filter(campaign=campaign, next_attempt_at=utc(2025, 1, 14, 17, 0))
    assert set_aside.count() == dialer.CLAIM_SCAN_LIMIT

    assert dialled(dialer._claim_calls(campaign.pk)) == {NEW_YORK}
    assert set_aside.count() == len(sleeping)


@pytest.mark.django_db(transaction=True)
def test_a_window_that_closed_after_the_claim_puts_the_contact_back_without_counting_the_attempt(clock, user):
    clock(utc(2025, 1, 15, 0, 59))  # Tuesday 19:59 in New York
    campaign = launch(user, [NEW_YORK])
    (call_id,) = dialer._claim_calls(campaign.pk)

    clock(utc(2025, 1, 15, 1, 0))  # 20:00: the dial job ran a moment too late
    dialer.call_place(call_id)

    call = Call.objects.get(pk=call_id)
    assert call.status == Call.Status.CANCELED and call.credits_charged == 0
    target = CampaignContact.objects.get(campaign=campaign)
    assert target.status == CampaignContact.Status.PENDING and target.attempts == 0
    assert target.next_attempt_at == utc(2025, 1, 15, 14, 0)  # Wednesday 09:00
    assert target.waiting_reason == "Outside calling hours (opens at 09:00 callee time)"
    assert ledger.balance_of(workspace=user.personal_workspace).held == 0
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
