"""Contact variables in an agent's lines: {{name}} filled from the contact, {{name|fallback}} said
when the contact has no value, and warnings (agent form, pre-flight) about variables a list does
not have, before a real call says "your home at - do you have…"."""

import html

import pytest
from django.urls import reverse

from campaigns.engine import ConversationContext
from campaigns.engine.base import VARIABLE
from campaigns.models import CallTurn
from campaigns.tests.factories import make_agent
from campaigns.tests.test_scripted_engine import make_agent as unsaved_agent
from telephony.tests.test_webhooks import PUBLIC, answer, make_call

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.SIMULATED_SIGNING_SECRET = "simulated-test-secret"


def text(response) -> str:
    return html.unescape(response.content.decode())


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
    from campaigns.engine.scripted import ScriptedEngine

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
