from django.urls import path

from . import views

urlpatterns = [
    path("accept/", views.policy_accept, name="policy_accept"),
    path("<str:policy>/<str:version>/", views.policy_version, name="policy_version"),
    path("<str:policy>/<str:version>/compare/", views.policy_compare, name="policy_compare"),
]
