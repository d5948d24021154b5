from django.urls import path

from . import analytics_views, assistant_views, knowledge_views, playground_views, views

urlpatterns = [
    path("agents/", views.agent_list, name="agent_list"),
    path("agents/new/", views.agent_edit, name="agent_create"),
    path("agents/<int:pk>/", views.agent_edit, name="agent_edit"),
    path("agents/<int:pk>/delete/", views.agent_delete, name="agent_delete"),
    path("agents/<int:pk>/knowledge/", knowledge_views.knowledge_page, name="knowledge"),
    path("agents/<int:pk>/knowledge/search/", knowledge_views.knowledge_search, name="knowledge_search"),
    path("agents/<int:pk>/knowledge/text/", knowledge_views.knowledge_text_add, name="knowledge_text_add"),
    path("agents/<int:pk>/knowledge/upload/", knowledge_views.knowledge_file_upload, name="knowledge_file_upload"),
    path("agents/<int:pk>/knowledge/<int:source_pk>/", knowledge_views.knowledge_source, name="knowledge_source"),
    path(
        "agents/<int:pk>/knowledge/<int:source_pk>/delete/",
        knowledge_views.knowledge_source_delete,
        name="knowledge_source_delete",
    ),
    path("agents/<int:pk>/playground/", playground_views.agent_playground, name="agent_playground"),
    path("agents/<int:pk>/playground/start/", playground_views.playground_start, name="playground_start"),
    path("agents/<int:pk>/playground/<int:session_pk>/say/", playground_views.playground_say, name="playground_say"),
    path(
        "agents/<int:pk>/playground/<int:session_pk>/restart/",
        playground_views.playground_restart,
        name="playground_restart",
    ),
    path("contacts/", views.contactlist_list, name="contactlist_list"),
    path("contacts/upload/", views.contactlist_upload, name="contactlist_upload"),
    path("contacts/<int:pk>/", views.contactlist_detail, name="contactlist_detail"),
    path("do-not-call/", views.dnc_list, name="dnc_list"),
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/<slug:action>/", views.campaign_action, name="campaign_action"),
    path("calls/", views.call_list, name="call_list"),
    path("calls/<int:pk>/", views.call_detail, name="call_detail"),
    path("calls/<int:pk>/recording/", views.call_recording, name="call_recording"),
    # The AI assistant and the built-in reports (not under campaigns/<pk>/: campaign_action's slug would catch them).
    path("assistant/calls/<int:pk>/", assistant_views.call_assistant, name="call_assistant"),
    path("assistant/campaigns/<int:pk>/", assistant_views.campaign_assistant, name="campaign_assistant"),
    path("assistant/questions/<int:pk>/", assistant_views.assistant_question, name="assistant_question"),
    path("reports/campaigns/<int:pk>/", assistant_views.campaign_report, name="campaign_report"),
    path("analytics/", analytics_views.analytics_page, name="analytics"),
    path("analytics/campaigns/<int:pk>/", analytics_views.campaign_stats, name="campaign_stats"),
    path("analytics/calls.csv", analytics_views.calls_export, name="calls_export"),
]
