from django.urls import path

from . import views

urlpatterns = [
    path("", views.notice_list, name="notice_list"),
    path("preferences/", views.notice_preferences, name="notice_preferences"),
]
