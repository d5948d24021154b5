"""Contact variables in an agent's lines: {{name}} filled from the contact, {{name|fallback}} said
when the contact has no value, and warnings (agent form, pre-flight) about variables a list does
not have, before a real call says "your home at - do you have…"."""

import html
import re

import pytest
from django.urls import reverse

from campaigns.conversation.engine import ConversationContext
from campaigns.conversation.engine.base import VARIABLE
from campaigns.models import CallTurn
from campaigns.tests.factories import make_agent, make_campaign, make_list
from campaigns.tests.test_scripted_engine import make_agent as unsaved_agent
from telephony.tests.test_webhooks import PUBLIC, answer, make_call

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.SIMULATED_SIGNING_SECRET = "simulated-test-secret"


def text(response) -> str:
    return html.unescape(response.content.decode())


def words(response) -> str:
    """The page's text as a person reads it: tags removed, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", "", text(response)).split())


def fill(line: str, **variables) -> str:
    return ConversationContext(agent=None, variables=variables).fill(line)


# --- Filling a line --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "variables", "said"),
    [
        ("Hi {{first_name}}!", {"first_name": "Ann"}, "Hi Ann!"),
        ("Hi {{first_name|there}}!", {"first_name": "Ann"}, "Hi Ann!"),
        ("Hi {{first_name|there}}!", {"first_name": ""}, "Hi there!"),  # imported, but empty
        ("Hi {{first_name|there}}!", {"first_name": "   "}, "Hi there!"),
        ("Hi {{first_name|there}}!", {}, "Hi there!"),  # not a column of the list at all
        ("about {{ company | your company }} today", {}, "about your company today"),
        ("your home at {{address|your address}} - do you", {"address": "12 Elm St"}, "your home at 12 Elm St - do you"),
        ("your home at {{address}} - do you", {}, "your home at - do you"),  # no fallback: nothing
        ("Hi {{first_name}}, this is Sam.", {}, "Hi, this is Sam."),
        ("Thanks {{first_name}}.", {}, "Thanks."),
        ("{{greeting|Hello}}, {{first_name|friend}}.", {}, "Hello, friend."),
        ("It costs {{price|}} dollars", {}, "It costs dollars"),  # an empty fallback says nothing
        ("The plan is {{plan|not set | yet}}.", {}, "The plan is not set | yet."),
        ("{{count}} seats", {"count": 3}, "3 seats"),
        ("Hi {{first_name}}", {"first_name": None}, "Hi"),
    ],
)
def test_fill(line, variables, said):
    assert fill(line, **variables) == said


def test_variable_names_are_found_with_or_without_a_fallback():
    assert VARIABLE.findall("Hi {{first_name|there}} at {{ company }} and {{plan | Gold}}") == [
        "first_name",
        "company",
        "plan",
    ]


def test_every_line_of_the_scripted_engine_uses_the_fallback():
    from campaigns.conversation.engine.scripted import ScriptedEngine

    agent = unsaved_agent(
        opening_line="Hi {{first_name|there}}, this is Sam from Acme.",
        closing_line="Thanks, we will send the details to {{company|your company}}. Goodbye!",
        voicemail_message="Hi {{first_name|there}}, call us back at {{callback|our main number}}.",
        questions="Is {{company|your company}} still looking?",
    )
    ctx = ConversationContext(agent=agent, variables={"first_name": "", "last_name": "", "phone_number": "+1"})
    engine = ScriptedEngine()

    assert engine.start(ctx).say == "Hi there, this is Sam from Acme. Is your company still looking?"
    assert engine.voicemail(ctx).say == "Hi there, call us back at our main number."


def test_a_real_call_says_the_fallback_for_a_value_the_contact_does_not_have(client, user):
    """The answer webhook of a call: the callee hears the contact's value, or the fallback."""
    call = make_call(
        user,
        opening_line="Hi {{first_name|there}} at {{company|your company}}, about {{plan|your plan}}.",
        questions="",
    )

    response = answer(client, call)

    said = "Hi Person0 at Co0, about your plan."  # the list has first_name and company, not plan
    assert said in response.content.decode()
    assert CallTurn.objects.filter(call=call, speaker="agent").first().text.endswith(said)


def test_the_agent_form_accepts_a_fallback(client, user):
    agent = make_agent(user)
    client.force_login(user)
    page = client.get(reverse("agent_edit", args=[agent.pk]))
    form = page.context["form"]
    data = {name: form[name].value() if form[name].value() is not None else "" for name in form.fields}
    data = {k: v for k, v in data.items() if v is not False}
    data["opening_line"] = "Hi {{first_name|there}}, this is Sam from {{company|our company}}."

    response = client.post(reverse("agent_edit", args=[agent.pk]), data)

    assert response.status_code == 302, text(response)
    agent.refresh_from_db()
    assert agent.opening_line == "Hi {{first_name|there}}, this is Sam from {{company|our company}}."


# --- Warnings: the agent form ---------------------------------------------------------------------
def test_the_agent_form_warns_about_a_variable_none_of_the_lists_has(client, user):
    make_list(user, ["+12025550101"], name="Spring leads")  # columns: first_name, company
    agent = make_agent(
        user, opening_line="Hi {{first_name}} at {{company}}, about {{plan}}.", closing_line="Bye {{last_name}}."
    )
    client.force_login(user)

    page = text(client.get(reverse("agent_edit", args=[agent.pk])))

    assert (
        "{{plan}} is not a column of any of your contact lists: on a call the agent would say nothing in its "
        "place. Give it a fallback, such as {{plan|your plan}}, or import the list with a “plan” column."
    ) in page
    assert "{{company}} is not" not in page  # the list has it
    assert "{{last_name}} is not" not in page  # the contact's own field


def test_the_agent_form_names_the_campaign_list_that_lacks_a_variable(client, user):
    campaign = make_campaign(user, ["+12025550101"], opening_line="Hi {{first_name}}, your {{product}} order.")
    make_list(user, ["+12025550102"], name="Other list")
    client.force_login(user)

    page = text(client.get(reverse("agent_edit", args=[campaign.agent.pk])))

    assert "{{product}} is not a column of “Leads”, the list this agent's campaigns call" in page
    assert "Give it a fallback, such as {{product|your product}}" in page


def test_a_variable_with_a_fallback_everywhere_is_not_warned_about(client, user):
    campaign = make_campaign(
        user, ["+12025550101"], opening_line="Hi, your {{product|order}}.", closing_line="Thanks for the {{product|x}}."
    )
    client.force_login(user)

    page = client.get(reverse("agent_edit", args=[campaign.agent.pk]))

    assert page.context["variable_warnings"] == []
    assert 'data-testid="variable-warnings"' not in text(page)


def test_saving_the_agent_tells_what_its_lists_lack_and_still_saves(client, user):
    campaign = make_campaign(user, ["+12025550101"])
    agent = campaign.agent
    client.force_login(user)
    form = client.get(reverse("agent_edit", args=[agent.pk])).context["form"]
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False)}
    data["opening_line"] = "Hi {{first_name}}, about your {{plan}}."

    response = client.post(reverse("agent_edit", args=[agent.pk]), data, follow=True)

    messages = [str(m) for m in response.context["messages"]]
    assert f"Agent “{agent.name}” saved." in messages
    assert any(m.startswith("{{plan}} is not a column of “Leads”") for m in messages)
    agent.refresh_from_db()
    assert agent.opening_line == "Hi {{first_name}}, about your {{plan}}."


def test_an_agent_form_sent_with_an_error_warns_about_the_lines_as_typed(client, user):
    make_list(user, ["+12025550101"])
    client.force_login(user)

    response = client.post(reverse("agent_create"), {"name": "", "opening_line": "Hi {{nickname}}."})

    assert response.status_code == 200
    assert "{{nickname}} is not a column of any of your contact lists" in text(response)


# --- Warnings: the pre-flight -----------------------------------------------------------------------
def test_the_preflight_counts_contacts_without_a_value_for_each_variable(client, user, django_assert_num_queries):
    from campaigns.lifecycle.preflight import campaign_variable_gaps

    campaign = make_campaign(
        user,
        ["+12025550101", "+12025550102", "+12025550103"],
        opening_line="Hi {{first_name}} from {{company}}, about {{plan}} at {{address|your address}}.",
    )
    first, second, _ = campaign.contact_list.contacts.order_by("id")
    first.variables = {**first.variables, "company": "  "}  # blank counts as no value
    first.save()
    second.first_name = ""
    second.save()

    with django_assert_num_queries(1):
        gaps = campaign_variable_gaps(campaign=campaign)

    assert [(g.name, g.missing, g.total) for g in gaps] == [("first_name", 1, 3), ("company", 1, 3), ("plan", 3, 3)]
    client.force_login(user)
    response = client.get(reverse("campaign_preflight", args=[campaign.pk]))
    page = words(response)
    assert "Variables with no value" in page
    assert "{{first_name}}: 1 of 3 contacts have no value." in page
    assert "{{plan}}: none of the 3 contacts in Leads has a value." in page
    assert "such as {{plan|your plan}}" in page and "such as {{first_name|there}}" in page
    assert "{{address" not in page.split("Variables with no value")[1]  # it has a fallback
    assert f'href="{reverse("agent_edit", args=[campaign.agent.pk])}"' in text(response)


def test_the_preflight_says_nothing_when_every_contact_has_every_variable(client, user):
    campaign = make_campaign(user, ["+12025550101"], opening_line="Hi {{first_name}} from {{company}}.")
    client.force_login(user)

    page = text(client.get(reverse("campaign_preflight", args=[campaign.pk])))

    assert "Before you launch" in page and "Variables with no value" not in page


def test_a_paused_campaign_counts_only_the_contacts_still_queued(client, user):
    from campaigns.models import Campaign, CampaignContact

    campaign = make_campaign(user, ["+12025550101", "+12025550102"], opening_line="About {{plan}}.")
    first, second = campaign.contact_list.contacts.order_by("id")
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
    CampaignContact.objects.create(campaign=campaign, contact=first, status=CampaignContact.Status.DONE)
    CampaignContact.objects.create(campaign=campaign, contact=second, status=CampaignContact.Status.PENDING)
    client.force_login(user)

    page = words(client.get(reverse("campaign_preflight", args=[campaign.pk])))

    assert "Still queued: 1." in page and "{{plan}} has no value for 1 of them" in page
