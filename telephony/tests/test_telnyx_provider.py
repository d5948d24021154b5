"""The Telnyx provider through the real `telnyx` SDK against a local fake Telnyx API: what each
command sends, how failures map to retry-or-give-up, and a campaign dialling through it."""

import socket
from decimal import Decimal

import pytest
import requests
from django.urls import reverse

from billing import ledger
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, CampaignContact
from campaigns.tests.factories import make_campaign
from telephony.providers import telnyx as telnyx_provider
from telephony.providers.base import OutboundCall, ProviderError
from telephony.providers.telnyx import TelnyxEvent, TelnyxProvider, telnyx_voice
from telephony.tests.fake_telnyx import (  # noqa: F401 - fixture
    API_KEY,
    AUDIO,
    CONNECTION_ID,
    INVALID_NUMBER,
    decode_state,
    error,
    fake_telnyx,
)

REQUEST = OutboundCall(
    call_id=7,
    to="+12025550101",
    from_="+12025550100",
    time_limit_seconds=90,
    answer_url="https://clozit.example/a",
    status_url="https://clozit.example/s",
)


def test_place_call_dials_our_connection_with_time_limit_detection_recording_and_our_id(fake_telnyx, settings):  # noqa: F811
    settings.PUBLIC_BASE_URL = "https://clozit.example"
    call_control_id = TelnyxProvider().place_call(OutboundCall(**{**REQUEST.__dict__, "record": True}))
    (sent,) = fake_telnyx.dials()
    assert call_control_id in fake_telnyx.calls
    assert (sent["connection_id"], sent["to"], sent["from"]) == (CONNECTION_ID, "+12025550101", "+12025550100")
    assert (sent["webhook_url"], sent["webhook_url_method"]) == (
        "https://clozit.example/telephony/telnyx/webhook/",
        "POST",
    )
    assert (sent["time_limit_secs"], sent["timeout_secs"]) == (90, 30)
    # Telnyx reports the machine at once (call.machine.detection.ended) and again when its
    # greeting has ended with a beep or silence (call.machine.greeting.ended).
    assert sent["answering_machine_detection"] == "greeting_end"
    assert sent["record"] == "record-from-answer"
    assert decode_state(sent["client_state"]) == {"call_id": 7}
    assert fake_telnyx.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_place_call_without_detection_or_recording_leaves_them_out(fake_telnyx):  # noqa: F811
    TelnyxProvider().place_call(OutboundCall(**{**REQUEST.__dict__, "detect_answering_machine": False}))
    (sent,) = fake_telnyx.dials()
    assert "answering_machine_detection" not in sent and "record" not in sent
    assert decode_state(sent["client_state"]) == {"call_id": 7}


def test_errors_say_whether_retrying_can_help(fake_telnyx, settings, monkeypatch):  # noqa: F811
    provider = TelnyxProvider()
    with pytest.raises(ProviderError) as bad_number:
        provider.place_call(OutboundCall(**{**REQUEST.__dict__, "to": INVALID_NUMBER}))
    assert bad_number.value.permanent
    assert bad_number.value.message == "Telnyx could not place the call: The 'to' number is invalid. (10016)"

    for status in (500, 503, 429):
        fake_telnyx.fail_next.append((status, error("10011", "Temporarily unavailable")))
        with pytest.raises(ProviderError) as passing:
            provider.place_call(REQUEST)
        assert not passing.value.permanent, status

    fake_telnyx.fail_next.append((403, error("10010", "Forbidden", "The destination is not permitted.")))
    with pytest.raises(ProviderError) as forbidden:
        provider.place_call(REQUEST)
    assert forbidden.value.permanent and "not permitted" in forbidden.value.message

    monkeypatch.setattr(telnyx_provider, "REQUEST_TIMEOUT_SECONDS", 0.2)
    fake_telnyx.delay_seconds = 1
    with pytest.raises(ProviderError) as timeout:
        provider.place_call(REQUEST)
    assert not timeout.value.permanent and "could not be reached" in timeout.value.message
    fake_telnyx.delay_seconds = 0

    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        settings.TELNYX_API_BASE_URL = f"http://127.0.0.1:{unused.getsockname()[1]}/v2"
    with pytest.raises(ProviderError) as unreachable:
        provider.place_call(REQUEST)
    assert not unreachable.value.permanent

    settings.TELNYX_API_BASE_URL = fake_telnyx.base_url + "/v2"
    settings.TELNYX_API_KEY = "KEYwrong"
    with pytest.raises(ProviderError) as credentials:
        provider.place_call(REQUEST)
    assert credentials.value.permanent and "(10009)" in credentials.value.message


def test_unconfigured_telnyx_is_a_clear_permanent_error(settings):
    settings.TELNYX_API_KEY = settings.TELNYX_CONNECTION_ID = settings.TELNYX_PUBLIC_KEY = ""
    assert TelnyxProvider().configuration_problem() == (
        "Telnyx is not configured: set TELNYX_API_KEY, TELNYX_CONNECTION_ID and TELNYX_PUBLIC_KEY."
    )
    with pytest.raises(ProviderError, match="Telnyx is not configured") as exc:
        TelnyxProvider().place_call(REQUEST)
    assert exc.value.permanent
    settings.TELNYX_API_KEY = "KEY1"
    with pytest.raises(ProviderError, match="TELNYX_CONNECTION_ID") as exc:
        TelnyxProvider().place_call(REQUEST)
    assert exc.value.permanent


def test_a_local_public_url_or_a_missing_verifier_is_flagged(settings, monkeypatch):
    settings.TELNYX_API_KEY, settings.TELNYX_CONNECTION_ID, settings.TELNYX_PUBLIC_KEY = "KEY1", "123", "cHVibGlj"
    settings.TELNYX_API_BASE_URL = ""
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    assert "PUBLIC_BASE_URL" in TelnyxProvider().configuration_problem()
    settings.PUBLIC_BASE_URL = "https://clozit.example"
    assert TelnyxProvider().configuration_problem() == ""
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    settings.TELNYX_API_BASE_URL = "http://127.0.0.1:9/v2"
    assert TelnyxProvider().configuration_problem() == ""
    monkeypatch.setattr(telnyx_provider, "find_spec", lambda name: None)
    assert "install telnyx[webhooks]" in TelnyxProvider().configuration_problem()


@pytest.mark.django_db
def test_missing_settings_are_explained_in_healthz(client, settings):
    settings.TELEPHONY_PROVIDER = "telnyx"
    settings.TELNYX_API_KEY = "KEY1"
    settings.TELNYX_CONNECTION_ID = settings.TELNYX_PUBLIC_KEY = ""
    assert client.get("/healthz").json()["telephony"] == {
        "provider": "telnyx",
        "status": "Telnyx is not configured: set TELNYX_CONNECTION_ID and TELNYX_PUBLIC_KEY.",
    }


def test_call_commands_go_to_the_calls_actions(fake_telnyx):  # noqa: F811
    provider = TelnyxProvider()
    ccid = provider.place_call(REQUEST)
    fake_telnyx.incoming("v3:in")
    provider.speak(ccid, "Hello there", voice="Polly.Matthew", language="en-GB", client_state={"call_id": 3})
    provider.start_listening(ccid, language="es-ES", command_id="transcribe-3")
    provider.answer("v3:in", {"call_id": 4, "inbound": 1}, record=True, command_id="answer-4")
    provider.transfer(ccid, "+14155550999")
    provider.hang_up(ccid, command_id="hangup-3")

    speak, listen, answer, transfer, hangup = fake_telnyx.requests[1:]
    assert speak.path == f"/v2/calls/{ccid}/actions/speak"
    assert speak.json["payload"] == "Hello there" and speak.json["voice"] == "AWS.Polly.Matthew"
    assert speak.json["language"] == "en-GB" and decode_state(speak.json["client_state"]) == {"call_id": 3}
    assert listen.path == f"/v2/calls/{ccid}/actions/transcription_start"
    assert listen.json == {
        "command_id": "transcribe-3",
        "transcription_engine": "Google",
        "transcription_engine_config": {"transcription_engine": "Google", "language": "es", "interim_results": False},
        "transcription_tracks": "inbound",
    }
    assert answer.path == "/v2/calls/v3:in/actions/answer"
    assert decode_state(answer.json["client_state"]) == {"call_id": 4, "inbound": 1}
    assert answer.json["record"] == "record-from-answer" and answer.json["command_id"] == "answer-4"
    assert transfer.path == f"/v2/calls/{ccid}/actions/transfer" and transfer.json["to"] == "+14155550999"
    assert hangup.path == f"/v2/calls/{ccid}/actions/hangup" and hangup.json == {"command_id": "hangup-3"}


def test_ending_a_call_that_already_ended_is_not_an_error_but_other_commands_are_refused_for_good(fake_telnyx):  # noqa: F811
    provider = TelnyxProvider()
    ccid = provider.place_call(REQUEST)
    fake_telnyx.end(ccid)  # the callee hung up; Telnyx's call.hangup is on its way
    provider.hang_up(ccid, command_id="hangup-7")
    for command in (
        lambda: provider.speak(ccid, "Hello", voice="", language="en-US", client_state={}),
        lambda: provider.transfer(ccid, "+14155550999"),
    ):
        with pytest.raises(ProviderError) as ended:
            command()
        assert ended.value.permanent
        assert ended.value.message.endswith("This call is no longer active and can't receive commands. (90018)")


def test_a_command_to_a_call_telnyx_does_not_know_is_refused_for_good(fake_telnyx):  # noqa: F811
    provider = TelnyxProvider()
    for command in (
        lambda: provider.speak("v3:unknown", "Hello", voice="", language="en-US", client_state={}),
        lambda: provider.hang_up("v3:unknown"),
        lambda: provider.speak("", "Hello", voice="", language="en-US", client_state={}),
    ):
        with pytest.raises(ProviderError) as refused:
            command()
        assert refused.value.permanent
    fake_telnyx.fail_next.append((404, error("10005", "Resource not found")))
    provider.hang_up("v3:gone")  # nothing left to end


def test_the_fake_refuses_parameters_and_values_telnyx_does_not_take(fake_telnyx):  # noqa: F811
    """The fake takes exactly the fields (and listed values) the SDK's request types declare."""
    ccid = TelnyxProvider().place_call(REQUEST)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    for path, body, field in [
        (f"/v2/calls/{ccid}/actions/speak", {"payload": "Hi", "voice": "AWS.Polly.Joanna", "volume": 3}, "volume"),
        (
            f"/v2/calls/{ccid}/actions/speak",
            {"payload": "Hi", "voice": "AWS.Polly.Joanna", "language": "xx"},
            "language",
        ),
        (
            "/v2/calls",
            {**fake_telnyx.dials()[0], "answering_machine_detection": "greeting"},
            "answering_machine_detection",
        ),
    ]:
        answer = requests.post(fake_telnyx.base_url + path, json=body, headers=headers, timeout=5)
        assert answer.status_code == 422, path
        assert answer.json()["errors"][0]["source"] == {"pointer": f"/{field}"}


def test_voices_are_named_the_telnyx_way():
    assert telnyx_voice("Polly.Joanna") == "AWS.Polly.Joanna"
    assert telnyx_voice("Polly.Amy") == "AWS.Polly.Amy"
    assert telnyx_voice("AWS.Polly.Joanna-Neural") == "AWS.Polly.Joanna-Neural"
    assert telnyx_voice("Google.en-US-Standard-C") == "AWS.Polly.Joanna"
    assert telnyx_voice("") == "AWS.Polly.Joanna"


def test_recordings_are_deleted_by_id_or_by_call_leg_and_a_missing_one_is_not_an_error(fake_telnyx):  # noqa: F811
    fake_telnyx.recordings = {"rec-1": "leg-a", "rec-2": "leg-b", "rec-3": "leg-b"}
    provider = TelnyxProvider()
    provider.delete_recording("rec-1")
    provider.delete_recording("leg:leg-b")
    provider.delete_recording("rec-1")  # already gone
    assert fake_telnyx.recordings == {}
    deletes = [r.path for r in fake_telnyx.requests if r.method == "DELETE"]
    assert deletes == ["/v2/recordings/rec-1", "/v2/recordings/rec-2", "/v2/recordings/rec-3", "/v2/recordings/rec-1"]
    fake_telnyx.fail_next.append((503, error("10011", "Temporarily unavailable")))
    with pytest.raises(ProviderError) as outage:
        provider.delete_recording("rec-9")
    assert not outage.value.permanent


def test_a_recording_is_fetched_from_the_url_telnyx_gave(fake_telnyx):  # noqa: F811
    audio, content_type = TelnyxProvider().fetch_recording(fake_telnyx.base_url + "/media/rec-1.mp3?X-Amz-Signature=s")
    assert (audio, content_type) == (AUDIO, "audio/mpeg")
    assert "authorization" not in fake_telnyx.requests[-1].headers  # our API key never goes to a storage host
    with pytest.raises(ProviderError, match=r"did not return the recording \(403\)") as expired:
        TelnyxProvider().fetch_recording(fake_telnyx.base_url + "/media/expired.mp3")
    assert expired.value.permanent


def test_playing_a_recording_asks_for_a_fresh_link_since_saved_links_expire(fake_telnyx):  # noqa: F811
    fake_telnyx.recordings.update({"rec-7": "leg-7", "rec-8": "leg-8"})
    provider = TelnyxProvider()
    expired = fake_telnyx.base_url + "/media/expired.mp3"

    assert provider.fetch_recording(expired, recording_id="rec-7") == (AUDIO, "audio/mpeg")
    assert provider.fetch_recording(expired, recording_id="leg:leg-8") == (AUDIO, "audio/mpeg")
    fetched = [r.path for r in fake_telnyx.requests if r.path.startswith("/media/")]
    assert fetched == ["/media/rec-7.mp3", "/media/rec-8.mp3"]
    assert [r.path for r in fake_telnyx.requests if r.path.startswith("/v2/")] == [
        "/v2/recordings/rec-7",
        "/v2/recordings",
    ]


def test_numbers_are_searched_bought_on_our_connection_and_released(fake_telnyx):  # noqa: F811
    provider = TelnyxProvider()
    found = provider.search_numbers(country="us", area_code="212", limit=3)
    assert [n.number for n in found] == ["+12125550100", "+12125550101", "+12125550102"]
    assert (found[0].locality, found[0].region, found[0].country) == ("SAN FRANCISCO", "CA", "US")
    search = fake_telnyx.requests[-1]
    assert search.path == "/v2/available_phone_numbers"
    assert search.query == {
        "filter[country_code]": "US",
        "filter[features]": "voice",
        "filter[limit]": "3",
        "filter[national_destination_code]": "212",
    }

    number_id = provider.buy_number("+12125550101", voice_url="unused", status_url="unused")
    order = fake_telnyx.requests[-1]
    assert order.path == "/v2/number_orders"
    assert order.json == {"connection_id": CONNECTION_ID, "phone_numbers": [{"phone_number": "+12125550101"}]}
    assert list(fake_telnyx.numbers.values()) == ["+12125550101"]

    provider.release_number(number_id)
    assert fake_telnyx.numbers == {}
    provider.release_number(number_id)  # already released


@pytest.mark.django_db(transaction=True)
def test_a_bad_number_fails_its_contact_with_telnyxs_reason(settings, user, run_jobs, fake_telnyx):  # noqa: F811
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(500), kind="staff_adjustment", reference="topup"
    )
    campaign = make_campaign(user, ["+12025550101"])
    campaign.contact_list.contacts.update(phone_number=INVALID_NUMBER)
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()
    target = CampaignContact.objects.get(campaign=campaign)
    assert target.status == CampaignContact.Status.FAILED
    assert target.result == "Telnyx could not place the call: The 'to' number is invalid. (10016)"
    call = Call.objects.get(campaign=campaign)
    assert (call.status, call.credits_charged) == (Call.Status.FAILED, 0)
    assert ledger.balance_of(workspace=user.personal_workspace).held == 0


@pytest.mark.django_db(transaction=True)
def test_an_outage_retries_later_and_pauses_the_campaign_after_failures_in_a_row(settings, user, run_jobs, fake_telnyx):  # noqa: F811
    fake_telnyx.always_fail = (503, error("10011", "Service unavailable", "Please try again later."))
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(2000), kind="staff_adjustment", reference="topup"
    )
    campaign = make_campaign(user, [f"+120255501{n:02d}" for n in range(6)], concurrency=5)
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "failed 5 calls in a row" in campaign.status_reason and "Please try again later" in campaign.status_reason
    assert len(fake_telnyx.dials()) == 5
    waiting = CampaignContact.objects.filter(campaign=campaign, status="pending", attempts=1)
    assert waiting.count() == 5 and all(t.next_attempt_at is not None for t in waiting)
    assert ledger.balance_of(workspace=user.personal_workspace).held == 0

    fake_telnyx.always_fail = None
    CampaignContact.objects.filter(campaign=campaign).update(next_attempt_at=None)
    services.campaign_resume(campaign=campaign)
    run_jobs()
    assert len(fake_telnyx.dials()) == 10
    calls = Call.objects.filter(campaign=campaign, status=Call.Status.DIALING)
    assert calls.count() == 5 and all(c.provider_call_id in fake_telnyx.calls for c in calls)


@pytest.mark.django_db
def test_generic_twilio_style_webhooks_refuse_telnyx_calls(client, settings, fake_telnyx):  # noqa: F811
    path = reverse("telephony_answer", kwargs={"provider": "telnyx", "call_id": 1})
    assert client.post(path, {"CallSid": "x"}).status_code == 403


def test_a_recording_event_without_an_id_names_the_call_leg():
    payload = {
        "call_leg_id": "leg-1",
        "recording_urls": {"mp3": "https://s3.example/r.mp3"},
        "recording_started_at": "2026-03-02T10:00:00Z",
        "recording_ended_at": "2026-03-02T10:00:12.5Z",
    }
    event = TelnyxEvent(id="evt-1", type="call.recording.saved", occurred_at=None, payload=payload, body={})
    recording = TelnyxProvider().recording_event(event, call_id=5)
    assert (recording.recording_id, recording.media_url, recording.duration_seconds) == (
        "leg:leg-1",
        "https://s3.example/r.mp3",
        13,
    )
    assert (
        TelnyxProvider().recording_event(TelnyxEvent("evt-2", "call.recording.saved", None, {}, {}), call_id=5) is None
    )
