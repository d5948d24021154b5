"""Recorded calls: the callee is told, the carrier's recording callback (signed, possibly twice)
stores a reference, and only the call's owner can play it, through our own view."""

from decimal import Decimal

import pytest
from django.urls import reverse
from twilio.request_validator import RequestValidator

from accounts.models import User
from billing import ledger
from campaigns.lifecycle import services
from campaigns.models import Call
from campaigns.tests.factories import make_campaign
from telephony.providers.base import OutboundCall
from telephony.providers.twilio import TwilioProvider
from telephony.tests.fake_twilio import fake_twilio  # noqa: F401 - fixture

INTERESTED = "+12025550101"


@pytest.mark.django_db(transaction=True)
def test_a_recorded_simulated_call_is_announced_stored_and_played_to_its_owner_only(
    live_server, settings, client, user, run_jobs
):
    settings.PUBLIC_BASE_URL = live_server.url
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(500), kind="staff_adjustment", reference="topup"
    )
    campaign = make_campaign(user, [INTERESTED], record_calls=True)
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    call = Call.objects.get(campaign=campaign)
    assert call.turns.first().text.startswith("This call is recorded.")
    assert call.recording_id.startswith("RE") and call.recording_seconds == call.duration_seconds > 0
    # The carrier's recording callback came once per call even though final events came twice.
    client.force_login(user)
    audio = client.get(reverse("call_recording", args=[call.pk]))
    assert audio.status_code == 200 and audio["Content-Type"] == "audio/wav" and audio.content[:4] == b"RIFF"
    assert "private" in audio["Cache-Control"]
    # The simulated carrier keeps no audio (the view plays a tone): the call page says so, no empty player.
    page = client.get(reverse("call_detail", args=[call.pk])).content.decode()
    assert "No recording: simulated calls have no audio." in page and "<audio" not in page

    stranger = User.objects.create_user(
        email="stranger@example.com", password="x", mobile_number="+14155550111", mobile_verified_at=user.date_joined
    )
    client.force_login(stranger)
    assert client.get(reverse("call_recording", args=[call.pk])).status_code == 404
    client.logout()
    assert client.get(reverse("call_recording", args=[call.pk])).status_code == 302


@pytest.mark.django_db
def test_recording_callbacks_are_verified_and_applied_once(client, user, settings):
    campaign = make_campaign(user, [INTERESTED], record_calls=True)
    call = Call.objects.create(
        workspace=user.personal_workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number=INTERESTED,
        from_number="+12025550100",
        provider="simulated",
        status="completed",
    )
    path = reverse("telephony_recording", kwargs={"provider": "simulated", "call_id": call.pk})
    params = {
        "CallSid": "SM1",
        "RecordingSid": "RE1",
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
        "RecordingUrl": "simulated://RE1?seconds=12",
    }
    forged = client.post(path, params, HTTP_X_TWILIO_SIGNATURE="forged")
    assert forged.status_code == 403
    call.refresh_from_db()
    assert call.recording_id == ""
    signature = RequestValidator(settings.SIMULATED_SIGNING_SECRET).compute_signature(
        settings.PUBLIC_BASE_URL + path, params
    )
    for _ in range(2):
        assert client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code in (200, 204)
    call.refresh_from_db()
    assert (call.recording_id, call.recording_seconds) == ("RE1", 12)


def test_twilio_is_asked_to_record_and_its_audio_fetched_with_the_account_credentials(fake_twilio):  # noqa: F811
    fake_twilio.place_calls = False
    request = OutboundCall(
        call_id=1,
        to=INTERESTED,
        from_="+12025550100",
        time_limit_seconds=60,
        answer_url="https://x/a",
        status_url="https://x/s",
        record=True,
        recording_url="https://x/r",
    )
    TwilioProvider().place_call(request)
    (sent,) = fake_twilio.calls_created()
    assert (sent["Record"], sent["RecordingStatusCallback"], sent["RecordingStatusCallbackEvent"]) == (
        "true",
        "https://x/r",
        "completed",
    )
    audio, content_type = TwilioProvider().fetch_recording(f"{fake_twilio.base_url}/recordings/RE9")
    assert content_type == "audio/mpeg" and audio == b"ID3fake-mp3"
