import phonenumbers
from django import forms

from .models import User


class SignupExtraForm(forms.Form):
    """Fields allauth's sign-up form gains (ACCOUNT_SIGNUP_FORM_CLASS)."""

    company_name = forms.CharField(max_length=200, required=False, label="Company (optional)")

    def signup(self, request, user):
        user.company_name = self.cleaned_data.get("company_name", "")
        user.save(update_fields=["company_name"])


def country_choices() -> list[tuple[str, str]]:
    return [
        (region, f"{region} (+{phonenumbers.country_code_for_region(region)})")
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        if region != "001"
    ]


class AccountSettingsForm(forms.ModelForm):
    default_country = forms.ChoiceField(
        choices=country_choices,
        label="Default country for contact numbers",
        help_text="Numbers in your CSV files written without a + country code are read as numbers of this country.",
    )

    class Meta:
        model = User
        fields = ["first_name", "last_name", "company_name", "default_country"]
