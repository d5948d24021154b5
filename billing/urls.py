from django.urls import path

from . import views

urlpatterns = [
    path("", views.credits, name="credits"),
    path("export.csv", views.credits_export, name="credits_export"),
    path("balance/", views.balance_fragment, name="credits_balance"),
    path("buy/", views.buy, name="credits_buy"),
    path("buy/<int:package_id>/test-checkout/", views.buy_test_checkout, name="credits_test_checkout"),
    path("purchases/<str:transaction_id>/", views.purchase_status, name="purchase_status"),
    path("purchases/<str:transaction_id>/refund/", views.refund_request, name="refund_request"),
]
