"""Campaigns: the list, the form, the page and its actions."""

from django.urls import path

from . import views

urlpatterns = [
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    # Before campaign_action: its <slug:action> would catch "preflight" and the others.
    path("campaigns/<int:pk>/preflight/", views.campaign_preflight, name="campaign_preflight"),
    path("campaigns/<int:pk>/edit/", views.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:pk>/duplicate/", views.campaign_duplicate, name="campaign_duplicate"),
    path("campaigns/<int:pk>/delete/", views.campaign_delete, name="campaign_delete"),
    path("campaigns/<int:pk>/schedule/", views.campaign_schedule, name="campaign_schedule"),
    path("campaigns/<int:pk>/<slug:action>/", views.campaign_action, name="campaign_action"),
]
