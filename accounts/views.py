from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import get_adapter
from allauth.account.internal.decorators import login_stage_required
from allauth.account.internal.flows.logout import logout as allauth_logout
from allauth.account.internal.flows.phone_verification import PhoneVerificationStageProcess
from allauth.account.stages import PhoneVerificationStage
from allauth.account.views import ConfirmEmailVerificationCodeView, _VerifyPhoneChangeView, _VerifyPhoneSignupView
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.ratelimit import RateLimited
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from . import members, roles, security, services
from .export import account_export
from .forms import AccountSettingsForm, DeleteAccountForm
from .models import User
from .sms.delivery import delivery_status


@login_required
def account_settings(request):
    form = AccountSettingsForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        if request.workspace.personal_for_id == user.pk and roles.allows(request.member.role, roles.Action.SETTINGS):
            # The personal workspace follows its account's company, country and time zone.
            members.workspace_update(
                by=request.member,
                company_name=user.company_name,
                default_country=user.default_country,
                time_zone=user.time_zone,
            )
        messages.success(request, "Settings saved.")
        return redirect("account_settings")
    context = _settings_context(request, form, DeleteAccountForm(user=request.user))
    return render(request, "accounts/settings.html", context)


def _settings_context(request, form, delete_form) -> dict:
    return {
        "form": form,
        "delete_form": delete_form,
        "purge_after_days": settings.ACCOUNT_PURGE_AFTER_DAYS,
        "security_events": security.security_events_recent(user=request.user),
        "user_sessions": security.sessions_of(user=request.user),
        "security_log_retention_days": settings.SECURITY_LOG_RETENTION_DAYS,
    }


@login_required
def security_activity(request):
    """The whole security log of the account, newest first, a page at a time."""
    events = Paginator(security.security_events_recent(user=request.user, limit=None), 50)
    page = events.get_page(request.GET.get("page"))
    context = {"page": page, "retention_days": settings.SECURITY_LOG_RETENTION_DAYS}
    return render(request, "accounts/security_activity.html", context)


@login_required
@require_POST
def security_sessions_end_others(request):
    ended = security.sessions_end_others(request=request)
    messages.success(request, f"Signed out {ended} other session{'s' if ended != 1 else ''}.")
    return redirect(reverse("account_settings") + "#security")


@login_required
@require_POST
def security_not_me(request):
    user = security.security_not_me(request=request)
    return render(request, "accounts/security_not_me.html", {"email": user.email})


@login_required
def account_data_export(request):
    own = roles.allows(request.member.role, roles.Action.OWN)
    data = account_export(user=request.user, workspace=request.workspace if own else None)
    detail = f"with the workspace {request.workspace.name}" if own else "personal data only"
    security.security_event_record(user=request.user, kind=security.Kind.DATA_EXPORTED, request=request, detail=detail)
    response = HttpResponse(data, content_type="application/zip")
    stamp = timezone.now().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="clozit-data-{stamp}.zip"'
    return response


@login_required
@require_POST
def account_delete(request):
    form = DeleteAccountForm(request.POST, user=request.user)
    if not form.is_valid():
        context = _settings_context(request, AccountSettingsForm(instance=request.user), form)
        return render(request, "accounts/settings.html", context, status=400)
    services.account_delete(user=request.user)
    security.security_event_record(user=request.user, kind=security.Kind.ACCOUNT_CLOSED, request=request)
    allauth_logout(request)
    messages.success(request, "Your account is closed. We have emailed you a confirmation.")
    return redirect("landing")


@login_required
def account_suspended(request):
    return render(request, "accounts/suspended.html")


def sms_delivery_status(request):
    """Whether the code this browser asked for was texted: polled by the code pages (htmx) while
    the provider has not answered; the failure message once it refused."""
    return render(request, "accounts/fragment_sms_delivery.html", {"sms_delivery": delivery_status(request)})


# --- The sign-up's mobile code page -------------------------------------------------------------
# allauth's own view and process, with one difference: the number can be changed on every
# sign-up's code page. allauth offers the change only when an account stands behind the sign-up,
# which would tell whether the email address already has one.


class SignupMobileProcess(PhoneVerificationStageProcess):
    @property
    def can_change(self) -> bool:
        return not self.is_change_quota_reached(allauth_settings.PHONE_VERIFICATION_MAX_CHANGE_COUNT)

    def change_to(self, phone: str, account_already_exists: bool) -> None:
        """Move the code to `phone`. A sign-up without an account behind it (its email has one)
        texts nothing, as allauth does for it, and neither does a number another account has
        verified; in every case the page shows the new number."""
        user = self.user
        pretend = account_already_exists or user is None
        self.state["account_already_exists"] = pretend
        self.record_change(phone=phone)
        if pretend:
            # The same write as a real change, matching no row: which one ran must not show in
            # the time the answer takes.
            User.objects.filter(pk__isnull=True).update(mobile_number=phone, mobile_verified_at=None)
        else:
            get_adapter().set_phone(user, phone, False)
        self.send(skip_enumeration_sms=False)
        self.persist()


@method_decorator(
    login_stage_required(stage=PhoneVerificationStage.key, redirect_urlname="account_login"), name="dispatch"
)
class SignupMobileView(_VerifyPhoneSignupView):
    def dispatch(self, request, *args, **kwargs):
        self.stage = request._login_stage
        self.process = SignupMobileProcess(self.stage).abort_if_invalid() if self.stage.state else None
        if not self.process:
            return self.stage.abort()
        # allauth's dispatch would resume its own process: go straight to the form handling.
        return super(_VerifyPhoneSignupView, self).dispatch(request, *args, **kwargs)

    def _change_form_valid(self, form):
        try:
            return super()._change_form_valid(form)
        except RateLimited:
            adapter = get_adapter()
            adapter.add_message(self.request, messages.ERROR, message=adapter.error_messages["rate_limited"])
            return redirect("account_verify_phone")


def verify_mobile(request):
    """allauth's `account_verify_phone`: a signed-in account changing its mobile gets allauth's
    view; a sign-up gets SignupMobileView."""
    if request.user.is_authenticated:
        return _VerifyPhoneChangeView.as_view()(request)
    return SignupMobileView.as_view()(request)


class EmailCodeView(ConfirmEmailVerificationCodeView):
    """allauth's email code page, where "Send a new code" asked again too soon (one email per
    address per 10 seconds) says to wait instead of answering with a bare 429 page; the code
    already sent stays valid."""

    def _resend_form_valid(self, form):
        try:
            return super()._resend_form_valid(form)
        except ImmediateHttpResponse:
            messages.error(self.request, "A code was emailed a moment ago. Wait a few seconds, then ask again.")
            return redirect("account_email_verification_sent")


def email_code(request):
    """allauth's `account_email_verification_sent` (email verification is by code)."""
    return EmailCodeView.as_view()(request)
