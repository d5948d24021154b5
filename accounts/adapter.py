"""allauth's seam into Clozit: what happens when an account is created.

Phone verification (allauth's set_phone/get_phone/... adapter methods) and social login
plug in here in their own issue.
"""

from allauth.account.adapter import DefaultAccountAdapter

from . import services


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            services.account_created(user=user)
        return user
