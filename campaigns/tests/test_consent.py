"""Nobody is called from a list whose owner never confirmed consent to call the people on it:
launch, resume and the dialer all refuse, with a message that says what to do."""

import html

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.dialing import dialer
from campaigns.errors import CampaignError
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, ContactList
from campaigns.tests.factories import make_campaign

pytestmark = pytest.mark.django_db

NUMBERS = ["+12025550101", "+12025550102"]


def without_consent(campaign: Campaign) -> Campaign:
    ContactList.objects.filter(pk=campaign.contact_list_id).update(consent_confirmed_at=None, consent_confirmed_by=None)
    campaign.contact_list.refresh_from_db()
    return campaign


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_lists_made_by_the_test_factory_and_the_upload_flow_carry_consent(user):
    campaign = make_campaign(user, NUMBERS)
    assert campaign.contact_list.consent_confirmed_at is not None
    assert campaign.contact_list.consent_confirmed_by == user


def test_launch_refuses_a_list_without_consent_and_changes_nothing(user):
    campaign = without_consent(make_campaign(user, NUMBERS))
    with pytest.raises(CampaignError, match="consent"):
        services.campaign_launch(campaign=campaign, by=user)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not campaign.targets.exists()


def test_the_launch_button_explains_the_refusal_and_links_to_the_list(client, user):
    campaign = without_consent(make_campaign(user, NUMBERS))
    client.force_login(user)
    response = client.post(reverse("campaign_action", args=[campaign.pk, "launch"]), follow=True)
    text = page_text(response)
    assert "consent" in text
    assert reverse("contactlist_detail", args=[campaign.contact_list_id]) in text
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_confirming_consent_on_the_list_page_records_who_and_when_then_launch_works(client, user):
    campaign = without_consent(make_campaign(user, NUMBERS))
    client.force_login(user)
    page = page_text(client.get(reverse("contactlist_detail", args=[campaign.contact_list_id])))
    assert "No one has confirmed consent" in page
    refused = client.post(reverse("contactlist_consent", args=[campaign.contact_list_id]), {}, follow=True)
    assert "Tick the box" in page_text(refused)
    campaign.contact_list.refresh_from_db()
    assert campaign.contact_list.consent_confirmed_at is None

    client.post(reverse("contactlist_consent", args=[campaign.contact_list_id]), {"consent": "on"})
    campaign.contact_list.refresh_from_db()
    assert campaign.contact_list.consent_confirmed_at is not None
    assert campaign.contact_list.consent_confirmed_by == user
    services.campaign_launch(campaign=campaign, by=user)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING


def test_another_account_cannot_confirm_consent_for_my_list(client, user, django_user_model):
    campaign = without_consent(make_campaign(user, NUMBERS))
    rival = django_user_model.objects.create_user(
        email="rival@example.com",
        password="another secret pass",
        mobile_number="+14155550199",
        mobile_verified_at=timezone.now(),
    )
    client.force_login(rival)
    response = client.post(reverse("contactlist_consent", args=[campaign.contact_list_id]), {"consent": "on"})
    assert response.status_code == 404
    campaign.contact_list.refresh_from_db()
    assert campaign.contact_list.consent_confirmed_at is None


def test_the_dialer_pauses_a_running_campaign_whose_list_has_no_consent(user):
    # A campaign launched before consent was required: the dialer calls nobody from it.
    campaign = make_campaign(user, NUMBERS)
    services.campaign_launch(campaign=campaign, by=user)
    without_consent(campaign)
    assert dialer._claim_calls(campaign.pk) == []
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "consent" in campaign.status_reason
    assert not Call.objects.filter(campaign=campaign).exists()


def test_resume_refuses_while_the_list_has_no_consent(user):
    campaign = make_campaign(user, NUMBERS)
    services.campaign_launch(campaign=campaign, by=user)
    services.campaign_pause(campaign=campaign)
    without_consent(campaign)
    with pytest.raises(CampaignError, match="consent"):
        services.campaign_resume(campaign=campaign)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.PAUSED


def test_demo_data_attests_consent_for_its_list(settings):
    from clozit.demo import load_demo

    user = load_demo()
    contact_list = user.personal_workspace.contact_lists.get()
    assert contact_list.consent_confirmed_at is not None
