"""Calls, the AI assistant and the built-in reports."""

from django.urls import path

from . import assistant_views, views

urlpatterns = [
    path("calls/", views.call_list, name="call_list"),
    path("calls/<int:pk>/", views.call_detail, name="call_detail"),
    path("calls/<int:pk>/recording/", views.call_recording, name="call_recording"),
    # The AI assistant and the built-in reports (not under campaigns/<pk>/: campaign_action's slug would catch them).
    path("assistant/calls/<int:pk>/", assistant_views.call_assistant, name="call_assistant"),
    path("assistant/campaigns/<int:pk>/", assistant_views.campaign_assistant, name="campaign_assistant"),
    path("assistant/questions/<int:pk>/", assistant_views.assistant_question, name="assistant_question"),
    path("reports/campaigns/<int:pk>/", assistant_views.campaign_report, name="campaign_report"),
]
