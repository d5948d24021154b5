"""A campaign says why it calls: required on the form, shown to the people called."""

import pytest
from django.urls import reverse

from campaigns.lifecycle import services
from campaigns.models import Campaign
from campaigns.tests.factories import make_campaign
from campaigns.tests.test_campaign_editing import settings_data
from campaigns.tests.test_views import campaign_data

pytestmark = pytest.mark.django_db


def test_a_new_campaign_needs_a_purpose(logged_in, user):
    response = logged_in.post(reverse("campaign_create"), campaign_data(user, purpose="  "))

    assert "Say why you are calling" in response.content.decode()
    assert not Campaign.objects.exists()


def test_a_purpose_of_a_word_or_two_is_not_enough(logged_in, user):
    response = logged_in.post(reverse("campaign_create"), campaign_data(user, purpose="Sales"))

    assert "at least 10 characters" in response.content.decode()
    assert not Campaign.objects.exists()


def test_the_purpose_is_saved_tidied_and_shown_on_the_campaign(logged_in, user):
    logged_in.post(reverse("campaign_create"), campaign_data(user, purpose="  Reminding   patients of check-ups "))

    campaign = Campaign.objects.get()
    assert campaign.purpose == "Reminding patients of check-ups"
    page = logged_in.get(reverse("campaign_detail", args=[campaign.pk])).content.decode()
    assert "“Reminding patients of check-ups”" in page


def test_a_campaign_made_before_purposes_asks_for_one_when_edited(logged_in, user):
    campaign = make_campaign(user, ["+12025550100"])
    Campaign.objects.filter(pk=campaign.pk).update(purpose="")

    assert "not stated yet" in logged_in.get(reverse("campaign_detail", args=[campaign.pk])).content.decode()
    # A draft: its agent and list are on the form too.
    data = {**settings_data(campaign), "agent": campaign.agent_id, "contact_list": campaign.contact_list_id}
    data["purpose"] = ""
    response = logged_in.post(reverse("campaign_edit", args=[campaign.pk]), data)
    assert "Say why you are calling" in response.content.decode()

    logged_in.post(reverse("campaign_edit", args=[campaign.pk]), {**data, "purpose": "Renewing home insurance"})
    campaign.refresh_from_db()
    assert campaign.purpose == "Renewing home insurance"


def test_a_paused_campaign_may_change_its_purpose_and_copies_keep_it(user):
    campaign = make_campaign(user, ["+12025550100"])
    assert "purpose" in services.SETTINGS_WHILE_PAUSED
    assert services.campaign_duplicate(campaign=campaign).purpose == campaign.purpose
