from django.urls import path

from . import views

urlpatterns = [
    path("", views.api_keys, name="api_keys"),
    path("new/", views.api_key_create_view, name="api_key_create"),
    path("<int:pk>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
]
