"""The call list's filters: what a person narrows a million calls down with."""

import re

from django import forms

from ..models import Call, Campaign, outcome_label

ANSWERED_CHOICES = [("", "Answered or not"), ("yes", "Answered"), ("no", "Not answered")]
# Fewer digits match too many numbers to be a search.
PHONE_MIN_DIGITS = 3


class CallFilterForm(forms.Form):
    """Every field optional; an empty form lists every call. Read from the query string (GET), so a
    filtered list is a link that can be kept and shared."""

    campaign = forms.ModelChoiceField(queryset=Campaign.objects.none(), required=False, empty_label="All campaigns")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Call.Status.choices])
    outcome = forms.ChoiceField(required=False)
    answered = forms.ChoiceField(required=False, choices=ANSWERED_CHOICES, label="Answered")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    phone = forms.CharField(
        required=False,
        max_length=30,
        label="Phone number",
        help_text="The whole number, or its last digits.",
        widget=forms.TextInput(attrs={"type": "search", "inputmode": "tel", "placeholder": "e.g. 0132"}),
    )

    def __init__(self, *args, owner, outcomes: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.filter(owner=owner).only("pk", "name").order_by("name")
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
