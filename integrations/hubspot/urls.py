from django.urls import path

from . import views

urlpatterns = [
    path("", views.hubspot_home, name="hubspot_home"),
    path("connect/", views.hubspot_connect, name="hubspot_connect"),
    path("disconnect/", views.hubspot_disconnect, name="hubspot_disconnect"),
    path("settings/", views.hubspot_settings, name="hubspot_settings"),
    path("push-backs/retry/", views.hubspot_push_retry, name="hubspot_push_retry"),
    path("import/", views.hubspot_import, name="hubspot_import"),
]
