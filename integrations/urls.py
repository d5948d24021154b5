from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.integrations_home, name="integrations"),
    path("api-keys/", include("integrations.api.urls")),
    path("webhooks/", include("integrations.webhooks.urls")),
    path("hubspot/", include("integrations.hubspot.urls")),
]
