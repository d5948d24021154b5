"""The app's pages, grouped by area; each area's urlconf keeps its routes' names and paths."""

from django.urls import include, path

urlpatterns = [
    path("", include("campaigns.agents.urls")),
    path("", include("campaigns.contacts.urls")),
    path("", include("campaigns.lifecycle.urls")),
    path("", include("campaigns.calls.urls")),
    path("", include("campaigns.analytics.urls")),
]
