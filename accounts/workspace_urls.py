from django.urls import path

from . import workspace_views as views

urlpatterns = [
    path("switch/", views.workspace_switch, name="workspace_switch"),
    path("new/", views.workspace_new, name="workspace_create"),
    path("members/", views.workspace_members, name="workspace_members"),
    path("members/invite/", views.workspace_invite, name="workspace_invite"),
    path("members/invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("members/<int:pk>/role/", views.member_role, name="member_role"),
    path("members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("leave/", views.workspace_leave, name="workspace_leave"),
    path("settings/", views.workspace_settings, name="workspace_settings"),
    path("close/", views.workspace_close, name="workspace_close"),
    path("export.zip", views.workspace_export, name="workspace_export"),
    path("activity/", views.workspace_activity, name="workspace_activity"),
]
