from django.urls import path

from . import views

urlpatterns = [
    path("", views.credits, name="credits"),
    path("balance/", views.balance_fragment, name="credits_balance"),
]
