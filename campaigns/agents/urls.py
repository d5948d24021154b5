"""The agent builder, an agent's knowledge base and its playground."""

from django.urls import path

from . import knowledge_views, playground_views, views

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
        "agents/<int:pk>/playground/<int:session_pk>/talk/",
        playground_views.playground_talk_token,
        name="playground_talk_token",
    ),
    path(
        "agents/<int:pk>/playground/<int:session_pk>/restart/",
        playground_views.playground_restart,
        name="playground_restart",
    ),
]
