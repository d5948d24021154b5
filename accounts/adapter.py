"""allauth's seams into Clozit: accounts created, mobile numbers stored and verified, codes sent.

allauth's phone support is five adapter methods (set_phone, get_phone, set_phone_verified,
get_user_by_phone, send_verification_code_sms); allauth has no phone model, so the number lives
on the user, in E.164, verified once `mobile_verified_at` is set.
"""

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context, ratelimit
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from django import forms
from django.http import Http404
from django.utils import timezone

from . import security, services
from .mobile import normalise_mobile
from .models import User
from .sms import get_sms_sender
from .sms.delivery import text_after_response

logger = logging.getLogger(__name__)

CODE_SENT_MESSAGES = {"account/messages/login_code_sent.txt", "account/messages/phone_verification_sent.txt"}


class MobileNumberField(forms.CharField):
    """allauth's phone input, validated by phonenumbers and cleaned to E.164."""

    def __init__(self, *args, **kwargs):
        kwargs["label"] = "Mobile number"
        kwargs.setdefault("help_text", "We text you a 6-digit code to confirm it. Include the country code.")
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "placeholder": "+1 415 555 0123"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        return normalise_mobile(value) if value else value


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            services.account_created(user=user)
        return user

    def get_login_stages(self):
        # Our second step sends the login code to the verified mobile, not the email address.
        replaced = {
            "allauth.account.stages.LoginByCodeStage": "accounts.stages.MobileLoginCodeStage",
            "allauth.account.stages.PhoneVerificationStage": "accounts.stages.MobileVerificationStage",
        }
        return [replaced.get(path, path) for path in super().get_login_stages()]

    # --- phone support -------------------------------------------------------------
    def phone_form_field(self, **kwargs):
        return MobileNumberField(**kwargs)

    def set_phone(self, user, phone: str, verified: bool) -> None:
        user.mobile_number = phone
        user.mobile_verified_at = timezone.now() if verified else None
        user.save(update_fields=["mobile_number", "mobile_verified_at"])

    def get_phone(self, user):
        if not user.mobile_number:
            return None
        return user.mobile_number, user.mobile_verified_at is not None

    def set_phone_verified(self, user, phone: str) -> None:
        # A changed number takes effect only here, once its code has been entered.
        services.mobile_verified(user=user, phone=phone)
        get_sms_sender().mark_verified(phone=phone)
        request = context.request
        if request is not None and request.user.is_authenticated:  # a change, not the sign-up's first number
            security.mobile_changed_record(user=user, phone=phone, request=request)

    def get_user_by_phone(self, phone: str):
        # allauth passes the login form's text as typed ("+1 415 555 0123"); numbers are stored in E.164.
        try:
            phone = normalise_mobile(phone)
        except forms.ValidationError:
            return None
        # Inactive (closed, terminated) accounts still own their number until it is purged: the
        # database's uniqueness rule counts them too.
        return User.objects.filter(mobile_number=phone, mobile_verified_at__isnull=False).first()

    def send_verification_code_sms(self, user, phone: str, code: str, **kwargs) -> None:
        # Every path that might text a code ends in text_after_response, with the code or with
        # None, after the same lookup: nothing here may take longer for a number with an account
        # (accounts/sms/delivery.py says why).
        request = context.request
        holder = self.get_user_by_phone(phone)
        if not user.is_active:
            code = None  # closed or terminated: no codes, and nothing said (no enumeration)
        elif holder is not None and holder.pk != user.pk:
            # Verified on another account (a change of mobile to someone else's number): its
            # code could never be accepted, so text nothing and say nothing (no enumeration).
            logger.info("code not sent: the number is verified on another account")
            code = None
        elif not ratelimit.consume(request, action="sms_per_account", key=str(user.pk)):
            request._clozit_sms_not_sent = True
            self.add_message(request, 40, "account/messages/sms_limit.txt")
            return
        text_after_response(request, phone=phone, code=code)
        # A sign-in code (not a sign-up's or a new number's: those have nothing to log in to yet).
        signing_in = user.has_verified_mobile and user.mobile_number == phone and not request.user.is_authenticated
        if code is not None and signing_in:
            security.code_sent_record(user=user, phone=phone, request=request)

    def send_mail(self, template_prefix, email, mail_context):
        # An account without a mobile gets its sign-in code by email.
        if template_prefix == "account/email/login_code":
            user = User.objects.filter(email__iexact=email).first()
            if user is not None:
                security.code_sent_record(user=user, email=email, request=mail_context.get("request"))
        super().send_mail(template_prefix, email, mail_context)

    def _text_nothing(self, phone: str) -> None:
        """What sending a code costs, without a code: the owner lookup and the delivery ticket."""
        self.get_user_by_phone(phone)
        text_after_response(context.request, phone=phone, code=None)

    def send_account_already_exists_sms(self, phone: str) -> None:
        # Someone tried to sign up with a number that is already an account's: say nothing to
        # them (no enumeration) and send no code.
        logger.info("sign-up attempted with an already verified number")
        self._text_nothing(phone)

    def send_unknown_account_sms(self, phone: str, **kwargs) -> None:
        # A login code asked for a number without an account: nothing to send, and nothing said.
        self._text_nothing(phone)

    def add_message(self, request, level, message_template=None, message_context=None, extra_tags="", message=None):
        # allauth says "A code has been sent" after asking us to send it; when we said why it
        # was not sent (the limit), that would contradict us.
        if message_template in CODE_SENT_MESSAGES and getattr(request, "_clozit_sms_not_sent", False):
            return
        super().add_message(request, level, message_template, message_context, extra_tags, message)

    def is_open_for_signup(self, request):
        return True

    def respond_user_inactive(self, request, user):
        # The right password for an account that cannot log in: say why (closed, and until when
        # it can be restored; or terminated), not allauth's bare "This account is inactive".
        request.session["clozit_inactive"] = services.account_inactive_notice(user=user)
        return super().respond_user_inactive(request, user)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Google and Facebook sign-ups go through allauth's social sign-up form (the mobile number,
    company and consent boxes are required fields, so it cannot sign them up silently), then the
    same phone verification step; AccountAdapter.save_user grants their credits."""

    def get_provider(self, request, provider, client_id=None):
        # Every installed provider has its URLs; one that is not configured is not found (allauth
        # does this for OpenID Connect and SAML, but lets Google's and Facebook's views fail with
        # a server error).
        try:
            return super().get_provider(request, provider, client_id=client_id)
        except SocialApp.DoesNotExist:
            raise Http404(f"{provider} sign-in is not configured.") from None
