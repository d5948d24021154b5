"""allauth's forms where Clozit needs more of them (ACCOUNT_FORMS).

Kept apart from accounts.forms: allauth's forms module imports that one (its sign-up form is
built on ACCOUNT_SIGNUP_FORM_CLASS), so it cannot import allauth's forms in turn.
"""

import logging
import secrets

from allauth.account import forms as allauth_forms
from django import forms
from django.db import transaction

logger = logging.getLogger(__name__)


class _Rehearsal(Exception):
    """Rolls the rehearsed account back."""


class SignupForm(allauth_forms.SignupForm):
    """allauth's sign-up form, whose answer takes as long for an email that already has an
    account as for a new one (a mobile verified by another account does not stop a sign-up at
    all: see `_clean_phone`).

    With enumeration prevention, allauth answers a taken email or number with the same page as a
    new sign-up, but skipped the work: no password hashing (the slowest step by far), no account
    written. A stopwatch told the two apart (about 15 ms against 280 ms). So the taken path
    rehearses the new account: the same `save()` (password hashed, user, email address, starter
    credits, consent) under a throwaway email, inside a transaction that is rolled back. The work
    stays equal as sign-up changes, because it is the same code. The codes that follow are texted
    after the response on both paths (accounts/sms/delivery.py).
    """

    def _clean_phone(self) -> None:
        """A mobile verified by another account does not stop the sign-up (allauth would drop
        it silently, as for a taken email): the account is made with the number unverified, no
        code is texted to it (AccountAdapter.send_verification_code_sms), and the code page says
        what to do: log in, or change the number there (accounts.views.SignupMobileView). The
        database still lets only one account verify a number."""

    def try_save(self, request):
        if self.account_already_exists:
            self._rehearse_new_account(request)
        return super().try_save(request)

    def _rehearse_new_account(self, request) -> None:
        data = self.cleaned_data
        email = data.get("email")
        data["email"] = f"rehearsal-{secrets.token_hex(8)}@example.invalid"
        self.account_already_exists = False
        try:
            with transaction.atomic():
                self.save(request)
                raise _Rehearsal
        except _Rehearsal:
            pass
        except Exception:
            # Whatever went wrong, the visitor must get the page a new sign-up gets.
            logger.exception("the rehearsal of a sign-up failed")
        finally:
            data["email"] = email
            self.account_already_exists = True


class LoginForm(allauth_forms.LoginForm):
    """allauth's login form with labels that say what to type and what the box does."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "Email or mobile number"
        self.fields["login"].widget.attrs["placeholder"] = "you@company.com or +1 415 555 0123"
        if "remember" in self.fields:
            self.fields["remember"].label = "Stay logged in after closing the browser"


class RequestLoginCodeForm(allauth_forms.RequestLoginCodeForm):
    """allauth's "send me a login code" form, which accepts neither an email nor a mobile (both
    are optional when both log in) and then fails with a server error: it asks for one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._user = None
        if "phone" in self.fields:
            self.fields["phone"].help_text = "With its country code. One of the two is enough."

    def clean(self):
        cleaned_data = super().clean()
        if not self.errors and not cleaned_data.get("email") and not cleaned_data.get("phone"):
            raise forms.ValidationError("Enter your email address or your mobile number.")
        return cleaned_data
