"""The call list's filters: what a person narrows a million calls down with."""

import re

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join

from ..models import Call, Campaign, outcome_label

ANSWERED_CHOICES = [("", "Answered or not"), ("yes", "Answered"), ("no", "Not answered")]
# Fewer digits match too many numbers to be a search.
PHONE_MIN_DIGITS = 3


class QuickSelect(forms.Select):
    """A <select> written in Python. Django renders each option through a template (about 0.1 ms
    an option): with a hundred campaigns to choose from, that was a third of the page's time."""

    def render(self, name, value, attrs=None, renderer=None):
        selected = set(self.format_value(value))
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((choice, " selected" if str(choice) in selected else "", label) for choice, label in self.choices),
        )
        return format_html(
            "<select{}>{}</select>", flatatt(self.build_attrs(self.attrs, {**(attrs or {}), "name": name})), options
        )


class CallFilterForm(forms.Form):
    """Every field optional; an empty form lists every call. Read from the query string (GET), so a
    filtered list is a link that can be kept and shared."""

    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.none(), required=False, empty_label="All campaigns", widget=QuickSelect
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Call.Status.choices], widget=QuickSelect)
    outcome = forms.ChoiceField(required=False, widget=QuickSelect)
    answered = forms.ChoiceField(required=False, choices=ANSWERED_CHOICES, label="Answered", widget=QuickSelect)
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    phone = forms.CharField(
        required=False,
        max_length=30,
        label="Phone number",
        help_text="The whole number, or its last digits.",
        widget=forms.TextInput(attrs={"type": "search", "inputmode": "tel", "placeholder": "e.g. 0132"}),
    )

    def __init__(self, *args, workspace, outcomes: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = (
            Campaign.objects.filter(workspace=workspace).only("pk", "name").order_by("name")
        )
        choices = dict.fromkeys(value for value, _ in Call.Outcome.choices if value)
        choices.update(dict.fromkeys(outcomes))
        self.fields["outcome"].choices = [("", "Any outcome"), *((name, outcome_label(name)) for name in choices)]

    def clean_phone(self) -> str:
        """The number as stored ("+14155550132") when it starts with +, else only its digits."""
        typed = self.cleaned_data["phone"].strip()
        if not typed:
            return ""
        digits = re.sub(r"\D", "", typed)
        if len(digits) < PHONE_MIN_DIGITS:
            raise forms.ValidationError(f"Type at least {PHONE_MIN_DIGITS} digits of the number.")
        return "+" + digits if typed.startswith("+") else digits

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned
