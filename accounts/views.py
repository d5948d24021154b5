from allauth.account.internal.flows.logout import logout as allauth_logout
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import services
from .export import account_export
from .forms import AccountSettingsForm, DeleteAccountForm
from .sms.delivery import delivery_status


@login_required
def account_settings(request):
    form = AccountSettingsForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Settings saved.")
        return redirect("account_settings")
    return render(
        request, "accounts/settings.html", {"form": form, "delete_form": DeleteAccountForm(user=request.user)}
    )


@login_required
def account_data_export(request):
    response = HttpResponse(account_export(user=request.user), content_type="application/zip")
    stamp = timezone.now().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="clozit-data-{stamp}.zip"'
    return response


@login_required
@require_POST
def account_delete(request):
    form = DeleteAccountForm(request.POST, user=request.user)
    if not form.is_valid():
        return render(
            request,
            "accounts/settings.html",
            {"form": AccountSettingsForm(instance=request.user), "delete_form": form},
            status=400,
        )
    services.account_delete(user=request.user)
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
