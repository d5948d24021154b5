"""Campaigns after they are created: a draft's or a paused campaign's settings can change, any
campaign can be duplicated, drafts deleted, ended campaigns archived (and found again)."""

import datetime as dt
import html
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from campaigns.calls.services import call_finish
from campaigns.dialing import dialer
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, CampaignContact
from campaigns.tests.factories import SHARED_CALLER, make_agent, make_campaign, make_list
from telephony.models import PhoneNumber

pytestmark = pytest.mark.django_db

NUMBERS = ["+12125550101", "+12125550102", "+12125550103"]


def page_text(response) -> str:
    return " ".join(html.unescape(strip_tags(response.content.decode())).split())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def settings_data(campaign, **overrides) -> dict:
    data = {
        "name": campaign.name,
        "purpose": campaign.purpose or "Reminding customers their plan renews soon",
        "caller_number": campaign.caller_number,
        "max_concurrent_calls": "2",
        "calling_hours_start": "09:00",
        "calling_hours_end": "20:00",
        "calling_days": ["0", "1", "2", "3", "4"],
        "calling_days__shown": "1",
        "retry_on__shown": "1",
        "max_attempts": "3",
        "retry_delay_minutes": "60",
        "budget_credits": "",
    }
    data.update(overrides)
    return data


def edit(client, campaign, **overrides):
    return client.post(reverse("campaign_edit", args=[campaign.pk]), settings_data(campaign, **overrides), follow=True)


# --- editing --------------------------------------------------------------------------------------


def test_a_draft_can_change_every_setting_including_agent_and_list(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    other_agent = make_agent(user, name="Renewals")
    other_list = make_list(user, NUMBERS[:1], name="VIPs")
    page = page_text(logged_in.get(reverse("campaign_detail", args=[campaign.pk])))
    assert "Edit settings" in page

    response = edit(
        logged_in,
        campaign,
        name="Spring, second wave",
        agent=other_agent.pk,
        contact_list=other_list.pk,
        max_concurrent_calls="5",
        calling_hours_start="10:00",
        calling_hours_end="17:30",
        calling_days=["5", "6"],
        retry_on=["busy"],
        max_attempts="2",
        retry_delay_minutes="30",
        budget_credits="500",
    )

    assert messages_of(response) == ["Campaign settings saved."]
    campaign.refresh_from_db()
    assert (campaign.name, campaign.agent, campaign.contact_list) == ("Spring, second wave", other_agent, other_list)
    assert campaign.max_concurrent_calls == 5
    assert (campaign.calling_hours_start, campaign.calling_hours_end) == (dt.time(10), dt.time(17, 30))
    assert (campaign.calling_days, campaign.retry_on) == ([5, 6], ["busy"])
    assert (campaign.max_attempts, campaign.retry_delay_minutes, campaign.budget_credits) == (2, 30, Decimal(500))
    assert campaign.status == Campaign.Status.DRAFT


def test_a_paused_campaign_changes_how_it_calls_but_not_whom_or_with_which_agent(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    services.campaign_launch(campaign=campaign, by=user)
    services.campaign_pause(campaign=campaign)
    own = PhoneNumber.objects.create(number="+14155550999", provider="simulated", workspace=user.personal_workspace)

    form = page_text(logged_in.get(reverse("campaign_edit", args=[campaign.pk])))
    assert "It keeps its agent (Sales assistant) and contact list (Leads)" in form
    assert "Contact list" not in form

    response = edit(
        logged_in,
        campaign,
        caller_number=own.number,
        max_concurrent_calls="1",
        retry_on=["no_answer", "busy", "voicemail"],
        budget_credits="300",
        agent=make_agent(user, name="Sneaky").pk,  # not on the form: ignored
    )

    assert messages_of(response) == ["Campaign settings saved."]
    campaign.refresh_from_db()
    assert (campaign.caller_number, campaign.max_concurrent_calls) == (own.number, 1)
    assert campaign.retry_on == ["no_answer", "busy", "voicemail"]
    assert campaign.budget_credits == Decimal(300)
    assert campaign.agent.name == "Sales assistant"
    assert campaign.status == Campaign.Status.PAUSED


def test_new_hours_apply_at_once_to_contacts_waiting_for_a_window(logged_in, user, monkeypatch, settings):
    settings.CALLING_WINDOWS_ENFORCED = True
    at = dt.datetime(2025, 1, 14, 1, 30, tzinfo=dt.UTC)  # Monday 20:30 in New York: outside 09:00-20:00
    monkeypatch.setattr(timezone, "now", lambda: at)
    campaign = make_campaign(user, NUMBERS)
    services.campaign_launch(campaign=campaign, by=user)
    dialer.campaign_advance(campaign.pk)
    assert not CampaignContact.objects.filter(next_attempt_at__isnull=True).exists()
    services.campaign_pause(campaign=campaign)

    edit(logged_in, campaign, calling_hours_start="08:00", calling_hours_end="23:00")

    waiting = CampaignContact.objects.filter(campaign=campaign)
    assert set(waiting.values_list("next_attempt_at", "waiting_reason")) == {(None, "")}
    services.campaign_resume(campaign=campaign)
    assert len(dialer._claim_calls(campaign.pk)) == 1  # 20:30 is inside the new hours (credits for one)


def test_a_budget_below_what_the_campaign_has_used_is_refused_and_the_form_kept(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    services.campaign_launch(campaign=campaign, by=user)
    (call_id,) = dialer._claim_calls(campaign.pk)
    Call.objects.filter(pk=call_id).update(status=Call.Status.IN_PROGRESS, answered_at=timezone.now())
    call_finish(call_id=call_id, status=Call.Status.COMPLETED, duration_seconds=45)
    services.campaign_pause(campaign=campaign)

    response = edit(logged_in, campaign, budget_credits="50", max_concurrent_calls="4")

    page = page_text(response)
    assert (
        "This campaign has already used 45 credits, so a budget of 50 would leave no room for another call. "
        f"Set at least {45 + settings.CALL_MIN_CREDITS}, or leave the budget empty." in page
    )
    assert 'value="4"' in html.unescape(response.content.decode())  # what was typed is kept
    campaign.refresh_from_db()
    assert (campaign.budget_credits, campaign.max_concurrent_calls) == (None, 2)
    assert messages_of(edit(logged_in, campaign, budget_credits="55")) == ["Campaign settings saved."]


@pytest.mark.parametrize(
    "field,value,error",
    [
        ("max_concurrent_calls", "0", "Choose between 1 and 50 calls at the same time."),
        ("calling_hours_end", "08:00", "End after the start time (calls within one day)."),
        ("caller_number", "+19995550000", "Choose one of your numbers or a shared number."),
        ("calling_days", [], "Choose at least one day to call on."),
    ],
)
def test_bad_settings_are_refused_next_to_the_field(logged_in, user, field, value, error):
    campaign = make_campaign(user, NUMBERS)

    response = edit(logged_in, campaign, **{field: value})

    assert error in page_text(response)
    campaign.refresh_from_db()
    assert (campaign.max_concurrent_calls, campaign.caller_number, campaign.calling_hours_end) == (
        2,
        SHARED_CALLER,
        dt.time(20),
    )


def test_a_running_or_ended_campaign_cannot_be_edited(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    services.campaign_launch(campaign=campaign, by=user)

    response = edit(logged_in, campaign, name="Changed")
    assert "This campaign is running: pause it first, then change its settings." in page_text(response)
    assert "Edit settings" not in page_text(logged_in.get(reverse("campaign_detail", args=[campaign.pk])))

    services.campaign_stop(campaign=campaign)
    response = logged_in.get(reverse("campaign_edit", args=[campaign.pk]), follow=True)
    assert messages_of(response) == [
        "This campaign has ended, so its settings stay as they were. Duplicate it to run it again."
    ]
    campaign.refresh_from_db()
    assert campaign.name == "Spring outreach"


def test_a_campaign_that_resumed_while_its_form_was_open_keeps_what_was_typed(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    services.campaign_launch(campaign=campaign, by=user)
    services.campaign_pause(campaign=campaign)
    form = logged_in.get(reverse("campaign_edit", args=[campaign.pk]))
    assert form.status_code == 200
    services.campaign_resume(campaign=campaign)  # e.g. credits arrived meanwhile

    response = logged_in.post(
        reverse("campaign_edit", args=[campaign.pk]), settings_data(campaign, max_concurrent_calls="7")
    )

    assert response.status_code == 200
    assert "This campaign is running: pause it first, then change its settings." in page_text(response)
    assert 'value="7"' in response.content.decode()


def test_another_accounts_campaign_cannot_be_edited_duplicated_or_deleted(logged_in, user, django_user_model):
    rival = django_user_model.objects.create_user(email="rival@example.com", password="x")
    theirs = make_campaign(rival, NUMBERS)
    for name, method in (
        ("campaign_edit", "get"),
        ("campaign_duplicate", "post"),
        ("campaign_delete", "post"),
        ("campaign_schedule", "post"),
    ):
        assert getattr(logged_in, method)(reverse(name, args=[theirs.pk])).status_code == 404
    assert Campaign.objects.filter(workspace=rival.personal_workspace).count() == 1


# --- duplicating ----------------------------------------------------------------------------------


def test_any_campaign_can_be_duplicated_as_a_new_draft(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    Campaign.objects.filter(pk=campaign.pk).update(
        calling_days=[1, 3], retry_on=["busy"], max_attempts=5, budget_credits=Decimal(900)
    )
    services.campaign_launch(campaign=campaign, by=user)
    services.campaign_stop(campaign=campaign)

    response = logged_in.post(reverse("campaign_duplicate", args=[campaign.pk]), follow=True)

    copy = Campaign.objects.exclude(pk=campaign.pk).get()
    assert response.redirect_chain[-1][0] == reverse("campaign_edit", args=[copy.pk])
    assert messages_of(response) == ["“Spring outreach” copied as a new draft. Check its settings, then launch it."]
    assert (copy.name, copy.status, copy.started_at, copy.status_reason) == (
        "Copy of Spring outreach",
        Campaign.Status.DRAFT,
        None,
        "",
    )
    assert (copy.agent, copy.contact_list, copy.caller_number) == (campaign.agent, campaign.contact_list, SHARED_CALLER)
    assert (copy.calling_days, copy.retry_on, copy.max_attempts, copy.budget_credits) == (
        [1, 3],
        ["busy"],
        5,
        Decimal(900),
    )
    assert not copy.targets.exists()


def test_a_copy_does_not_keep_a_caller_number_the_account_gave_up(user):
    number = PhoneNumber.objects.create(number="+14155550999", provider="simulated", workspace=user.personal_workspace)
    campaign = make_campaign(user, NUMBERS)
    Campaign.objects.filter(pk=campaign.pk).update(caller_number=number.number)
    PhoneNumber.objects.filter(pk=number.pk).update(status="released")

    copy = services.campaign_duplicate(campaign=Campaign.objects.get(pk=campaign.pk))

    assert copy.caller_number == SHARED_CALLER


# --- deleting and archiving -----------------------------------------------------------------------


def test_a_draft_is_deleted_after_asking_and_its_list_can_then_be_deleted(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    url = reverse("campaign_delete", args=[campaign.pk])
    assert "This draft has called nobody." in page_text(logged_in.get(url))

    response = logged_in.post(url, follow=True)

    assert messages_of(response) == ["Campaign “Spring outreach” deleted."]
    assert not Campaign.objects.exists()
    logged_in.post(reverse("contactlist_delete", args=[campaign.contact_list_id]))
    assert not type(campaign.contact_list).objects.exists()


def test_a_launched_campaign_is_never_deleted(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    services.campaign_launch(campaign=campaign, by=user)
    services.campaign_stop(campaign=campaign)

    response = logged_in.post(reverse("campaign_delete", args=[campaign.pk]), follow=True)

    assert messages_of(response) == [
        "Only a draft can be deleted: this campaign has called people, and its calls stay on record. "
        "Archive it once it has ended."
    ]
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_ended_campaigns_are_archived_out_of_the_list_and_can_be_seen_and_brought_back(logged_in, user):
    ended = make_campaign(user, NUMBERS)
    services.campaign_launch(campaign=ended, by=user)
    services.campaign_stop(campaign=ended)
    Campaign.objects.filter(pk=ended.pk).update(name="Autumn push")
    current = make_campaign(user, NUMBERS[:1])

    response = logged_in.post(reverse("campaign_action", args=[ended.pk, "archive"]), follow=True)
    assert messages_of(response) == ["Campaign archived: it is listed under Archived campaigns."]

    listing = page_text(logged_in.get(reverse("campaign_list")))
    assert current.name in listing and "Autumn push" not in listing
    assert "Archived campaigns (1)" in listing
    archived = page_text(logged_in.get(reverse("campaign_list") + "?archived=1"))
    assert "Autumn push" in archived and "Back to the current campaigns" in archived
    assert "Autumn push" not in page_text(logged_in.get(reverse("dashboard")))

    logged_in.post(reverse("campaign_action", args=[ended.pk, "unarchive"]))
    assert "Autumn push" in page_text(logged_in.get(reverse("campaign_list")))


def test_a_running_campaign_cannot_be_archived(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    services.campaign_launch(campaign=campaign, by=user)

    response = logged_in.post(reverse("campaign_action", args=[campaign.pk, "archive"]), follow=True)

    assert messages_of(response) == ["Only a completed or stopped campaign can be archived."]
    campaign.refresh_from_db()
    assert campaign.archived_at is None
