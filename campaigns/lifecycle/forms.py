"""The campaign form (settings of a new, draft or paused campaign) and the scheduled launch's."""

from django import forms
from django.conf import settings
from django.utils.html import format_html

from telephony.numbers import caller_number_choices

from ..models import Agent, Campaign, ContactList, default_retry_on, weekdays

WEEKDAYS = list(enumerate(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]))
RETRY_CHOICES = [("no_answer", "No answer"), ("busy", "Busy"), ("failed", "Failed"), ("voicemail", "Voicemail")]


class Checkboxes(forms.CheckboxSelectMultiple):
    """Checkboxes that tell "none ticked" from "not on the form": a browser sends nothing for
    unticked boxes, so the widget adds a hidden marker. A post without the marker (a script, an
    older form) keeps the model's default; a post with it and no box ticked means none."""

    def marker(self, name: str) -> str:
        return f"{name}__shown"

    def render(self, name, value, attrs=None, renderer=None):
        boxes = super().render(name, value, attrs, renderer)
        return format_html('{}<input type="hidden" name="{}" value="1">', boxes, self.marker(name))

    def value_omitted_from_data(self, data, files, name):
        return name not in data and self.marker(name) not in data


class CampaignForm(forms.ModelForm):
    # A choice, not free text: a campaign calls only from the account's own active numbers or
    # the platform's shared ones (telephony.numbers), never from a number nobody here holds.
    caller_number = forms.ChoiceField(
        label="Caller number",
        help_text="The number your contacts see.",
        error_messages={"invalid_choice": "Choose one of your numbers or a shared number."},
    )
    calling_days = forms.TypedMultipleChoiceField(
        label="Calling days",
        choices=WEEKDAYS,
        coerce=int,
        initial=weekdays,
        required=False,  # checked in clean_calling_days, with a message that says what to do
        widget=Checkboxes,
        help_text="Days of the week in the callee's own time.",
    )
    retry_on = forms.MultipleChoiceField(
        label="Call again after",
        choices=RETRY_CHOICES,
        initial=default_retry_on,
        required=False,
        widget=Checkboxes,
        help_text="Calls that end like this are tried again, up to the number of attempts below.",
    )

    # (legend, fields) in the order the page shows them.
    FIELDSETS = [
        ("Basics", ["name", "purpose", "agent", "contact_list", "caller_number", "max_concurrent_calls"]),
        ("Calling hours", ["calling_hours_start", "calling_hours_end", "calling_days"]),
        ("Retries", ["retry_on", "max_attempts", "retry_delay_minutes"]),
        ("Budget", ["budget_credits"]),
    ]

    class Meta:
        model = Campaign
        fields = [
            "name",
            "purpose",
            "agent",
            "contact_list",
            "caller_number",
            "max_concurrent_calls",
            "calling_hours_start",
            "calling_hours_end",
            "calling_days",
            "retry_on",
            "max_attempts",
            "retry_delay_minutes",
            "budget_credits",
        ]
        labels = {
            "purpose": "Why you are calling",
            "max_concurrent_calls": "Calls at the same time",
            "calling_hours_start": "Call from",
            "calling_hours_end": "Call until",
            "max_attempts": "Attempts per contact",
            "retry_delay_minutes": "Wait between attempts (minutes)",
            "budget_credits": "Budget (credits)",
        }
        help_texts = {
            "purpose": "One sentence the people you call can read on the public “Who called me?” page, "
            "e.g. “Reminding patients of their dental check-up”.",
            "calling_hours_start": "In the callee's own time zone. The legal hours of the callee's country apply "
            "as well (8:00 to 21:00 in the US and Canada, 9:00 to 21:00 in India).",
            "calling_hours_end": "No call starts at or after this time.",
            "max_attempts": "Calls to one contact at most, the first included (1 to 10).",
            "retry_delay_minutes": "At least this long after the last call; the next try still waits for the "
            "callee's calling hours.",
            "budget_credits": "The campaign stops once its calls have cost this much. Leave empty for no cap.",
        }
        widgets = {
            "calling_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "calling_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args, workspace, editable=None, **kwargs):
        """`editable`: the settings that may change (campaigns.lifecycle.services.campaign_editable_settings);
        the others are left off the form. None: a new campaign, every field."""
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        if editable is not None:
            for name in list(self.fields):
                if name not in editable:
                    del self.fields[name]
        if "agent" in self.fields:
            self._limit_agent_and_list(workspace)
        self.fields["caller_number"].choices = caller_number_choices(workspace)
        # Left out of a post altogether (a script, an older form), these keep the model's default.
        for name in ("calling_hours_start", "calling_hours_end", "max_attempts", "retry_delay_minutes"):
            self.fields[name].required = False
        if "purpose" in self.fields:
            # Blank in the database (campaigns made before it existed), required from now on: the
            # people called read it on the "Who called me?" page.
            self.fields["purpose"].required = True
            self.fields["purpose"].error_messages["required"] = (
                "Say why you are calling: the people you call can read it on the “Who called me?” page."
            )
        self.fields["budget_credits"].widget.attrs.update({"min": "1", "step": "1"})
        self.fields["max_attempts"].widget.attrs.update({"min": "1", "max": "10"})
        self.fields["retry_delay_minutes"].widget.attrs.update({"min": "5"})

    def _limit_agent_and_list(self, workspace):
        self.fields["agent"].queryset = Agent.objects.filter(workspace=workspace)
        # Only lists whose import has finished: a half-imported list would be called half.
        self.fields["contact_list"].queryset = ContactList.objects.filter(
            workspace=workspace, import_status=ContactList.ImportStatus.DONE
        )

    @property
    def fieldsets(self):
        return [
            (legend, [self[name] for name in names if name in self.fields])
            for legend, names in self.FIELDSETS
            if any(name in self.fields for name in names)
        ]

    def changes(self) -> dict:
        """The cleaned values of the fields on the form: what campaigns.lifecycle.services.campaign_update takes."""
        return {name: self.cleaned_data[name] for name in self.fields}

    def clean_purpose(self):
        value = " ".join(self.cleaned_data["purpose"].split())
        if len(value) < 10:
            raise forms.ValidationError("Say in a few words why you are calling (at least 10 characters).")
        return value

    def clean_max_concurrent_calls(self):
        value = self.cleaned_data["max_concurrent_calls"]
        if not 1 <= value <= 50:
            raise forms.ValidationError("Choose between 1 and 50 calls at the same time.")
        return value

    def _omitted(self, name: str) -> bool:
        return self.fields[name].widget.value_omitted_from_data(self.data, self.files, self.add_prefix(name))

    def _kept_default(self, name: str, missing: str):
        """The cleaned value, or the campaign's current one (a new campaign's: the model's default)
        when the field was not posted at all."""
        value = self.cleaned_data.get(name)
        if value in (None, "", []):
            if self._omitted(name):
                if self.instance.pk is None:
                    return Campaign._meta.get_field(name).get_default()
                return getattr(self.instance, name)
            if missing:
                raise forms.ValidationError(missing)
        return value

    def clean_calling_hours_start(self):
        return self._kept_default("calling_hours_start", "Enter the time calls may start.")

    def clean_calling_hours_end(self):
        return self._kept_default("calling_hours_end", "Enter the time calls must end by.")

    def clean_calling_days(self):
        days = self._kept_default("calling_days", "Choose at least one day to call on.")
        return sorted({int(day) for day in days})

    def clean_retry_on(self):
        return list(self._kept_default("retry_on", ""))

    def clean_max_attempts(self):
        value = self._kept_default("max_attempts", "Enter how many times to try each contact (1 to 10).")
        if not 1 <= value <= 10:
            raise forms.ValidationError("Choose between 1 and 10 attempts.")
        return value

    def clean_retry_delay_minutes(self):
        value = self._kept_default("retry_delay_minutes", "Enter how many minutes to wait between attempts.")
        if not 5 <= value <= 7 * 24 * 60:
            raise forms.ValidationError("Wait between 5 minutes and 7 days (10080 minutes).")
        return value

    def clean_budget_credits(self):
        value = self.cleaned_data["budget_credits"]
        if value is not None and value < settings.CALL_MIN_CREDITS:
            raise forms.ValidationError(
                f"A budget must cover at least one call ({settings.CALL_MIN_CREDITS} credits), or leave it empty."
            )
        return value

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("calling_hours_start"), cleaned.get("calling_hours_end")
        if start and end and start >= end:
            self.add_error("calling_hours_end", "End after the start time (calls within one day).")
        return cleaned


class CampaignScheduleForm(forms.Form):
    """When to launch a draft, in the account's time zone (the one the pages are shown in)."""

    launch_at = forms.DateTimeField(
        label="Launch on",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={
            "required": "Choose the date and time to launch at.",
            "invalid": "Enter a date and time, such as 2025-01-14 09:00.",
        },
    )
