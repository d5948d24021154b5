from django.urls import path

from . import views

urlpatterns = [
    path("", views.webhook_list, name="webhook_list"),
    path("new/", views.webhook_create, name="webhook_create"),
    path("<int:pk>/", views.webhook_detail, name="webhook_detail"),
    path("<int:pk>/edit/", views.webhook_edit, name="webhook_edit"),
    path("<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
    path("<int:pk>/rotate/", views.webhook_rotate, name="webhook_rotate"),
    path("<int:pk>/enable/", views.webhook_enable, name="webhook_enable"),
    path("<int:pk>/test/", views.webhook_test, name="webhook_test"),
    path("<int:pk>/deliveries/<int:delivery_pk>/resend/", views.webhook_resend, name="webhook_resend"),
]
