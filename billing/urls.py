from django.urls import path

from . import views

urlpatterns = [
    path("", views.credits, name="credits"),
    path("export.csv", views.credits_export, name="credits_export"),
    path("balance/", views.balance_fragment, name="credits_balance"),
    path("buy/", views.buy, name="credits_buy"),
    path("buy/<int:package_id>/test-checkout/", views.buy_test_checkout, name="credits_test_checkout"),
    path("plans/<int:plan_id>/test-checkout/", views.subscribe_test_checkout, name="credits_test_subscribe"),
    path("subscriptions/<int:pk>/cancel/", views.subscription_cancel_view, name="subscription_cancel"),
    path("purchases/<str:transaction_id>/", views.purchase_status, name="purchase_status"),
    path("purchases/<str:transaction_id>/invoice/", views.purchase_invoice, name="purchase_invoice"),
    path("purchases/<str:transaction_id>/refund/", views.refund_request, name="refund_request"),
    path("calls/<int:call_id>/dispute/", views.call_dispute, name="call_dispute"),
    path("low-balance/", views.low_balance_threshold, name="low_balance_threshold"),
]
