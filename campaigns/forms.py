from django import forms

from .contacts import normalise_number
from .engine.base import VARIABLE
from .models import Agent, Campaign, ContactList


class AgentForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = [
            "name",
            "language",
            "voice",
            "opening_line",
            "questions",
            "answers",
            "closing_line",
            "voicemail_action",
            "voicemail_message",
            "transfer_number",
            "max_call_seconds",
            "ai_disclosure",
            "record_calls",
        ]
        widgets = {
            "opening_line": forms.Textarea(attrs={"rows": 2}),
            "questions": forms.Textarea(attrs={"rows": 4}),
            "answers": forms.Textarea(attrs={"rows": 4}),
            "closing_line": forms.Textarea(attrs={"rows": 2}),
            "voicemail_message": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {"max_call_seconds": "Maximum call length (seconds)"}

    def clean_max_call_seconds(self):
        value = self.cleaned_data["max_call_seconds"]
        if not 15 <= value <= 3600:
            raise forms.ValidationError("Choose between 15 seconds and one hour (3600 seconds).")
        return value

    def __init__(self, *args, owner=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner = owner

    def clean_transfer_number(self):
        number = self.cleaned_data["transfer_number"].strip()
        if not number:
            return ""
        country = getattr(self.owner, "default_country", "") or "US"
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

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("voicemail_action") == Agent.VoicemailAction.LEAVE_MESSAGE
            and not (cleaned.get("voicemail_message") or "").strip()
        ):
            self.add_error("voicemail_message", "Write the message to leave, or choose to hang up.")
        for name in ("opening_line", "questions", "closing_line", "voicemail_message"):
            text = cleaned.get(name) or ""
            if text.count("{{") != text.count("}}") or ("{{" in text and not VARIABLE.search(text)):
                self.add_error(name, "Write contact variables as {{first_name}}: letters, digits and underscores.")
        return cleaned


class ContactUploadForm(forms.Form):
    name = forms.CharField(max_length=120, label="List name")
    file = forms.FileField(
        label="CSV file", help_text="A header row with a 'phone' column; other columns are optional."
    )


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["name", "agent", "contact_list", "caller_number", "max_concurrent_calls"]
        labels = {"max_concurrent_calls": "Calls at the same time"}

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner = owner
        self.fields["agent"].queryset = Agent.objects.filter(owner=owner)
        self.fields["contact_list"].queryset = ContactList.objects.filter(owner=owner)

    def clean_caller_number(self):
        try:
            return normalise_number(self.cleaned_data["caller_number"], default_country=self.owner.default_country)
        except ValueError as exc:
            raise forms.ValidationError(f"The caller number is not usable: {exc}.") from None

    def clean_max_concurrent_calls(self):
        value = self.cleaned_data["max_concurrent_calls"]
        if not 1 <= value <= 50:
            raise forms.ValidationError("Choose between 1 and 50 calls at the same time.")
        return value
