"""The Twilio provider through the real SDK against a local fake Twilio API, and a whole campaign
on TELEPHONY_PROVIDER=twilio with webhooks signed by the auth token."""

import time
from decimal import Decimal

import pytest
import requests
from django.urls import reverse
from twilio.request_validator import RequestValidator

from billing import ledger
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign
from campaigns.tests.factories import make_campaign
from telephony.providers.base import OutboundCall, ProviderError
from telephony.providers.twilio import TwilioProvider
from telephony.tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, INVALID_NUMBER, fake_twilio  # noqa: F401 - fixture

REQUEST = OutboundCall(
    call_id=1,
    to="+12025550101",
    from_="+12025550100",
    time_limit_seconds=90,
    answer_url="https://clozit.example/a",
    status_url="https://clozit.example/s",
)


def test_place_call_sends_time_limit_machine_detection_and_every_status_event(fake_twilio, settings):  # noqa: F811
    settings.PUBLIC_BASE_URL = "https://clozit.example"
    fake_twilio.place_calls = False
    sid = TwilioProvider().place_call(REQUEST)
    (sent,) = fake_twilio.calls_created()
    assert sid.startswith("CA")
    assert (sent["To"], sent["From"], sent["TimeLimit"]) == ("+12025550101", "+12025550100", "90")
    # The answer URL is fetched at once (a person hears the opening without waiting); the result
    # comes later, when a machine's greeting has ended.
    assert (sent["MachineDetection"], sent["AsyncAmd"]) == ("DetectMessageEnd", "true")
    assert sent["AsyncAmdStatusCallback"] == "https://clozit.example/telephony/twilio/calls/1/amd/"
    assert sent["AsyncAmdStatusCallbackMethod"] == "POST"
    assert sent["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert (sent["Url"], sent["StatusCallback"]) == (REQUEST.answer_url, REQUEST.status_url)


def test_errors_say_whether_retrying_can_help(fake_twilio, settings):  # noqa: F811
    fake_twilio.place_calls = False
    with pytest.raises(ProviderError) as bad_number:
        TwilioProvider().place_call(OutboundCall(**{**REQUEST.__dict__, "to": INVALID_NUMBER}))
    assert bad_number.value.permanent and "21211" in bad_number.value.message
    fake_twilio.fail_next_status = 503
    with pytest.raises(ProviderError) as outage:
        TwilioProvider().place_call(REQUEST)
    assert not outage.value.permanent
    settings.TWILIO_AUTH_TOKEN = "wrong"
    with pytest.raises(ProviderError) as credentials:
        TwilioProvider().place_call(REQUEST)
    assert credentials.value.permanent and "20003" in credentials.value.message


def test_unconfigured_twilio_is_a_clear_permanent_error(settings):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(ProviderError, match="Twilio is not configured") as exc:
        TwilioProvider().place_call(REQUEST)
    assert exc.value.permanent


def test_hang_up_completes_the_call(fake_twilio):  # noqa: F811
    fake_twilio.place_calls = False
    ringing, answered = TwilioProvider().place_call(REQUEST), TwilioProvider().place_call(REQUEST)
    fake_twilio.set_status(ringing, "ringing")
    fake_twilio.set_status(answered, "in-progress")
    TwilioProvider().hang_up(ringing)
    TwilioProvider().hang_up(answered)
    assert fake_twilio.hangups == [ringing, answered]
    assert (fake_twilio.calls[ringing]["status"], fake_twilio.calls[answered]["status"]) == ("canceled", "completed")


# --- what Twilio refuses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "detection",
    [
        {"MachineDetection": "Detect"},
        {"MachineDetection": "Enable", "AsyncAmd": "yes", "AsyncAmdStatusCallback": "https://x.example/amd"},
        {"AsyncAmd": "true", "AsyncAmdStatusCallback": "https://x.example/amd"},
        {"MachineDetection": "DetectMessageEnd", "AsyncAmd": "true"},
        {"MachineDetection": "DetectMessageEnd", "AsyncAmdStatusCallback": "https://x.example/amd"},
        {"MachineDetection": "Enable", "SendDigits": "1234"},
        {"MachineDetection": "Enable", "MachineDetectionTimeout": "90"},
        {"MachineDetection": "Enable", "MachineDetectionSpeechThreshold": "200"},
    ],
)
def test_the_fake_refuses_answering_machine_detection_that_cannot_work(fake_twilio, detection):  # noqa: F811
    form = {"To": REQUEST.to, "From": REQUEST.from_, "Url": REQUEST.answer_url, **detection}
    answer = requests.post(
        f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
        data=form,
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )
    assert answer.status_code == 400, detection
    assert fake_twilio.calls == {}


def test_the_fake_refuses_parameters_twilio_does_not_take(fake_twilio):  # noqa: F811
    """The fake takes exactly the parameters the SDK knows for each request, so a misspelt name
    fails a test instead of being dropped in silence."""
    fake_twilio.place_calls = False
    sid = TwilioProvider().place_call(REQUEST)
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    calls = f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls"
    form = {"To": REQUEST.to, "From": REQUEST.from_, "Url": REQUEST.answer_url}
    for url, data in [
        (f"{calls}.json", {**form, "MachineDetecton": "Enable"}),
        (f"{calls}/{sid}.json", {"Status": "completed", "Reason": "done"}),
        (f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json", {"Number": "+1"}),
    ]:
        answer = requests.post(url, data=data, auth=auth, timeout=5)
        assert (answer.status_code, answer.json()["code"]) == (400, 20001), url
    assert fake_twilio.calls[sid]["status"] == "queued"


def test_ending_a_call_that_already_ended_or_never_existed_is_not_an_error(fake_twilio):  # noqa: F811
    fake_twilio.place_calls = False
    sid = TwilioProvider().place_call(REQUEST)
    fake_twilio.set_status(sid, "completed")  # the callee hung up first
    TwilioProvider().hang_up(sid)
    TwilioProvider().hang_up("CA" + "f" * 32)
    assert fake_twilio.hangups == []


@pytest.mark.parametrize("state", ["queued", "ringing", "completed", "busy", "unknown"])
def test_redirecting_a_call_that_is_not_in_progress_is_a_permanent_error(fake_twilio, state):  # noqa: F811
    fake_twilio.place_calls = False
    sid = TwilioProvider().place_call(REQUEST)
    if state == "unknown":
        sid = "CA" + "f" * 32
    else:
        fake_twilio.set_status(sid, state)
    with pytest.raises(ProviderError) as refused:
        TwilioProvider().transfer(sid, "+14155550199")
    assert refused.value.permanent
    assert ("20404" if state == "unknown" else "21220") in refused.value.message
    assert fake_twilio.redirects == []


def test_a_call_in_progress_can_be_transferred(fake_twilio):  # noqa: F811
    fake_twilio.place_calls = False
    sid = TwilioProvider().place_call(REQUEST)
    fake_twilio.set_status(sid, "in-progress")
    TwilioProvider().transfer(sid, "+14155550199")
    assert fake_twilio.redirects == [
        (sid, '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>+14155550199</Dial></Response>')
    ]


@pytest.mark.django_db
def test_the_time_limit_job_does_not_complain_about_a_call_that_ended_meanwhile(user, fake_twilio, caplog):  # noqa: F811
    from campaigns.calls.services import call_enforce_time_limit
    from telephony.tests.test_webhooks import make_call

    fake_twilio.place_calls = False
    call = make_call(user, provider="twilio")
    sid = TwilioProvider().place_call(REQUEST)
    Call.objects.filter(pk=call.pk).update(provider_call_id=sid, status=Call.Status.IN_PROGRESS)
    fake_twilio.set_status(sid, "completed")  # its final status callback is still on its way
    call_enforce_time_limit(call.pk)
    assert "could not end call" not in caplog.text


@pytest.mark.django_db
def test_webhooks_must_carry_the_auth_tokens_signature(client, user, settings, fake_twilio):  # noqa: F811
    settings.TELEPHONY_PROVIDER = "twilio"
    campaign = make_campaign(user, ["+12025550101"])
    call = Call.objects.create(
        workspace=user.personal_workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number="+12025550101",
        from_number="+12025550100",
        provider="twilio",
        status="dialing",
    )
    path = reverse("telephony_answer", kwargs={"provider": "twilio", "call_id": call.pk})
    params = {"CallSid": "CA1", "CallStatus": "in-progress", "AnsweredBy": "human"}
    for secret, expected in [(settings.SIMULATED_SIGNING_SECRET, 403), (AUTH_TOKEN, 200)]:
        signature = RequestValidator(secret).compute_signature(settings.PUBLIC_BASE_URL + path, params)
        assert client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == expected


@pytest.mark.django_db(transaction=True)
def test_a_campaign_runs_on_twilio(live_server, settings, user, run_jobs, fake_twilio):  # noqa: F811
    settings.PUBLIC_BASE_URL = live_server.url
    settings.TELEPHONY_PROVIDER = "twilio"
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(1000), kind="staff_adjustment", reference="topup"
    )
    campaign = make_campaign(user, ["+12025550101", "+12025550121", "+12025550171"], concurrency=3)
    services.campaign_launch(campaign=campaign, by=user)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run_jobs()  # the dialer; the fake Twilio calls back from its own threads
        campaign.refresh_from_db()
        if campaign.status == Campaign.Status.COMPLETED:
            break
        time.sleep(0.2)
    assert campaign.status == Campaign.Status.COMPLETED
    calls = {c.to_number: c for c in Call.objects.filter(campaign=campaign)}
    assert all(c.provider == "twilio" and c.provider_call_id.startswith("CA") for c in calls.values())
    assert calls["+12025550101"].outcome == "interested" and calls["+12025550101"].turns.count() == 5
    assert calls["+12025550171"].status == "no_answer" and calls["+12025550171"].credits_charged == 0
    spent = sum(c.duration_seconds for c in calls.values())
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 1100 - spent


@pytest.mark.django_db(transaction=True)
def test_a_machine_gets_the_whole_message_after_its_greeting_and_a_person_the_opening_at_once(
    live_server,
    settings,
    user,
    run_jobs,
    fake_twilio,  # noqa: F811
):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.TELEPHONY_PROVIDER = "twilio"
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(1000), kind="staff_adjustment", reference="topup"
    )
    person, machine = "+12025550101", "+12025550161"
    campaign = make_campaign(user, [person, machine], concurrency=2)
    services.campaign_launch(campaign=campaign, by=user)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and campaign.status != Campaign.Status.COMPLETED:
        run_jobs()
        campaign.refresh_from_db()
        time.sleep(0.2)
    assert campaign.status == Campaign.Status.COMPLETED

    calls = {c.to_number: c for c in Call.objects.filter(campaign=campaign)}
    voicemail = "Hi Person1, Sam from Acme here. We'll try again soon."
    at_machine = fake_twilio.played[calls[machine].provider_call_id]
    assert at_machine.recorded == voicemail  # after the beep, every word
    assert (calls[machine].answered_by, calls[machine].outcome) == ("machine", "voicemail")
    assert [t.text for t in calls[machine].turns.order_by("sequence")][-1] == voicemail
    (redirect,) = [twiml for sid, twiml in fake_twilio.redirects if sid == calls[machine].provider_call_id]
    assert voicemail in redirect and "<Hangup />" in redirect

    at_person = fake_twilio.played[calls[person].provider_call_id]
    assert at_person.heard[0][0] == 0  # no silence while the machine detection runs
    assert (calls[person].answered_by, calls[person].outcome) == ("human", "interested")


@pytest.mark.django_db(transaction=True)
def test_an_outage_retries_later_and_pauses_the_campaign_after_failures_in_a_row(
    settings,
    user,
    run_jobs,
    fake_twilio,  # noqa: F811
):
    from campaigns.models import CampaignContact

    settings.TELEPHONY_PROVIDER = "twilio"
    fake_twilio.always_fail_status = 503
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(2000), kind="staff_adjustment", reference="topup"
    )
    numbers = [f"+120255501{n:02d}" for n in range(6)]
    campaign = make_campaign(user, numbers, concurrency=5)
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "failed 5 calls in a row" in campaign.status_reason and "20500" in campaign.status_reason
    assert len(fake_twilio.calls_created()) == 5  # no immediate redial of the same contacts
    waiting = CampaignContact.objects.filter(campaign=campaign, status="pending", attempts=1)
    assert waiting.count() == 5 and all(t.next_attempt_at is not None for t in waiting)
    assert ledger.balance_of(workspace=user.personal_workspace).held == 0  # failed calls hold nothing and cost nothing

    # The provider is back: resuming dials the contacts whose wait is over.
    fake_twilio.always_fail_status = None
    fake_twilio.place_calls = False
    CampaignContact.objects.filter(campaign=campaign).update(next_attempt_at=None)
    services.campaign_resume(campaign=campaign)
    run_jobs()
    assert len(fake_twilio.calls_created()) == 10
    campaign.refresh_from_db()
    assert campaign.provider_failures_in_row == 0


@pytest.mark.django_db
def test_missing_credentials_are_explained_in_healthz_and_at_launch(client, user, settings):
    settings.TELEPHONY_PROVIDER = "twilio"
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    health = client.get("/healthz").json()
    assert health["telephony"] == {
        "provider": "twilio",
        "status": "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.",
    }
    campaign = make_campaign(user, ["+12025550101"])
    client.force_login(user)
    response = client.post(reverse("campaign_action", args=[campaign.pk, "launch"]), follow=True)
    assert "Twilio is not configured" in response.content.decode()
    assert "Traceback" not in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


@pytest.mark.django_db
def test_a_local_public_url_is_flagged_for_twilio(client, settings):
    settings.TELEPHONY_PROVIDER = "twilio"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC1", "token"
    settings.TWILIO_API_BASE_URL = ""
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    assert "PUBLIC_BASE_URL" in client.get("/healthz").json()["telephony"]["status"]
