from django.urls import path

from . import views

urlpatterns = [
    path("", views.account_settings, name="account_settings"),
    path("data.zip", views.account_data_export, name="account_data_export"),
    path("delete/", views.account_delete, name="account_delete"),
    path("suspended/", views.account_suspended, name="account_suspended"),
    path("sms-delivery/", views.sms_delivery_status, name="sms_delivery_status"),
]
