"""A campaign launched when nobody on its list may be called: Launch warns first (launch anyway,
or schedule it), and the running page says why nobody is being called and when the next call
will be placed, in the account's time zone and the callee's."""

import datetime as dt
import html
import re
from decimal import Decimal

import django_rq
import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from billing import ledger
from campaigns.dialing import dialer
from campaigns.models import Campaign, CampaignContact
from campaigns.tests.factories import make_campaign

pytestmark = pytest.mark.django_db

NEW_YORK = ["+12125550101", "+12125550102", "+12125550103"]


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def page_text(response) -> str:
    """The page as a person reads it: no tags, entities decoded, white space collapsed (values of
    inputs are kept, as value="…")."""
    markup = response.content.decode()
    values = " ".join(f'value="{v}"' for v in re.findall(r'type="datetime-local"[^>]*value="([^"]*)"', markup))
    return " ".join(html.unescape(strip_tags(markup)).split()) + " " + values


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def clock(monkeypatch, settings):
    settings.CALLING_WINDOWS_ENFORCED = True
    now = {"at": utc(2025, 1, 14, 3, 0)}  # Monday 22:00 in New York, Tuesday 04:00 in Paris
    monkeypatch.setattr(timezone, "now", lambda: now["at"])

    def set_to(instant):
        now["at"] = instant

    return set_to


@pytest.fixture
def owner(user):
    user.time_zone = "Europe/Paris"
    user.save(update_fields=["time_zone"])
    user.personal_workspace.time_zone = "Europe/Paris"  # the business's zone: calling windows, dates
    user.personal_workspace.save(update_fields=["time_zone"])
    return user


def launch_url(campaign, action="launch"):
    return reverse("campaign_action", args=[campaign.pk, action])


def test_launch_outside_calling_hours_warns_and_launches_nothing_yet(clock, logged_in, owner):
    campaign = make_campaign(owner, NEW_YORK)

    response = logged_in.post(launch_url(campaign))

    assert response.status_code == 200
    page = page_text(response)
    assert "Nobody can be called right now" in page
    assert "All 3 contacts who will be called are outside calling hours now" in page
    assert "from 09:00 to 20:00 on Mon, Tue, Wed, Thu, Fri in each callee's own time" in page
    assert (
        "The first call can be placed on Tue 14 Jan, 15:00 your time (Europe/Paris), "
        "Tue 14 Jan, 09:00 for the callee (America/New_York)." in page
    )
    # The schedule form is offered with that time, in the account's time zone.
    assert 'value="2025-01-14T15:00"' in page
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not campaign.targets.exists()


def test_launch_anyway_says_when_the_first_call_will_be(clock, logged_in, owner):
    campaign = make_campaign(owner, NEW_YORK)

    response = logged_in.post(launch_url(campaign), {"confirm": "launch-anyway"}, follow=True)

    assert messages_of(response) == [
        "Campaign launched. Nobody can be called right now: the first call will be placed on "
        "Tue 14 Jan at 15:00 your time, when calling hours open."
    ]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


def test_the_running_page_says_why_nobody_is_called_and_when_the_next_call_is(clock, logged_in, owner):
    campaign = make_campaign(owner, NEW_YORK)
    logged_in.post(launch_url(campaign), {"confirm": "launch-anyway"})
    assert dialer.campaign_advance(campaign.pk) == []

    for headers in ({}, {"HX-Request": "true"}):  # the page, and the part htmx polls
        page = page_text(logged_in.get(reverse("campaign_detail", args=[campaign.pk]), headers=headers))
        assert "Nobody is being called right now: it is outside calling hours for every contact left." in page
        assert (
            "Next call: Tue 14 Jan, 15:00 your time (Europe/Paris), "
            "Tue 14 Jan, 09:00 for the callee (America/New_York)." in page
        )

    # Once the window opens, calls go out and the note is gone.
    ledger.credit_post(
        workspace=owner.personal_workspace, amount=Decimal(1000), kind="staff_adjustment", reference="topup"
    )
    clock(utc(2025, 1, 14, 14, 0))
    assert len(dialer.campaign_advance(campaign.pk)) == 2
    page = page_text(logged_in.get(reverse("campaign_detail", args=[campaign.pk]), headers={"HX-Request": "true"}))
    assert "Nobody is being called right now" not in page


def test_a_campaign_launched_within_hours_is_not_warned_about(clock, logged_in, owner):
    clock(utc(2025, 1, 14, 15, 0))  # 10:00 in New York
    campaign = make_campaign(owner, NEW_YORK)

    response = logged_in.post(launch_url(campaign), follow=True)

    assert messages_of(response) == ["Campaign launched: calls are starting."]


def test_the_draft_summary_says_when_the_first_call_can_be(clock, logged_in, owner):
    campaign = make_campaign(owner, NEW_YORK)

    page = page_text(logged_in.get(reverse("campaign_preflight", args=[campaign.pk])))

    assert (
        "Nobody can be called right now: the first call can be placed on Tue 14 Jan, 15:00 your time "
        "(Europe/Paris), 09:00 for the callee (America/New_York)." in page
    )


@pytest.mark.django_db(transaction=True)  # jobs are enqueued when the claim's transaction commits
def test_a_long_list_outside_its_hours_is_set_aside_slice_after_slice(clock, owner, monkeypatch):
    """The claim looks at a bounded slice; when a whole slice must wait, the next one is looked at
    at once (not at the next sweep), so the page soon knows when the first call will be."""
    monkeypatch.setattr(dialer, "CLAIM_SCAN_LIMIT", 2)
    campaign = make_campaign(owner, NEW_YORK)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    CampaignContact.objects.bulk_create(
        [CampaignContact(campaign=campaign, contact=c) for c in campaign.contact_list.contacts.all()]
    )
    queue = django_rq.get_queue("dialing")

    dialer.campaign_advance(campaign.pk)

    assert [job.func_name for job in queue.jobs] == ["campaigns.dialing.dialer.campaign_advance"]
    assert CampaignContact.objects.filter(next_attempt_at__isnull=True).count() == 1
    queue.empty()
    dialer.campaign_advance(campaign.pk)
    assert not CampaignContact.objects.filter(next_attempt_at__isnull=True).exists()
    assert [job.func_name for job in queue.jobs] == []  # nothing left to look at


def test_contacts_without_a_time_zone_are_not_given_a_next_call_time(clock, logged_in, owner):
    from campaigns.models import Contact

    campaign = make_campaign(owner, NEW_YORK)
    Contact.objects.filter(contact_list=campaign.contact_list).update(time_zone="Mars/Olympus_Mons")
    logged_in.post(launch_url(campaign), {"confirm": "launch-anyway"})
    dialer.campaign_advance(campaign.pk)

    page = page_text(logged_in.get(reverse("campaign_detail", args=[campaign.pk])))

    assert (
        "Nobody is being called right now: no time zone known for this number: set one on the contact "
        "(every contact left waits for this)." in page
    )
    assert "Next call" not in page
