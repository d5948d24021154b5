from django import forms

from clozit import events

EVENT_CHOICES = [
    (events.CALL_COMPLETED, "call.completed — an answered call ended (transcript, outcome, answers, cost)"),
    (events.CALL_FAILED, "call.failed — nobody answered, busy, or the call could not be placed"),
    (events.CAMPAIGN_COMPLETED, "campaign.completed — everyone on the list was called"),
    (events.CAMPAIGN_PAUSED, "campaign.paused — by someone, or by the rules (credits, carrier, abuse signals)"),
    (events.CONTACT_OPTED_OUT, "contact.opted_out — a callee asked not to be called again"),
    (events.CREDITS_LOW, "credits.low — the balance fell below the low-credit threshold"),
]
assert [value for value, _ in EVENT_CHOICES] == list(events.EVENT_TYPES)


class EndpointForm(forms.Form):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="Where we POST each event, signed. It must answer 2xx within 10 seconds; redirects are not followed.",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/clozit/webhook"}),
    )
    description = forms.CharField(max_length=200, required=False, help_text="For you: what receives these.")
    event_types = forms.MultipleChoiceField(
        label="Events", choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple, initial=list(events.EVENT_TYPES)
    )
    enabled = forms.BooleanField(label="Send events to this endpoint", required=False, initial=True)
