"""The HubSpot page's forms: the token, what is written back, and an import's source and mapping.
Choices of properties and lists are the portal's own, read by the view and passed in."""

from django import forms

from accounts.forms import country_choices
from campaigns.contacts.contact_rows import RESERVED_VARIABLES, suggest_variable_name
from campaigns.contacts.forms import CONSENT_LABEL

from .client import ContactList, Property

NOT_MAPPED = [("", "— not written")]


class ConnectForm(forms.Form):
    token = forms.CharField(
        label="Private app access token",
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Starts with pat-. Shown once here; we keep it encrypted and show only its last 4 characters.",
    )


def _property_choices(properties: list[Property], *, writable: bool = False) -> list[tuple[str, str]]:
    return [(p.name, f"{p.label} ({p.name})") for p in properties if not (writable and p.read_only)]


class PushBackForm(forms.Form):
    outcome_property = forms.ChoiceField(
        label="Outcome goes to",
        required=False,
        help_text="A text or dropdown property, e.g. a custom “Clozit outcome”.",
    )
    write_notes = forms.BooleanField(
        label="Add a note to the contact's timeline (outcome, duration, answers, link to the call)", required=False
    )
    opt_out_property = forms.ChoiceField(
        label="Opt-outs set",
        required=False,
        help_text="HubSpot has no do-not-call flag on every portal: create a checkbox property such as "
        "“Do not call” and choose it here.",
    )
    opt_out_value = forms.CharField(label="…to the value", max_length=100, required=False, initial="true")

    def __init__(self, *args, properties: list[Property], captured_fields: list[str], answers=None, **kwargs):
        super().__init__(*args, **kwargs)
        writable = NOT_MAPPED + _property_choices(properties, writable=True)
        self.fields["outcome_property"].choices = writable
        self.fields["opt_out_property"].choices = writable
        self.captured_fields = captured_fields
        for index, name in enumerate(captured_fields):
            self.fields[f"answer_{index}"] = forms.ChoiceField(
                label=f"Answer “{name}” goes to",
                required=False,
                choices=writable,
                initial=(answers or {}).get(name, ""),
            )

    def answer_fields(self):
        return [self[f"answer_{i}"] for i in range(len(self.captured_fields))]

    def main_fields(self):
        return [self["outcome_property"], self["write_notes"], self["opt_out_property"], self["opt_out_value"]]

    def answer_properties(self) -> dict[str, str]:
        return {
            name: self.cleaned_data.get(f"answer_{i}") or ""
            for i, name in enumerate(self.captured_fields)
            if self.cleaned_data.get(f"answer_{i}")
        }


class ImportForm(forms.Form):
    source = forms.ChoiceField(label="Contacts to import", required=False)
    name = forms.CharField(label="Name of the new list", max_length=120, required=False)
    phone = forms.ChoiceField(label="Phone number")
    first_name = forms.ChoiceField(label="First name", required=False)
    last_name = forms.ChoiceField(label="Last name", required=False)
    email = forms.ChoiceField(label="Email (the variable {{email}})", required=False)
    variables = forms.MultipleChoiceField(
        label="More properties as variables",
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Each becomes a variable the agent's lines can use, named after the property, e.g. {{company}}.",
    )
    default_country = forms.ChoiceField(
        label="Default country", help_text="Numbers written without a +country code are read as numbers of it."
    )
    consent = forms.BooleanField(
        label=CONSENT_LABEL,
        error_messages={"required": "Confirm that you have consent to call these people before importing."},
    )

    def __init__(self, *args, properties: list[Property], lists: list[ContactList], **kwargs):
        super().__init__(*args, **kwargs)
        self.lists = {item.list_id: item for item in lists}
        self.fields["source"].choices = [("", "All contacts with a phone number")] + [
            (item.list_id, f"{item.name}" + (f" ({item.size} contacts)" if item.size is not None else ""))
            for item in lists
        ]
        choices = _property_choices(properties)
        self.fields["phone"].choices = [("", "Choose a property")] + choices
        for name in ("first_name", "last_name", "email"):
            self.fields[name].choices = [("", "— not imported")] + choices
        self.fields["variables"].choices = choices
        self.fields["default_country"].choices = country_choices()
        names = {p.name for p in properties}
        for field, guess in (("phone", "phone"), ("first_name", "firstname"), ("last_name", "lastname")):
            if guess in names:
                self.fields[field].initial = guess
        if "email" in names:
            self.fields["email"].initial = "email"

    def source_fields(self):
        return [self["source"], self["name"], self["default_country"]]

    def mapping_fields(self):
        return [self["phone"], self["first_name"], self["last_name"], self["email"], self["variables"]]

    def source_name(self) -> str:
        source = self.cleaned_data["source"]
        return self.lists[source].name if source else "All contacts with a phone number"

    def mapping(self) -> dict:
        data = self.cleaned_data
        return {"phone": data["phone"], "first_name": data.get("first_name"), "last_name": data.get("last_name")}

    def variable_names(self) -> dict[str, str]:
        data = self.cleaned_data
        variables = {}
        if data.get("email"):
            variables[data["email"]] = "email"
        for prop in data.get("variables") or []:
            name = suggest_variable_name(prop)
            if name in RESERVED_VARIABLES:
                name = f"{name}_2"
            if prop not in variables and name and name not in variables.values():
                variables[prop] = name
        return variables
