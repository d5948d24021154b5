from django.urls import path

from . import telnyx_webhook, webhooks

urlpatterns = [
    # Telnyx sends every event of every call to one URL (the call is named inside the event).
    path("telnyx/webhook/", telnyx_webhook.webhook, name="telnyx_webhook"),
    path("<slug:provider>/inbound/", webhooks.inbound, name="telephony_inbound"),
    path("<slug:provider>/inbound/status/", webhooks.inbound_status, name="telephony_inbound_status"),
    path("<slug:provider>/calls/<int:call_id>/answer/", webhooks.answer, name="telephony_answer"),
    path("<slug:provider>/calls/<int:call_id>/turn/<int:turn>/", webhooks.turn, name="telephony_turn"),
    path("<slug:provider>/calls/<int:call_id>/relay-ended/", webhooks.relay_ended, name="telephony_relay_ended"),
    path("<slug:provider>/calls/<int:call_id>/status/", webhooks.status, name="telephony_status"),
    path("<slug:provider>/calls/<int:call_id>/amd/", webhooks.machine_detection, name="telephony_amd"),
    path("<slug:provider>/calls/<int:call_id>/recording/", webhooks.recording, name="telephony_recording"),
]
