"""allauth's forms where Clozit needs more of them (ACCOUNT_FORMS).

Kept apart from accounts.forms: allauth's forms module imports that one (its sign-up form is
built on ACCOUNT_SIGNUP_FORM_CLASS), so it cannot import allauth's forms in turn.
"""

from allauth.account import forms as allauth_forms
from django import forms


class RequestLoginCodeForm(allauth_forms.RequestLoginCodeForm):
    """allauth's "send me a login code" form, which accepts neither an email nor a mobile (both
    are optional when both log in) and then fails with a server error: it asks for one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._user = None

    def clean(self):
        cleaned_data = super().clean()
        if not self.errors and not cleaned_data.get("email") and not cleaned_data.get("phone"):
            raise forms.ValidationError("Enter your email address or your mobile number.")
        return cleaned_data
