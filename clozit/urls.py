from django.contrib import admin
from django.urls import include, path

from billing.paddle.webhooks import paddle_webhook

from . import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("terms/", views.policy, {"page": "terms"}, name="terms"),
    path("privacy/", views.policy, {"page": "privacy"}, name="privacy"),
    path("refunds/", views.policy, {"page": "refunds"}, name="refunds"),
    path("healthz", views.healthz, name="healthz"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("accounts/", include("allauth.urls")),
    path("settings/", include("accounts.urls")),
    path("credits/", include("billing.urls")),
    path("billing/paddle/webhook/", paddle_webhook, name="paddle_webhook"),
    path("telephony/", include("telephony.urls")),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("", include("campaigns.urls")),
]
