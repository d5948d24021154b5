"""The analytics page, a campaign's live numbers and the calls CSV."""

from django.urls import path

from . import views

urlpatterns = [
    path("analytics/", views.analytics_page, name="analytics"),
    path("analytics/campaigns/<int:pk>/", views.campaign_stats, name="campaign_stats"),
    path("analytics/calls.csv", views.calls_export, name="calls_export"),
]
