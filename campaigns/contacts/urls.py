"""Contact lists, their import and contacts; the do-not-call list."""

from django.urls import path

from . import views

urlpatterns = [
    path("contacts/", views.contactlist_list, name="contactlist_list"),
    path("contacts/upload/", views.contactlist_upload, name="contactlist_upload"),
    path("contacts/<int:pk>/", views.contactlist_detail, name="contactlist_detail"),
    path("contacts/<int:pk>/map/", views.contactlist_map, name="contactlist_map"),
    path("contacts/<int:pk>/import/", views.contactlist_import, name="contactlist_import"),
    path("contacts/<int:pk>/import/retry/", views.contactlist_import_retry, name="contactlist_import_retry"),
    path("contacts/<int:pk>/rejected.csv", views.contactlist_rejections, name="contactlist_rejections"),
    path("contacts/<int:pk>/consent/", views.contactlist_consent, name="contactlist_consent"),
    path("contacts/<int:pk>/edit/", views.contactlist_edit, name="contactlist_edit"),
    path("contacts/<int:pk>/delete/", views.contactlist_delete, name="contactlist_delete"),
    path("contacts/<int:pk>/export.csv", views.contactlist_export, name="contactlist_export"),
    path("contacts/<int:pk>/contacts/<int:contact_pk>/", views.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/contacts/<int:contact_pk>/delete/", views.contact_delete, name="contact_delete"),
    path("do-not-call/", views.dnc_list, name="dnc_list"),
    path("do-not-call/import/", views.dnc_import, name="dnc_import"),
    path("do-not-call/export.csv", views.dnc_export, name="dnc_export"),
    path("do-not-call/<int:pk>/remove/", views.dnc_remove, name="dnc_remove"),
]
