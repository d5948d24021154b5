from django.urls import path

from . import webhooks

urlpatterns = [
    path("<slug:provider>/calls/<int:call_id>/answer/", webhooks.answer, name="telephony_answer"),
    path("<slug:provider>/calls/<int:call_id>/turn/<int:turn>/", webhooks.turn, name="telephony_turn"),
    path("<slug:provider>/calls/<int:call_id>/status/", webhooks.status, name="telephony_status"),
    path("<slug:provider>/calls/<int:call_id>/recording/", webhooks.recording, name="telephony_recording"),
]
