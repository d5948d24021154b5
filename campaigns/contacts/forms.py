"""The forms of the contact pages: upload, column mapping, consent, a list, a contact, a do-not-call import."""

from django import forms
from django.conf import settings

from accounts.forms import country_choices

from . import contact_rows, donotcall, importing

CONSENT_LABEL = (
    "I confirm I have consent to call these people: each agreed to be called by us, with an AI voice, "
    "as the law of their country requires (in the US, prior express consent under the TCPA)."
)


class UploadForm(forms.Form):
    file = forms.FileField(label="CSV file")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            f"Up to {importing.MAX_BACKGROUND_UPLOAD_BYTES // 2**20} MB. At most {settings.CSV_MAX_COLUMNS:,} columns. "
            "Comma, semicolon or tab separated; UTF-8 or an Excel export. You choose the columns next."
        )


class MappingForm(forms.Form):
    name = forms.CharField(max_length=120, label="List name")
    phone = forms.ChoiceField(label="Phone number", help_text="Required.")
    full_name = forms.ChoiceField(
        label="Full name",
        required=False,
        help_text="Split into first and last name: “Ann Lee” and “Lee, Ann” both give Ann and Lee.",
    )
    first_name = forms.ChoiceField(label="First name", required=False)
    last_name = forms.ChoiceField(label="Last name", required=False)
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="IANA names such as America/New_York. Without one, the time zone comes from the number.",
    )
    tags = forms.ChoiceField(label="Tags of each contact", required=False, help_text="Separated by commas.")
    variables = forms.MultipleChoiceField(
        label="Variables your agent can use",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each ticked column becomes the variable named beside it, used in the agent's lines as "
        "{{company}}, or {{company|your company}} to say something when a contact has no value.",
    )
    default_country = forms.ChoiceField(
        label="Default country", help_text="Numbers written without a +country code are read as numbers of it."
    )
    list_tags = forms.CharField(
        label="List tags", required=False, max_length=400, help_text="Comma-separated, e.g. spring, webinar."
    )
    consent = forms.BooleanField(
        label=CONSENT_LABEL,
        error_messages={"required": "Confirm that you have consent to call these people before importing."},
    )

    FIELDS = contact_rows.MAPPED_FIELDS

    def __init__(self, *args, names: list[str], variable_names: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.names = names
        suggested = contact_rows.suggest_variable_names(names)
        variable_names = {**suggested, **(variable_names or {})}
        columns = [(name, name) for name in names]
        self.fields["phone"].choices = [("", "Choose a column")] + columns
        for name in ("full_name", "first_name", "last_name", "time_zone", "tags"):
            self.fields[name].choices = [("", "— not in the file")] + columns
        for name in self.FIELDS:
            self.fields[name].widget.attrs["data-column-field"] = name
        self.fields["variables"].choices = columns
        self.fields["default_country"].choices = country_choices()
        # One name per column, by position: a header may hold any character.
        for index, column in enumerate(names):
            self.fields[self.name_field(index)] = forms.CharField(
                label=f"Variable name for {column}",
                required=False,
                max_length=100,
                initial=variable_names.get(column, suggested[column]),
                widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "variable-name"}),
            )

    @staticmethod
    def name_field(index: int) -> str:
        return f"variable_name_{index}"

    def clean(self):
        cleaned = super().clean()
        seen = {}
        for name in self.FIELDS:
            column = cleaned.get(name)
            if column and column in seen:
                self.add_error(name, f"“{column}” is already the {self.fields[seen[column]].label.lower()} column.")
            elif column:
                seen[column] = name
        if cleaned.get("full_name") and (cleaned.get("first_name") or cleaned.get("last_name")):
            self.add_error(
                "full_name",
                "Choose a full-name column or first- and last-name columns, not both: "
                "the full name is split into first and last name.",
            )
        ticked = [c for c in cleaned.get("variables") or [] if c not in seen]
        cleaned["variables"] = ticked
        pairs = []
        for column in ticked:
            field = self.name_field(self.names.index(column))
            if field in self.errors:
                continue
            # A client that sends no names (not this page) gets the suggested ones.
            name = (cleaned.get(field, "") if field in self.data else self.fields[field].initial or "").strip()
            # "Company" is taken as company; anything else is reported as the user typed it.
            pairs.append((column, name.lower() if contact_rows.VARIABLE_NAME.fullmatch(name.lower()) else name))
        for column, problem in contact_rows.variables_check(pairs).items():
            self.add_error(self.name_field(self.names.index(column)), problem)
        cleaned["variable_names"] = dict(pairs)
        return cleaned

    def column_fields(self) -> list:
        return [self[name] for name in self.FIELDS]

    def list_fields(self) -> list:
        return [self["name"], self["default_country"], self["list_tags"]]

    def variable_rows(self, preview_rows: list[list[str]]) -> list[dict]:
        """Per column: its checkbox, its variable-name field and a value from the file's first rows."""
        boxes = list(self["variables"])
        rows = []
        for index, column in enumerate(self.names):
            sample = next((row[index] for row in preview_rows if index < len(row) and row[index].strip()), "")
            rows.append({"column": column, "box": boxes[index], "name": self[self.name_field(index)], "sample": sample})
        return rows

    def mapping(self) -> dict:
        return {
            **{f: self.cleaned_data.get(f) or "" for f in self.FIELDS},
            "variables": self.cleaned_data["variables"],
            "variable_names": self.cleaned_data["variable_names"],
        }


class ContactListForm(forms.Form):
    name = forms.CharField(max_length=120, label="List name")
    tags = forms.CharField(label="Tags", required=False, max_length=400, help_text="Comma-separated.")


class ContactForm(forms.Form):
    phone_number = forms.CharField(max_length=40, label="Phone number")
    first_name = forms.CharField(max_length=100, required=False, label="First name")
    last_name = forms.CharField(max_length=100, required=False, label="Last name")
    time_zone = forms.CharField(
        max_length=64, required=False, label="Time zone", help_text="Such as America/New_York; empty: from the number."
    )
    tags = forms.CharField(max_length=400, required=False, label="Tags", help_text="Comma-separated.")
    variables = forms.CharField(
        required=False,
        label="Variables",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line, as “company: Acme”.",
    )

    def clean_variables(self):
        try:
            return contact_rows.parse_variables(self.cleaned_data["variables"])
        except ValueError as exc:
            raise forms.ValidationError(f"Variables: {exc}.") from None


class DncImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file of numbers",
        help_text=f"A 'phone' column (or numbers in the first column), up to {donotcall.MAX_DNC_IMPORT_LINES:,} lines.",
    )


class ConsentForm(forms.Form):
    consent = forms.BooleanField(
        label=CONSENT_LABEL,
        error_messages={"required": "Tick the box to confirm that you have consent to call these people."},
    )
