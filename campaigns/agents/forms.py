import re
import unicodedata

from django import forms
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from clozit.phones import normalise_number
from telephony.providers.base import VoiceProvider
from telephony.registry import UnknownProvider, get_provider

from ..conversation.engine import llm_configured
from ..conversation.engine.base import VARIABLE
from ..conversation.engine.spec import KIND_LABELS, KINDS, PLATFORM_KINDS, agent_outcomes, outcome_kinds
from ..models import Agent, outcome_label

MAX_NAMED_LINES = 20
NAME_MAX_LENGTH = 40
# Outcomes the platform sets from what happened on the line; an agent cannot define them.
PLATFORM_OUTCOME_NAMES = {"voicemail", "time_limit", "transferred", "no_response", "technical_failure"}


def name_slug(text: str) -> str:
    """ "Call back later!" -> "call_back_later": lower case ASCII letters, digits and _ (at most 40)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:NAME_MAX_LENGTH].rstrip("_")


def parse_named_lines(text: str, *, what: str) -> list[dict]:
    """'name | description' lines -> [{"name", "description"}]; raises ValidationError with every
    problem, each with its line number. `what` names one entry in messages ("outcome")."""
    entries, seen, problems = [], {}, []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        if not raw.strip():
            continue
        name, _, description = raw.partition("|")
        slug = name_slug(name)
        if not slug:
            problems.append(f"Line {number} needs a name before the '|', in letters or digits.")
            continue
        if slug in seen:
            problems.append(f"Line {number} repeats the {what} “{slug}” (already on line {seen[slug]}).")
            continue
        seen[slug] = number
        entries.append({"name": slug, "description": " ".join(description.split())[:300]})
    if len(entries) > MAX_NAMED_LINES:
        problems.append(f"Keep to at most {MAX_NAMED_LINES} lines.")
    if problems:
        raise forms.ValidationError(problems)
    return entries


def named_lines_text(entries) -> str:
    return "\n".join(
        f"{e.get('name', '')} | {e.get('description', '')}".rstrip(" |")
        for e in entries or []
        if isinstance(e, dict) and e.get("name")
    )


# --- Outcomes, each with what it counts as -------------------------------------------------------
# Row inputs read from a post: more than the page ever shows, far fewer than a flood.
MAX_OUTCOME_ROWS = 40
SPARE_OUTCOME_ROWS = 5


def outcome_rows_clean(rows: list[dict]) -> list[dict]:
    """Posted outcome rows -> [{"name", "description", "kind"}]. Blank rows are skipped; raises
    ValidationError with every problem, each naming the row (as the page numbers them)."""
    entries, seen, problems = [], {}, []
    for number, row in enumerate(rows, start=1):
        raw_name, description = row.get("name", "").strip(), " ".join(row.get("description", "").split())
        kind = row.get("kind", "").strip()
        if not raw_name and not description:
            continue
        slug = name_slug(raw_name)
        if not slug:
            problems.append(f"Outcome {number} needs a name, in letters or digits.")
            continue
        if slug in seen:
            problems.append(f"Outcome {number} repeats “{slug}” (already outcome {seen[slug]}).")
            continue
        seen[slug] = number
        fixed = PLATFORM_KINDS.get(slug)
        if slug in PLATFORM_OUTCOME_NAMES:  # refused by name in clean_outcomes, whatever its kind
            entries.append({"name": slug, "description": description[:300], "kind": fixed})
            continue
        if fixed and kind and kind != fixed:
            problems.append(
                f"“{outcome_label(slug)}” always counts as {fixed}: the platform counts it the same way for "
                "every agent. Choose that, or give your outcome another name."
            )
        elif kind not in KINDS and not (fixed and not kind):
            problems.append(f"Choose whether “{slug}” counts as positive, neutral or negative.")
        entries.append({"name": slug, "description": description[:300], "kind": kind or fixed})
    if len(entries) > MAX_NAMED_LINES:
        problems.append(f"Keep to at most {MAX_NAMED_LINES} outcomes.")
    if problems:
        raise forms.ValidationError(problems)
    return entries


def _posted_rows(data, name: str) -> list[dict]:
    rows = []
    for index in range(MAX_OUTCOME_ROWS):
        keys = {part: f"{name}-{index}-{part}" for part in ("name", "kind", "description")}
        if any(key in data for key in keys.values()):
            rows.append({part: str(data.get(key, ""))[:400] for part, key in keys.items()})
    return rows


class OutcomeRowsWidget(forms.Widget):
    """One row per outcome: its name, what it counts as, what it means. Spare rows follow (the
    page's script shows one at a time). A post of plain 'name | description' lines under the
    field's own name (an older form, a script) is read as before."""

    template_name = "campaigns/agents/widget_outcome_rows.html"

    def value_from_datadict(self, data, files, name):
        return _posted_rows(data, name) or data.get(name)

    def value_omitted_from_data(self, data, files, name):
        return not _posted_rows(data, name) and name not in data

    def render(self, name, value, attrs=None, renderer=None):
        # The project's templates (the default form renderer reads only Django's own and the apps').
        return mark_safe(render_to_string(self.template_name, self.get_context(name, value, attrs)))

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if isinstance(value, str):  # typed lines, shown back as rows
            value = [
                {"name": n.strip(), "description": d.strip(), "kind": ""}
                for n, _, d in (line.partition("|") for line in value.splitlines())
                if n.strip() or d.strip()
            ]
        rows = [
            {
                "name": str(row.get("name") or ""),
                "kind": str(row.get("kind") or ""),
                "description": str(row.get("description") or ""),
            }
            for row in value or []
            if isinstance(row, dict)
        ]
        spare = max(1, min(SPARE_OUTCOME_ROWS, MAX_NAMED_LINES - len(rows)))
        rows += [{"name": "", "kind": "", "description": "", "spare": True} for _ in range(spare)]
        context["widget"]["rows"] = [{**row, "index": i, "number": i + 1} for i, row in enumerate(rows)]
        context["widget"]["kinds"] = [(kind, KIND_LABELS[kind]) for kind in KINDS]
        # The field's help and errors describe the first input, as Django's own widgets do.
        attrs = context["widget"]["attrs"]
        context["widget"]["described_by"] = attrs.get("aria-describedby", "")
        context["widget"]["invalid"] = attrs.get("aria-invalid") == "true"
        return context


def voices_by_language() -> dict[str, list[tuple[str, str]]]:
    """The voices the configured provider offers, per agent language."""
    try:
        provider = get_provider()
    except UnknownProvider:  # reported on /healthz; the form still works with the common voices
        provider = VoiceProvider()
    return {code: provider.voices(code) for code, _ in Agent.LANGUAGES}


class AgentForm(forms.ModelForm):
    outcomes = forms.Field(
        label="Outcomes",
        required=False,  # checked in clean_outcomes, with a message that says what to write
        widget=OutcomeRowsWidget,
        help_text="The outcomes a call can end with, and what each counts as. Positive outcomes are what the "
        "call is for: they make the success rate. Negative ones fall short of it; neutral ones are neither. "
        "Names become lower_case_with_underscores. Every call can also end as not interested, call back, "
        "wrong person or do not call. Interested and transferred always count as positive; not interested, "
        "wrong person, do not call and hung up as negative.",
    )
    capture_fields = forms.CharField(
        label="Fields to capture",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Answers to record on the call, one per line as 'name | what to record', e.g. "
        "'preferred_time | When they would like the appointment'. Without an AI model, answers are recorded "
        "under these names when there is one field per question (in order), else under the questions.",
    )
    voice = forms.ChoiceField(label="Voice")

    OUTCOMES_LEGEND = "Outcomes & capture"
    # (legend, fields) in the order the page shows them.
    FIELDSETS = [
        ("Basics", ["name", "language", "voice", "engine", "transport"]),
        (
            "Conversation",
            ["persona", "goal", "opening_line", "questions", "answers", "closing_line", "end_call_phrases"],
        ),
        (OUTCOMES_LEGEND, ["outcomes", "capture_fields"]),
        ("Transfer & voicemail", ["transfer_number", "transfer_when", "voicemail_action", "voicemail_message"]),
        ("Safety & limits", ["ai_disclosure", "mention_who_called", "record_calls", "max_call_seconds"]),
    ]

    class Meta:
        model = Agent
        fields = [
            "name",
            "language",
            "voice",
            "engine",
            "transport",
            "persona",
            "goal",
            "opening_line",
            "questions",
            "answers",
            "closing_line",
            "end_call_phrases",
            "outcomes",
            "capture_fields",
            "transfer_number",
            "transfer_when",
            "voicemail_action",
            "voicemail_message",
            "ai_disclosure",
            "mention_who_called",
            "record_calls",
            "max_call_seconds",
        ]
        widgets = {
            "persona": forms.Textarea(attrs={"rows": 4}),
            "opening_line": forms.Textarea(attrs={"rows": 2}),
            "questions": forms.Textarea(attrs={"rows": 4}),
            "answers": forms.Textarea(attrs={"rows": 4}),
            "closing_line": forms.Textarea(attrs={"rows": 2}),
            "end_call_phrases": forms.Textarea(attrs={"rows": 3}),
            "voicemail_message": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {
            "persona": "Persona and instructions",
            "engine": "Conversation engine",
            "transport": "Conversation style",
            "transfer_when": "When to transfer",
            "end_call_phrases": "End-call phrases",
            "ai_disclosure": "AI disclosure",
            "mention_who_called": "Say where callees can see who called and opt out",
            "max_call_seconds": "Maximum call length (seconds)",
        }
        help_texts = {
            "ai_disclosure": "Said at the start of every call (AI voices count as artificial voices under US law). "
            "Leave empty only where no disclosure is required.",
            "mention_who_called": "Callees then hear where to see who called them and stop the calls: "
            "“To see who called you, or to stop these calls, visit <this site>/who-called.”",
            "record_calls": "Callees hear “This call is recorded.” when they answer; the recording then plays "
            "on the call's page.",
        }

    def __init__(self, *args, workspace=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.voices = voices_by_language()
        languages = dict(Agent.LANGUAGES)
        self.fields["voice"].choices = [
            (languages[code], list(voices)) for code, voices in self.voices.items() if voices
        ]
        self.fields["voice"].help_text = "The voices your telephony provider offers; pick one for the agent's language."
        if not self.is_bound:
            self.initial["outcomes"] = agent_outcomes(self.instance)
            self.initial["capture_fields"] = named_lines_text(self.instance.capture_fields)
        engine_help = "Deployment default: the AI model when this server has one, else scripted."
        if not llm_configured():
            engine_help += (
                " No AI model is configured on this server (LLM_MODEL is empty), so every agent runs the "
                "scripted engine, including agents set to “AI model”."
            )
        self.fields["engine"].help_text = engine_help
        # A form posted without it (an older page, a script) keeps the agent's style.
        self.fields["transport"].required = False

    def clean_transport(self):
        return self.cleaned_data.get("transport") or self.instance.transport or Agent.Transport.RELAY

    @property
    def fieldsets(self):
        """(legend, fields) in order; the outcome rows are laid out by the page itself, first in
        their fieldset (OUTCOMES_LEGEND)."""
        return [(legend, [self[name] for name in names if name != "outcomes"]) for legend, names in self.FIELDSETS]

    def clean_max_call_seconds(self):
        value = self.cleaned_data["max_call_seconds"]
        if not 15 <= value <= 3600:
            raise forms.ValidationError("Choose between 15 seconds and one hour (3600 seconds).")
        return value

    def clean_transfer_number(self):
        number = self.cleaned_data["transfer_number"].strip()
        if not number:
            return ""
        country = getattr(self.workspace, "default_country", "") or "US"
        try:
            return normalise_number(number, default_country=country)
        except ValueError as exc:
            raise forms.ValidationError(f"The transfer number is not usable: {exc}.") from None

    def clean_answers(self):
        text = self.cleaned_data["answers"]
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip() and ("|" not in line or not line.split("|", 1)[1].strip()):
                raise forms.ValidationError(f"Line {number} needs the form 'keywords | answer'.")
        return text

    def clean_outcomes(self):
        value = self.cleaned_data["outcomes"]
        if value is None or isinstance(value, list):
            outcomes = outcome_rows_clean(value or [])
            if not outcomes:
                raise forms.ValidationError("Add at least one outcome, e.g. “interested”, counted as positive.")
        else:  # 'name | description' lines: each outcome counts as it did before outcomes had kinds
            outcomes = parse_named_lines(value or "", what="outcome")
            if not outcomes:
                raise forms.ValidationError("List at least one outcome, e.g. 'interested | Wants to hear more'.")
            kinds = outcome_kinds(outcomes)
            outcomes = [{**outcome, "kind": kinds[outcome["name"]]} for outcome in outcomes]
        reserved = [o["name"] for o in outcomes if o["name"] in PLATFORM_OUTCOME_NAMES]
        if reserved:
            raise forms.ValidationError(
                f"“{reserved[0]}” is set by the platform from what happens on the line; choose another name."
            )
        return outcomes

    def clean_capture_fields(self):
        return parse_named_lines(self.cleaned_data["capture_fields"], what="field")

    def clean_end_call_phrases(self):
        phrases: dict[str, str] = {}  # lower case -> the first spelling of a phrase given twice
        for raw in self.cleaned_data["end_call_phrases"].splitlines():
            phrase = " ".join(raw.split())
            if phrase:
                phrases.setdefault(phrase.lower(), phrase)
        for phrase in phrases.values():
            if len(phrase) > 100:
                raise forms.ValidationError(f"“{phrase[:30]}…” is too long: keep each phrase under 100 characters.")
        if len(phrases) > MAX_NAMED_LINES:
            raise forms.ValidationError(f"Keep to at most {MAX_NAMED_LINES} phrases.")
        return "\n".join(phrases.values())

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("voicemail_action") == Agent.VoicemailAction.LEAVE_MESSAGE
            and not (cleaned.get("voicemail_message") or "").strip()
        ):
            self.add_error("voicemail_message", "Write the message to leave, or choose to hang up.")
        for name in ("persona", "goal", "opening_line", "questions", "closing_line", "voicemail_message"):
            text = cleaned.get(name) or ""
            if text.count("{{") != text.count("}}") or ("{{" in text and not VARIABLE.search(text)):
                self.add_error(name, "Write contact variables as {{first_name}}: letters, digits and underscores.")
        language, voice = cleaned.get("language"), cleaned.get("voice")
        if language and voice:
            offered = dict(self.voices.get(language, []))
            if voice not in offered:
                language_name = dict(Agent.LANGUAGES).get(language, language)
                if offered:
                    self.add_error(
                        "voice", f"This voice does not speak {language_name}: choose {', '.join(offered.values())}."
                    )
                else:
                    self.add_error("voice", f"Your telephony provider offers no {language_name} voice.")
        if (
            (cleaned.get("transfer_when") or "").strip()
            and not cleaned.get("transfer_number")
            and ("transfer_number" not in self.errors)
        ):
            self.add_error("transfer_when", "Add a transfer number too, or leave this empty.")
        return cleaned
