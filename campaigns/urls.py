from django.urls import path

from . import views

urlpatterns = [
    path("agents/", views.agent_list, name="agent_list"),
    path("agents/new/", views.agent_edit, name="agent_create"),
    path("agents/<int:pk>/", views.agent_edit, name="agent_edit"),
    path("agents/<int:pk>/delete/", views.agent_delete, name="agent_delete"),
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
]
