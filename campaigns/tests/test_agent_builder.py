"""The agent builder page: every setting of an agent, grouped, validated, with errors shown in place."""

import html
import re

import pytest
from django.urls import reverse

from campaigns.models import Agent, default_outcomes
from campaigns.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return html.unescape(response.content.decode())


def outcome_rows(*rows: tuple[str, str, str]) -> dict:
    """The outcome rows as the page posts them: (name, counts as, what it means) each."""
    data = {}
    for index, (name, kind, description) in enumerate(rows):
        data |= {
            f"outcomes-{index}-name": name,
            f"outcomes-{index}-kind": kind,
            f"outcomes-{index}-description": description,
        }
    return data


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
        **outcome_rows(("booked", "positive", "Agreed to a check-up date"), ("not_interested", "", "Said no")),
        "capture_fields": "",
        "transfer_number": "",
        "transfer_when": "",
        "voicemail_action": "hangup",
        "voicemail_message": "",
        "ai_disclosure": "Just so you know, I'm an AI assistant.",
        "max_call_seconds": "180",
    }
    if "outcomes" in overrides:  # typed lines instead of rows (an older form, a script)
        data = {key: value for key, value in data.items() if not key.startswith("outcomes-")}
    data.update(overrides)
    return data


def post(client, *, rows=None, **overrides):
    data = agent_data(**overrides)
    if rows is not None:
        data = {key: value for key, value in data.items() if not key.startswith("outcomes-")} | outcome_rows(*rows)
    return client.post(reverse("agent_create"), data)


def outcome_error(page: str, message: str) -> bool:
    """`message` is in the outcome editor's error list, right under its rows."""
    match = re.search(r'<ul class="errors" id="id_outcomes-errors">(.*?)</ul>', page, re.DOTALL)
    return match is not None and f"<li>{message}</li>" in match.group(1)


def shown_rows(page: str) -> list[tuple[str, str, str]]:
    """(name, counts as, what it means) of each outcome row the page shows filled in."""
    rows = []
    for index, row in enumerate(re.findall(r'data-testid="outcome-row">(.*?)</div>', page, re.DOTALL)):
        name = re.search(rf'name="outcomes-{index}-name" value="([^"]*)"', row).group(1)
        kind = re.search(r'<option value="([^"]*)" selected>', row)
        description = re.search(rf'name="outcomes-{index}-description" value="([^"]*)"', row).group(1)
        if name or description:
            rows.append((name, kind.group(1) if kind else "", description))
    return rows


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
    sections = dict(zip(legends, re.split(r"<legend><strong>", page)[1:], strict=True))
    assert 'id="id_voice"' in sections["Basics"] and 'id="id_engine"' in sections["Basics"]
    assert 'id="id_persona"' in sections["Conversation"] and 'id="id_end_call_phrases"' in sections["Conversation"]
    assert (
        'id="id_outcomes"' in sections["Outcomes & capture"]
        and 'id="id_capture_fields"' in sections["Outcomes & capture"]
    )
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

    assert shown_rows(page) == [(o["name"], o["kind"], o["description"]) for o in default_outcomes()]
    assert shown_rows(page)[0] == ("interested", "positive", "Wants to hear more or agreed to the goal.")
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
    agent = Agent.objects.get(workspace=user.personal_workspace)
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
        rows=[
            ("Booked!", "positive", "Agreed to a check-up date"),
            ("", "", ""),
            ("Not interested", "", "Said  no"),
            ("Call back later", "neutral", ""),
            ("Cancelled", "negative", "Cancelled an appointment"),
        ],
        language="es-ES",
        voice="Polly.Lucia",
        engine="scripted",
        transport="gather",
        capture_fields="Preferred time | When they would like to come\nbudget",
        transfer_number="(415) 555-0199",
        transfer_when="the callee wants to book today",
        end_call_phrases="  Adiós \n\nadiós\nTengo que irme",
        max_call_seconds="240",
    )

    assert response.status_code == 302
    agent = Agent.objects.get(workspace=user.personal_workspace)
    assert agent.outcomes == [
        {"name": "booked", "description": "Agreed to a check-up date", "kind": "positive"},
        {"name": "not_interested", "description": "Said no", "kind": "negative"},  # the platform's kind
        {"name": "call_back_later", "description": "", "kind": "neutral"},
        {"name": "cancelled", "description": "Cancelled an appointment", "kind": "negative"},
    ]
    assert agent.capture_fields == [
        {"name": "preferred_time", "description": "When they would like to come"},
        {"name": "budget", "description": ""},
    ]
    assert agent.end_call_phrases == "Adiós\nTengo que irme"
    assert (agent.language, agent.voice, agent.engine) == ("es-ES", "Polly.Lucia", "scripted")
    assert agent.transport == "gather"
    assert agent.persona.startswith("You are Riley") and agent.goal == "book a free check-up"
    assert agent.transfer_number == "+14155550199" and agent.transfer_when == "the callee wants to book today"
    assert agent.max_call_seconds == 240


def test_the_edit_page_shows_outcomes_as_rows_and_saving_keeps_them(logged_in, user):
    agent = make_agent(
        user,
        outcomes=[
            {"name": "booked", "description": "A date is set.", "kind": "positive"},
            {"name": "info_sent", "description": "", "kind": "neutral"},
            {"name": "not_interested", "description": "", "kind": "negative"},
        ],
        capture_fields=[{"name": "preferred_time", "description": "When."}],
    )
    page = text(logged_in.get(reverse("agent_edit", args=[agent.pk])))
    assert shown_rows(page) == [
        ("booked", "positive", "A date is set."),
        ("info_sent", "neutral", ""),
        ("not_interested", "negative", ""),
    ]
    assert "preferred_time | When.</textarea>" in page

    data = agent_data(capture_fields="preferred_time | When.") | outcome_rows(*shown_rows(page))
    assert logged_in.post(reverse("agent_edit", args=[agent.pk]), data).status_code == 302
    agent.refresh_from_db()
    assert agent.outcomes == [
        {"name": "booked", "description": "A date is set.", "kind": "positive"},
        {"name": "info_sent", "description": "", "kind": "neutral"},
        {"name": "not_interested", "description": "", "kind": "negative"},
    ]
    assert agent.capture_fields == [{"name": "preferred_time", "description": "When."}]


def test_an_agent_saved_before_outcomes_had_kinds_shows_what_each_counts_as(logged_in, user):
    """Its own outcome that a finished script ends with was its success: it shows as positive."""
    agent = make_agent(user, outcomes=[{"name": "survey_booked", "description": ""}, {"name": "not_interested"}])
    page = text(logged_in.get(reverse("agent_edit", args=[agent.pk])))
    assert shown_rows(page) == [("survey_booked", "positive", ""), ("not_interested", "negative", "")]


def test_outcomes_typed_as_lines_are_still_read(logged_in, user):
    """A post of 'name | description' lines (an older form, a script): each outcome counts as it
    did before outcomes had kinds."""
    response = post(logged_in, outcomes="Survey booked | Agreed to the survey\nnot_interested\nInfo sent")
    assert response.status_code == 302
    assert Agent.objects.get(workspace=user.personal_workspace).outcomes == [
        {"name": "survey_booked", "description": "Agreed to the survey", "kind": "positive"},
        {"name": "not_interested", "description": "", "kind": "negative"},
        {"name": "info_sent", "description": "", "kind": "neutral"},
    ]


def test_outcome_names_are_cut_to_forty_characters():
    from campaigns.agents.forms import name_slug

    assert name_slug("Très intéressé — wants a demo!") == "tres_interesse_wants_a_demo"
    assert len(name_slug("a very long outcome name " * 5)) <= 40
    assert not name_slug("a very long outcome name " * 5).endswith("_")


# --- Errors, shown next to the field they are about -----------------------------------------
@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [("interested", "positive", "Keen"), ("booked", "positive", "Date set"), ("Interested!", "", "Again")],
            "Outcome 3 repeats “interested” (already outcome 1).",
        ),
        ([], "Add at least one outcome, e.g. “interested”, counted as positive."),
        ([("", "positive", ""), ("  ", "", "  ")], "Add at least one outcome, e.g. “interested”, counted as positive."),
        (
            [("booked", "positive", "Date set"), ("!!", "neutral", "no name")],
            "Outcome 2 needs a name, in letters or digits.",
        ),
        (
            [("Survey booked", "", "Agreed to the survey")],
            "Choose whether “survey_booked” counts as positive, neutral or negative.",
        ),
        ([("booked", "great", "")], "Choose whether “booked” counts as positive, neutral or negative."),
        (
            [("not_interested", "positive", "")],
            "“Not interested” always counts as negative: the platform counts it the same way for every agent. "
            "Choose that, or give your outcome another name.",
        ),
        (
            [("voicemail", "neutral", "Left a message")],
            "“voicemail” is set by the platform from what happens on the line; choose another name.",
        ),
    ],
)
def test_bad_outcomes_are_refused_with_the_row_under_the_rows(logged_in, rows, message):
    response = post(logged_in, rows=rows)

    assert response.status_code == 200
    page = text(response)
    assert outcome_error(page, message), message
    assert "Please correct the fields marked below." in page
    assert 'id="id_outcomes" aria-describedby="id_outcomes_helptext id_outcomes_error" aria-invalid="true"' in page
    assert not Agent.objects.exists()


def test_every_bad_outcome_row_is_reported_at_once(logged_in):
    page = text(post(logged_in, rows=[("a", "positive", "x"), ("?", "neutral", "y"), ("A", "neutral", "z")]))
    assert outcome_error(page, "Outcome 2 needs a name, in letters or digits.")
    assert outcome_error(page, "Outcome 3 repeats “a” (already outcome 1).")


def test_bad_outcome_lines_are_refused_line_by_line(logged_in):
    page = text(post(logged_in, outcomes="a | x\n| y\nA | z"))
    assert outcome_error(page, "Line 2 needs a name before the '|', in letters or digits.")
    assert outcome_error(page, "Line 3 repeats the outcome “a” (already on line 1).")
    assert not Agent.objects.exists()


def test_what_was_typed_is_kept_when_the_form_is_refused(logged_in):
    page = text(post(logged_in, rows=[("a", "positive", "x"), ("A", "", "z")], persona="Be warm."))
    assert shown_rows(page) == [("a", "positive", "x"), ("A", "", "z")]
    assert "Be warm.</textarea>" in page


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


def test_new_agents_talk_in_real_time_and_the_page_says_what_that_means(logged_in, user):
    page = text(logged_in.get(reverse("agent_create")))
    assert "Conversation style" in page
    assert "stops when the callee speaks over it" in page

    assert post(logged_in).status_code == 302
    assert Agent.objects.get(workspace=user.personal_workspace).transport == Agent.Transport.RELAY
