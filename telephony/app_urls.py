"""The Phone numbers pages, mounted at /numbers/ (telephony/urls.py holds the provider webhooks)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.number_list, name="number_list"),
    path("buy/", views.number_buy, name="number_buy"),
    path("<int:pk>/agent/", views.number_agent, name="number_agent"),
    path("<int:pk>/release/", views.number_release, name="number_release"),
]
