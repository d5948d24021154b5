from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path, reverse

from accounts import views as account_views
from accounts import workspace_views
from billing.paddle.webhooks import paddle_webhook
from integrations.api.api import api

from . import views


def admin_login(request, extra_context=None):
    """Staff sign in through the same flow as everyone (password, then a one-time code), never
    through Django admin's password-only form."""
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"), login_url=reverse("account_login"))


admin.site.login = admin_login


def favicon(request):
    """Browsers ask for /favicon.ico on their own (for pages without an icon link, files, the
    admin's job pages): the site's icon."""
    return redirect(static("favicon.svg"))


urlpatterns = [
    path("", views.landing, name="landing"),
    path("terms/", views.policy, {"page": "terms"}, name="terms"),
    path("privacy/", views.policy, {"page": "privacy"}, name="privacy"),
    path("refunds/", views.policy, {"page": "refunds"}, name="refunds"),
    path("healthz", views.healthz, name="healthz"),
    path("policies/", include("policies.urls")),
    path("who-called/", include("safety.urls")),
    path("favicon.ico", favicon),
    path("dashboard/", views.dashboard, name="dashboard"),
    # allauth's mobile and email code pages, adapted (accounts/views.py): the sign-up's number can
    # be changed, and a new email code asked for too soon is a message, not an error page.
    path("accounts/phone/verify/", account_views.verify_mobile, name="account_verify_phone"),
    path("accounts/confirm-email/", account_views.email_code, name="account_email_verification_sent"),
    path("accounts/", include("allauth.urls")),
    path("settings/", include("accounts.urls")),
    path("workspace/", include("accounts.workspace_urls")),
    path("invitations/<str:token>/", workspace_views.invitation_accept, name="invitation_accept"),
    path("credits/", include("billing.urls")),
    path("notices/", include("notices.urls")),
    path("billing/paddle/webhook/", paddle_webhook, name="paddle_webhook"),
    path("telephony/", include("telephony.urls")),
    path("numbers/", include("telephony.app_urls")),
    path("api/v1/", api.urls),
    path("integrations/", include("integrations.urls")),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("", include("campaigns.urls")),
]
