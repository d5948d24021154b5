from django.urls import path

from . import views

urlpatterns = [
    path("", views.who_called, name="who_called"),
    path("act/", views.who_called_act, name="who_called_act"),
]
