"""Login stages where Clozit differs from allauth's defaults."""

from allauth.account.adapter import get_adapter
from allauth.account.internal.flows.login_by_code import LoginCodeVerificationProcess
from allauth.account.stages import LoginByCodeStage, PhoneVerificationStage
from allauth.core.exceptions import RateLimited
from allauth.core.internal.httpkit import headed_redirect_response
from django.contrib import messages


class MobileLoginCodeStage(LoginByCodeStage):
    """The second login step: a code texted to the account's verified mobile.

    allauth sends the code to the email address when the account has one; Clozit's second
    factor is the phone. An account with no verified mobile yet skips this stage: the phone
    verification that follows proves possession of the number instead.
    """

    def handle(self):
        did_initiate = bool(self.state)
        required = get_adapter().is_login_by_code_required(self.login)
        if not did_initiate and not required:
            return None, True
        if self._is_trusted():
            return None, True
        if not did_initiate:
            user = self.login.user
            if user is None or self.login.signup:
                return None, True
            if not user.mobile_number:
                return super().handle()  # no mobile at all: the code goes by email
            if not user.has_verified_mobile:
                return None, True  # the phone verification stage that follows texts a code
            LoginCodeVerificationProcess.initiate(
                request=self.request, user=user, phone=user.mobile_number, email=None, stage=self
            )
        self.state["login_by_code_required"] = True
        return headed_redirect_response("account_confirm_login_code"), True


class MobileVerificationStage(PhoneVerificationStage):
    """allauth aborts the login of an account that has no phone at all (a social sign-up);
    Clozit lets it in, and accounts.middleware sends it to add and verify a mobile first."""

    def handle(self):
        user = self.login.user
        if user is not None and not user.mobile_number:
            return None, True
        try:
            return super().handle()
        except RateLimited:
            # Too many codes to this number or from this address just now (a second sign-up
            # with the number, a quick retry after a dead code): nothing was sent. Show the
            # code page with the reason; "Send a new code" works once the limit allows.
            adapter = get_adapter()
            adapter.add_message(self.request, messages.ERROR, message=adapter.error_messages["rate_limited"])
            return headed_redirect_response("account_verify_phone"), True
