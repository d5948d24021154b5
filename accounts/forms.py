from django import forms


class SignupExtraForm(forms.Form):
    """Fields allauth's sign-up form gains (ACCOUNT_SIGNUP_FORM_CLASS)."""

    company_name = forms.CharField(max_length=200, required=False, label="Company (optional)")

    def signup(self, request, user):
        user.company_name = self.cleaned_data.get("company_name", "")
        user.save(update_fields=["company_name"])
