"""The agent builder page: every setting of an agent, grouped, validated, with errors shown in place."""

import html
import re

import pytest
from django.urls import reverse

from campaigns.models import Agent, default_outcomes
from campaigns.tests.factories import make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def text(response) -> str:
    return html.unescape(response.content.decode())


def agent_data(**overrides) -> dict:
    data = {
        "name": "Riley",
        "language": "en-US",
        "voice": "Polly.Joanna",
        "engine": "",
        "persona": "You are Riley, a friendly receptionist at Demo Dental. Be brief and warm.",
        "goal": "book a free check-up",
        "opening_line": "Hi {{first_name}}, this is Riley from Demo Dental.",
        "questions": "When would suit you for a check-up?",
        "answers": "",
        "closing_line": "Thanks, see you soon. Goodbye!",
        "end_call_phrases": "",
        "outcomes": "booked | Agreed to a check-up date\nnot_interested | Said no",
        "capture_fields": "",
        "transfer_number": "",
        "transfer_when": "",
        "voicemail_action": "hangup",
        "voicemail_message": "",
        "ai_disclosure": "Just so you know, I'm an AI assistant.",
        "max_call_seconds": "180",
    }
    data.update(overrides)
    return data


def post(client, **overrides):
    return client.post(reverse("agent_create"), agent_data(**overrides))


def error_next_to(page: str, field: str, message: str) -> bool:
    """`message` is in the error list right after the field's input, inside the field's label."""
    pattern = (
        rf'<label for="id_{field}">[^<]*'
        rf'<(input|select|textarea)[^>]*id="id_{field}"[^>]*>.*?'
        rf"(</select>|</textarea>)?\s*"
        rf'<div id="id_{field}_error"><ul class="errors" id="id_{field}-errors">(<li>[^<]*</li>)*'
        rf"<li>{re.escape(message)}</li>"
    )
    return re.search(pattern, page, re.DOTALL) is not None


# --- The page ------------------------------------------------------------------------------
def test_the_form_is_grouped_into_fieldsets_in_order(logged_in):
    page = text(logged_in.get(reverse("agent_create")))

    legends = re.findall(r"<legend><strong>([^<]+)</strong></legend>", page)
    assert legends == ["Basics", "Conversation", "Outcomes & capture", "Transfer & voicemail", "Safety & limits"]
    sections = dict(zip(legends, re.split(r"<legend>", page)[1:], strict=True))
    assert 'id="id_voice"' in sections["Basics"] and 'id="id_engine"' in sections["Basics"]
    assert 'id="id_persona"' in sections["Conversation"] and 'id="id_end_call_phrases"' in sections["Conversation"]
    assert 'id="id_outcomes"' in sections["Outcomes & capture"]
    assert 'id="id_transfer_when"' in sections["Transfer & voicemail"]
    assert (
        'id="id_ai_disclosure"' in sections["Safety & limits"]
        and 'id="id_max_call_seconds"' in sections["Safety & limits"]
    )


def test_the_edit_page_links_to_the_knowledge_base_above_the_form(logged_in, user):
    agent = make_agent(user)
    page = text(logged_in.get(reverse("agent_edit", args=[agent.pk])))
    assert page.index(reverse("knowledge", args=[agent.pk])) < page.index("<legend>")


def test_a_new_agent_starts_with_the_default_outcomes_and_the_ai_disclosure_on(logged_in):
    page = text(logged_in.get(reverse("agent_create")))

    for outcome in default_outcomes():
        assert f"{outcome['name']} | {outcome['description']}" in page
    assert 'value="Just so you know, I\'m an AI assistant."' in page


def test_voices_are_the_providers_grouped_by_language(logged_in):
    page = text(logged_in.get(reverse("agent_create")))

    spanish = re.search(r'<optgroup label="Spanish">(.*?)</optgroup>', page, re.DOTALL).group(1)
    assert 'value="Polly.Lucia"' in spanish and 'value="Polly.Enrique"' in spanish
    assert "Polly.Joanna" not in spanish
    german = re.search(r'<optgroup label="German">(.*?)</optgroup>', page, re.DOTALL).group(1)
    assert 'value="Polly.Hans"' in german


def test_the_voices_offered_are_the_configured_providers(logged_in, user, monkeypatch):
    from telephony.registry import get_provider

    offered = {"en-US": [("Acme.Nova", "Nova (US)")], "es-ES": [("Acme.Sol", "Sol (Spain)")]}
    monkeypatch.setattr(
        type(get_provider()),
        "voices",
        lambda self, language="": offered.get(language, []) if language else sum(offered.values(), []),
    )

    page = text(logged_in.get(reverse("agent_create")))
    assert 'value="Acme.Nova"' in page and 'value="Acme.Sol"' in page and "Polly.Joanna" not in page

    response = post(logged_in, language="es-ES", voice="Acme.Sol")
    assert response.status_code == 302
    agent = Agent.objects.get(owner=user)
    assert agent.voice == "Acme.Sol" and agent.get_voice_display() == "Sol (Spain)"


def test_without_a_model_the_engine_choice_says_agents_run_scripted(logged_in, settings):
    settings.LLM_MODEL = ""
    page = text(logged_in.get(reverse("agent_create")))
    assert "No AI model is configured on this server" in page

    settings.LLM_MODEL = "some-model"
    assert "No AI model is configured" not in text(logged_in.get(reverse("agent_create")))


# --- Saving --------------------------------------------------------------------------------
def test_every_setting_is_saved(logged_in, user):
    response = post(
        logged_in,
        language="es-ES",
        voice="Polly.Lucia",
        engine="scripted",
        outcomes="Booked! | Agreed to a check-up date\n\nNot interested|Said no\nCall back later | ",
        capture_fields="Preferred time | When they would like to come\nbudget",
        transfer_number="(415) 555-0199",
        transfer_when="the callee wants to book today",
        end_call_phrases="  Adiós \n\nadiós\nTengo que irme",
        max_call_seconds="240",
    )

    assert response.status_code == 302
    agent = Agent.objects.get(owner=user)
    assert agent.outcomes == [
        {"name": "booked", "description": "Agreed to a check-up date"},
        {"name": "not_interested", "description": "Said no"},
        {"name": "call_back_later", "description": ""},
    ]
    assert agent.capture_fields == [
        {"name": "preferred_time", "description": "When they would like to come"},
        {"name": "budget", "description": ""},
    ]
    assert agent.end_call_phrases == "Adiós\nTengo que irme"
    assert (agent.language, agent.voice, agent.engine) == ("es-ES", "Polly.Lucia", "scripted")
    assert agent.persona.startswith("You are Riley") and agent.goal == "book a free check-up"
    assert agent.transfer_number == "+14155550199" and agent.transfer_when == "the callee wants to book today"
    assert agent.max_call_seconds == 240


def test_the_edit_page_shows_outcomes_and_fields_as_lines_and_saving_keeps_them(logged_in, user):
    agent = make_agent(
        user,
        outcomes=[{"name": "booked", "description": "A date is set."}, {"name": "not_interested", "description": ""}],
        capture_fields=[{"name": "preferred_time", "description": "When."}],
    )
    page = text(logged_in.get(reverse("agent_edit", args=[agent.pk])))
    assert "booked | A date is set.\nnot_interested</textarea>" in page
    assert "preferred_time | When.</textarea>" in page

    data = agent_data(outcomes="booked | A date is set.\nnot_interested", capture_fields="preferred_time | When.")
    assert logged_in.post(reverse("agent_edit", args=[agent.pk]), data).status_code == 302
    agent.refresh_from_db()
    assert agent.outcomes == [
        {"name": "booked", "description": "A date is set."},
        {"name": "not_interested", "description": ""},
    ]
    assert agent.capture_fields == [{"name": "preferred_time", "description": "When."}]


def test_outcome_names_are_cut_to_forty_characters():
    from campaigns.forms import name_slug

    assert name_slug("Très intéressé — wants a demo!") == "tres_interesse_wants_a_demo"
    assert len(name_slug("a very long outcome name " * 5)) <= 40
    assert not name_slug("a very long outcome name " * 5).endswith("_")


# --- Errors, shown next to the field they are about -----------------------------------------
@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        (
            "interested | Keen\nbooked | Date set\nInterested! | Again",
            "Line 3 repeats the outcome “interested” (already on line 1).",
        ),
        ("", "List at least one outcome, e.g. 'interested | Wants to hear more'."),
        ("\n  \n", "List at least one outcome, e.g. 'interested | Wants to hear more'."),
        ("booked | Date set\n | no name", "Line 2 needs a name before the '|', in letters or digits."),
        (
            "voicemail | Left a message",
            "“voicemail” is set by the platform from what happens on the line; choose another name.",
        ),
    ],
)
def test_bad_outcomes_are_refused_with_the_line_next_to_the_field(logged_in, outcomes, message):
    response = post(logged_in, outcomes=outcomes)

    assert response.status_code == 200
    page = text(response)
    assert error_next_to(page, "outcomes", message), message
    assert "Please correct the fields marked below." in page
    assert not Agent.objects.exists()


def test_every_bad_outcome_line_is_reported_at_once(logged_in):
    page = text(post(logged_in, outcomes="a | x\n| y\nA | z"))
    assert error_next_to(page, "outcomes", "Line 2 needs a name before the '|', in letters or digits.")
    assert error_next_to(page, "outcomes", "Line 3 repeats the outcome “a” (already on line 1).")


def test_what_was_typed_is_kept_when_the_form_is_refused(logged_in):
    page = text(post(logged_in, outcomes="a | x\nA | z", persona="Be warm."))
    assert "a | x\nA | z</textarea>" in page and "Be warm.</textarea>" in page


def test_duplicate_capture_fields_are_refused_next_to_the_field(logged_in):
    page = text(post(logged_in, capture_fields="budget | How much\npreferred time\nBudget | again"))
    assert error_next_to(page, "capture_fields", "Line 3 repeats the field “budget” (already on line 1).")
    assert not Agent.objects.exists()


def test_a_voice_that_does_not_speak_the_language_is_refused_next_to_the_voice(logged_in):
    page = text(post(logged_in, language="fr-FR", voice="Polly.Joanna"))
    assert error_next_to(
        page, "voice", "This voice does not speak French: choose Léa (female, French), Mathieu (male, French)."
    )
    assert not Agent.objects.exists()


def test_an_unknown_voice_is_refused(logged_in):
    page = text(post(logged_in, voice="Polly.Nobody"))
    assert 'id="id_voice-errors"' in page and "Select a valid choice." in page


def test_when_to_transfer_needs_a_number(logged_in):
    page = text(post(logged_in, transfer_when="they want to book today"))
    assert error_next_to(page, "transfer_when", "Add a transfer number too, or leave this empty.")


def test_broken_variables_in_the_persona_are_refused(logged_in):
    page = text(post(logged_in, persona="You are calling {{first name}}."))
    assert error_next_to(page, "persona", "Write contact variables as {{first_name}}: letters, digits and underscores.")


def test_an_overlong_end_call_phrase_is_refused(logged_in):
    page = text(post(logged_in, end_call_phrases="goodbye\n" + "blah " * 30))
    assert 'id="id_end_call_phrases-errors"' in page and "keep each phrase under 100 characters" in page
