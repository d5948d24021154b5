import zoneinfo

import phonenumbers
from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.safestring import mark_safe

from accounts.workspaces import personal_workspace_follow
from policies.selectors import current_versions
from policies.services import policy_accept

from .models import User


class SignupExtraForm(forms.Form):
    """Fields allauth's sign-up form gains (ACCOUNT_SIGNUP_FORM_CLASS)."""

    # allauth's sign-up form inherits this order: consent boxes last, next to the button.
    field_order = [
        "first_name",
        "last_name",
        "company_name",
        "email",
        "phone",
        "password1",
        "password2",
        "is_adult",
        "accept_terms",
    ]

    first_name = forms.CharField(max_length=150, label="First name")
    last_name = forms.CharField(max_length=150, label="Last name")
    company_name = forms.CharField(max_length=200, label="Company")
    is_adult = forms.BooleanField(label="I am 18 or older", error_messages={"required": "You must be 18 or older."})
    accept_terms = forms.BooleanField(
        label=mark_safe(
            'I accept the <a href="/terms/" target="_blank">terms</a> and the '
            '<a href="/privacy/" target="_blank">privacy policy</a>'
        ),
        error_messages={"required": "Please accept the terms to create an account."},
    )

    def __init__(self, *args, **kwargs):
        # No "I am 18 or older:" colons after the checkbox labels of the whole sign-up form.
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def signup(self, request, user):
        now = timezone.now()
        user.first_name = self.cleaned_data["first_name"]
        user.last_name = self.cleaned_data["last_name"]
        user.company_name = self.cleaned_data["company_name"]
        user.adult_confirmed_at = now
        user.terms_accepted_at = now
        user.terms_version = settings.TERMS_VERSION
        user.save(
            update_fields=[
                "first_name",
                "last_name",
                "company_name",
                "adult_confirmed_at",
                "terms_accepted_at",
                "terms_version",
            ]
        )
        personal_workspace_follow(user)
        # The published policy versions in effect, accepted with the box above: not asked again.
        policy_accept(user=user, versions=current_versions().values(), request=request)


def country_choices() -> list[tuple[str, str]]:
    return [
        (region, f"{region} (+{phonenumbers.country_code_for_region(region)})")
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        if region != "001"
    ]


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


class AccountSettingsForm(forms.ModelForm):
    default_country = forms.ChoiceField(
        choices=country_choices,
        label="Default country for contact numbers",
        help_text="Numbers in your CSV files written without a + country code are read as numbers of this country.",
    )
    time_zone = forms.ChoiceField(choices=time_zone_choices, label="Time zone", help_text="Times are shown in it.")

    class Meta:
        model = User
        fields = ["first_name", "last_name", "company_name", "time_zone", "default_country"]


class DeleteAccountForm(forms.Form):
    confirm_email = forms.CharField(
        label="Type your email address to confirm", widget=forms.TextInput(attrs={"autocomplete": "off"})
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_confirm_email(self):
        value = self.cleaned_data["confirm_email"].strip().lower()
        if value != self.user.email.lower():
            raise forms.ValidationError("That is not your account's email address.")
        return value
