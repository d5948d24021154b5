from django.urls import path

from . import views

urlpatterns = [
    path("", views.account_settings, name="account_settings"),
    path("data.zip", views.account_data_export, name="account_data_export"),
    path("delete/", views.account_delete, name="account_delete"),
    path("suspended/", views.account_suspended, name="account_suspended"),
    path("security/", views.security_activity, name="security_activity"),
    path("security/sessions/end-others/", views.security_sessions_end_others, name="security_sessions_end_others"),
    path("security/not-me/", views.security_not_me, name="security_not_me"),
    path("sms-delivery/", views.sms_delivery_status, name="sms_delivery_status"),
]
