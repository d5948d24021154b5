"""The public page's forms. Numbers are read as people type them: with a +country code, or as a
US or Canadian number without one."""

from django import forms

from clozit.phones import normalise_number

from .models import Report

DEFAULT_COUNTRY = "US"


class HoneypotInput(forms.TextInput):
    """Never shows back what was typed: a bot's answer looks like anyone's."""

    def format_value(self, value):
        return None


class Honeypot(forms.CharField):
    """A field people never see (hidden by the stylesheet, skipped by the keyboard) and bots fill in."""

    def __init__(self):
        super().__init__(
            required=False,
            label="Leave this empty",
            widget=HoneypotInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
        )


def _number(value: str, what: str) -> str:
    try:
        return normalise_number(value, default_country=DEFAULT_COUNTRY)
    except ValueError:
        raise forms.ValidationError(
            f"Enter {what} as your phone showed it, with + and the country code if it is not a US or Canadian number."
        ) from None


class LookupForm(forms.Form):
    caller_number = forms.CharField(
        label="The number that called you",
        max_length=40,
        help_text="As your phone showed it, e.g. (415) 555-0100 or +44 20 7946 0000.",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    callee_number = forms.CharField(
        label="Your own number",
        max_length=40,
        help_text="The number they called. We only show calls from the first number to this one.",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    website = Honeypot()

    def clean_caller_number(self):
        return _number(self.cleaned_data["caller_number"], "the number that called you")

    def clean_callee_number(self):
        return _number(self.cleaned_data["callee_number"], "your own number")

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))


class ActionForm(forms.Form):
    """What the callee does about one call: `token` names the call (safety.views.call_token)."""

    ACTIONS = [("business", "Stop this business"), ("everyone", "Stop everyone"), ("report", "Report")]

    token = forms.CharField(widget=forms.HiddenInput)
    action = forms.ChoiceField(choices=ACTIONS)
    reason = forms.ChoiceField(
        label="What was wrong?", choices=Report.Reason.choices, required=False, widget=forms.RadioSelect
    )
    text = forms.CharField(
        label="What happened (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    website = Honeypot()
