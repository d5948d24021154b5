"""The Telnyx webhook: every event signed with ed25519 the way Telnyx signs it, posted to
/telephony/telnyx/webhook/, and the commands the platform sends back (through the real SDK) to
a local fake Telnyx. Forged, tampered and stale events change nothing; every event counts once,
whatever the order it arrives in."""

from datetime import UTC, datetime, timedelta

import django_rq
import pytest
from django.db import DatabaseError
from nacl.signing import SigningKey
from rq.job import Job

from billing import ledger
from campaigns.calls.services import NOBODY_AVAILABLE
from campaigns.conversation.engine.scripted import GOODBYE_SILENT, REPEAT, TRANSFERRING
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, CampaignContact
from campaigns.tests.factories import make_agent, make_campaign
from telephony import telnyx_webhook
from telephony.models import PhoneNumber, ProviderEvent
from telephony.providers.base import OutboundCall
from telephony.providers.telnyx import TelnyxProvider
from telephony.tests.carrier_examples import (
    TELNYX_INBOUND_INITIATED,
    TELNYX_MACHINE_GREETING_ENDED,
    TELNYX_MACHINE_PREMIUM_GREETING_ENDED,
)
from telephony.tests.fake_telnyx import decode_state, error, fake_telnyx  # noqa: F401 - fixture
from telephony.tests.test_webhooks import make_call

PUBLIC = "https://clozit.example.com"
TO = "+12025550101"
OUR_NUMBER = "+14155550123"
CALLER = "+12025550199"
DISCLOSURE = "Just so you know, I'm an AI assistant."
OPENING = "Hi Person0, this is Sam from Acme. Are you the person who handles scheduling?"
SECOND_QUESTION = "Thank you. How many people are on your team?"
CLOSING = "Thanks Person0, we will send you the details. Goodbye!"
VOICEMAIL = "Hi Person0, Sam from Acme here. We'll try again soon."


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC


def dial(user, *, detect=True, **agent_overrides) -> tuple[Call, str]:
    """A call to TO placed through the Telnyx provider, with credits held as the dialer holds them
    (100 starter credits: a 100 s hold and time limit)."""
    call = make_call(user, provider="telnyx", **agent_overrides)
    ccid = TelnyxProvider().place_call(
        OutboundCall(
            call_id=call.pk,
            to=TO,
            from_=call.from_number,
            time_limit_seconds=call.time_limit_seconds,
            answer_url="",
            status_url="",
            detect_answering_machine=detect,
        )
    )
    Call.objects.filter(pk=call.pk).update(provider_call_id=ccid)
    return call, ccid


def answer_human(fake, ccid, *, at=None):
    at = at or datetime.now(UTC)
    fake.send("call.initiated", ccid, direction="outgoing", state="parked", at=at - timedelta(seconds=5))
    fake.send("call.answered", ccid, at=at)
    fake.send("call.machine.detection.ended", ccid, result="human", at=at + timedelta(seconds=2))


def twice(fake, event_type, payload, **kwargs):
    """Deliver one event twice (same Telnyx id), as Telnyx may."""
    first = fake.send_event(event_type, payload, id="evt-" + event_type, **kwargs)
    second = fake.send_event(event_type, payload, id="evt-" + event_type, **kwargs)
    assert first.status_code == 200 and second.content == b"duplicate ignored"


def balance(user):
    return ledger.balance_of(workspace=user.personal_workspace)


# --- signatures ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_forged_tampered_unsigned_and_unconfigured_events_are_refused_and_change_nothing(
    user,
    settings,
    fake_telnyx,  # noqa: F811
):
    call, ccid = dial(user, detect=False)
    payload = fake_telnyx.payload(ccid)
    body = fake_telnyx.event_body("call.answered", payload)

    assert fake_telnyx.send_event("call.answered", payload, key=SigningKey.generate()).status_code == 403
    tampered = body.replace('"call.answered"', '"call.hangup"')
    assert fake_telnyx.post(tampered, fake_telnyx.sign(body)).status_code == 403
    assert fake_telnyx.post(body, {}).status_code == 403
    assert fake_telnyx.post(body, {"telnyx-timestamp": fake_telnyx.sign(body)["telnyx-timestamp"]}).status_code == 403
    assert fake_telnyx.post(body, {**fake_telnyx.sign(body), "telnyx-timestamp": "soon"}).status_code == 403
    settings.TELNYX_PUBLIC_KEY = ""
    assert fake_telnyx.post(body, fake_telnyx.sign(body)).status_code == 403

    call.refresh_from_db()
    assert call.status == Call.Status.DIALING and call.answered_at is None
    assert not ProviderEvent.objects.exists()
    assert fake_telnyx.commands() == []


@pytest.mark.django_db
def test_stale_or_early_events_are_refused_within_the_configured_tolerance(user, settings, fake_telnyx):  # noqa: F811
    call, ccid = dial(user, detect=False)
    now = int(datetime.now(UTC).timestamp())
    for timestamp in (now - 301, now + 301):
        assert (
            fake_telnyx.send_event("call.answered", fake_telnyx.payload(ccid), timestamp=timestamp).status_code == 403
        )
    settings.TELNYX_WEBHOOK_TOLERANCE_SECONDS = 60
    assert fake_telnyx.send_event("call.answered", fake_telnyx.payload(ccid), timestamp=now - 120).status_code == 403
    assert not ProviderEvent.objects.exists()
    assert fake_telnyx.send_event("call.answered", fake_telnyx.payload(ccid), timestamp=now - 30).status_code == 200
    assert ProviderEvent.objects.count() == 1


@pytest.mark.django_db
def test_only_post_is_accepted(client, fake_telnyx):  # noqa: F811
    assert client.get("/telephony/telnyx/webhook/").status_code == 405


# --- a conversation ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_human_hears_the_opening_with_the_disclosure_once_detection_says_human(
    user,
    fake_telnyx,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    call, ccid = dial(user, ai_disclosure=DISCLOSURE)
    fake_telnyx.send("call.initiated", ccid, direction="outgoing", state="parked")
    call.refresh_from_db()
    assert call.status == Call.Status.RINGING

    fake_telnyx.send("call.answered", ccid)
    (speak,) = fake_telnyx.commands("speak", ccid)  # at once: nobody waits for the detection
    call.refresh_from_db()
    assert call.status == Call.Status.IN_PROGRESS and call.answered_at is not None

    twice(fake_telnyx, "call.machine.detection.ended", fake_telnyx.payload(ccid, result="human"))
    assert len(fake_telnyx.commands()) == 1
    assert speak.json["payload"] == f"{DISCLOSURE} {OPENING}"
    assert (speak.json["voice"], speak.json["language"]) == ("AWS.Polly.Joanna", "en-US")
    assert speak.json["command_id"] == f"speak-{call.pk}-1"
    assert decode_state(speak.json["client_state"]) == {
        "call_id": call.pk,
        "turn": 1,
        "then": "listen",
        "transfer_to": "",
    }
    call.refresh_from_db()
    assert call.answered_by == "human"

    # The opening has been said: listen (transcription, once per call) and wait for an answer.
    with django_capture_on_commit_callbacks(execute=True):
        fake_telnyx.finish_speaking(ccid)
    (listen,) = fake_telnyx.commands("transcription_start", ccid)
    assert listen.json["transcription_engine_config"]["language"] == "en"
    registry = django_rq.get_queue("dialing").scheduled_job_registry
    (job_id,) = registry.get_job_ids()
    job = Job.fetch(job_id, connection=registry.connection)
    assert (job.func_name, job.args) == ("telephony.telnyx_webhook.telnyx_silence_check", (call.pk, 1))

    answer = fake_telnyx.payload(ccid, transcription_data={"transcript": "Yes, that's me", "is_final": True})
    twice(fake_telnyx, "call.transcription", answer)
    assert fake_telnyx.said(ccid)[1:] == [SECOND_QUESTION]

    fake_telnyx.finish_speaking(ccid)
    assert len(fake_telnyx.commands("transcription_start", ccid)) == 1  # still listening
    assert list(call.turns.values_list("speaker", "text")) == [
        ("agent", f"{DISCLOSURE} {OPENING}"),
        ("callee", "Yes, that's me"),
        ("agent", SECOND_QUESTION),
    ]


@pytest.mark.django_db
def test_interim_transcripts_and_speech_while_the_agent_says_goodbye_are_not_answers(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user)
    answer_human(fake_telnyx, ccid)
    fake_telnyx.finish_speaking(ccid)
    fake_telnyx.send("call.transcription", ccid, transcription_data={"transcript": "Not inter", "is_final": False})
    assert len(fake_telnyx.said(ccid)) == 1 and not ProviderEvent.objects.filter(kind="call.transcription").exists()

    fake_telnyx.say(ccid, "No thanks, not interested")
    assert fake_telnyx.said(ccid)[-1] == "No problem at all, thank you for your time. Goodbye."
    fake_telnyx.say(ccid, "Wait, what was the price?")  # talking over the goodbye
    assert len(fake_telnyx.said(ccid)) == 2
    fake_telnyx.finish_speaking(ccid)
    assert len(fake_telnyx.commands("hangup", ccid)) == 1
    call.refresh_from_db()
    assert call.outcome == "not_interested" and call.turns.count() == 3


@pytest.mark.django_db
def test_silence_repeats_the_question_then_ends_the_call(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user)
    answer_human(fake_telnyx, ccid)
    fake_telnyx.finish_speaking(ccid)

    telnyx_webhook.telnyx_silence_check(call.pk, 1)
    telnyx_webhook.telnyx_silence_check(call.pk, 1)  # the same check again: nothing more
    assert fake_telnyx.said(ccid)[1:] == [f"{REPEAT} Are you the person who handles scheduling?"]
    fake_telnyx.finish_speaking(ccid)
    telnyx_webhook.telnyx_silence_check(call.pk, 2)
    assert fake_telnyx.said(ccid)[-1] == GOODBYE_SILENT
    fake_telnyx.finish_speaking(ccid)
    assert len(fake_telnyx.commands("hangup", ccid)) == 1
    call.refresh_from_db()
    assert call.outcome == "no_response"


@pytest.mark.django_db
def test_a_check_for_a_turn_already_answered_does_nothing(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user)
    answer_human(fake_telnyx, ccid)
    fake_telnyx.finish_speaking(ccid)
    fake_telnyx.say(ccid, "Yes, that's me")
    telnyx_webhook.telnyx_silence_check(call.pk, 1)
    assert fake_telnyx.said(ccid) == [OPENING, SECOND_QUESTION]


# --- the end of a call ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_hang_up_settles_the_connected_seconds_once(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user)
    answered = datetime(2026, 3, 2, 10, 0, 0, 250000, tzinfo=UTC)
    answer_human(fake_telnyx, ccid, at=answered)
    hangup = fake_telnyx.payload(ccid, hangup_cause="normal_clearing", hangup_source="callee", sip_hangup_cause="200")
    # 41.3 s connected: every started second counts.
    twice(fake_telnyx, "call.hangup", hangup, occurred_at=answered + timedelta(seconds=41, milliseconds=300))

    call.refresh_from_db()
    assert (call.status, call.duration_seconds, call.credits_charged) == (Call.Status.COMPLETED, 42, 42)
    assert (balance(user).balance, balance(user).held) == (58, 0)
    assert ProviderEvent.objects.filter(kind="call.hangup").count() == 1


@pytest.mark.django_db
def test_a_call_cut_at_its_time_limit_is_charged_the_limit_at_most(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user)
    answered = datetime.now(UTC) - timedelta(seconds=200)
    answer_human(fake_telnyx, ccid, at=answered)
    fake_telnyx.send("call.hangup", ccid, hangup_cause="time_limit", at=answered + timedelta(seconds=101))
    call.refresh_from_db()
    assert (call.status, call.duration_seconds, call.credits_charged, call.outcome) == (
        "completed",
        100,
        100,
        "time_limit",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cause", "sip", "status", "reason"),
    [
        ("user_busy", "486", "busy", "Busy"),
        ("timeout", "", "no_answer", "No answer"),
        ("not_found", "404", "failed", "Number not in service"),
        ("call_rejected", "603", "busy", "Declined"),
        ("call_rejected", "", "busy", "Declined"),
        ("user_busy", "503", "busy", "Network unavailable"),
        ("unspecified", "", "failed", "Could not connect"),
        ("originator_cancel", "", "canceled", "Canceled before it was answered"),
    ],
)
def test_unanswered_calls_end_with_a_readable_reason_and_cost_nothing(user, fake_telnyx, cause, sip, status, reason):  # noqa: F811
    call, ccid = dial(user)
    fake_telnyx.send("call.initiated", ccid, direction="outgoing")
    fake_telnyx.send("call.hangup", ccid, hangup_cause=cause, sip_hangup_cause=sip or "unspecified")
    call.refresh_from_db()
    assert (call.status, call.failure_reason, call.credits_charged) == (status, reason, 0)
    assert (balance(user).balance, balance(user).held) == (100, 0)


@pytest.mark.django_db
def test_events_after_the_hang_up_change_nothing(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user)
    fake_telnyx.send("call.hangup", ccid, hangup_cause="timeout")  # before the (late) answer
    fake_telnyx.send("call.answered", ccid)
    fake_telnyx.send("call.machine.detection.ended", ccid, result="human")
    fake_telnyx.send("call.speak.ended", ccid, status="completed")
    fake_telnyx.send("call.transcription", ccid, transcription_data={"transcript": "Hello?", "is_final": True})
    call.refresh_from_db()
    assert (call.status, call.answered_at, call.credits_charged) == (Call.Status.NO_ANSWER, None, 0)
    assert fake_telnyx.commands() == [] and call.turns.count() == 0


@pytest.mark.django_db
def test_speech_ending_after_the_hang_up_sends_no_command(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user)
    answer_human(fake_telnyx, ccid)
    fake_telnyx.send("call.hangup", ccid, hangup_cause="normal_clearing")
    fake_telnyx.finish_speaking(ccid)
    assert fake_telnyx.commands("transcription_start") == [] and fake_telnyx.commands("hangup") == []
    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED


@pytest.mark.django_db
def test_a_goodbye_that_ends_after_the_callee_hung_up_is_no_failure(user, fake_telnyx, caplog):  # noqa: F811
    call, ccid = dial(user)
    answer_human(fake_telnyx, ccid)
    fake_telnyx.finish_speaking(ccid)
    fake_telnyx.say(ccid, "No thanks, not interested")  # the agent says goodbye, then hangs up
    fake_telnyx.end(ccid)  # ... but the callee hangs up first; Telnyx's call.hangup comes later
    fake_telnyx.finish_speaking(ccid)
    assert len(fake_telnyx.commands("hangup", ccid)) == 1
    assert "failed" not in caplog.text
    fake_telnyx.send("call.hangup", ccid, hangup_cause="normal_clearing", hangup_source="callee")
    call.refresh_from_db()
    assert (call.status, call.outcome) == ("completed", "not_interested")


@pytest.mark.django_db
def test_a_recording_is_kept_by_reference_once(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user, record_calls=True)
    started = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
    payload = fake_telnyx.payload(
        ccid,
        recording_id="rec-123",
        recording_urls={"mp3": "https://s3.example/rec-123.mp3?X-Amz-Signature=s"},
        recording_started_at=started.isoformat(),
        recording_ended_at=(started + timedelta(seconds=37)).isoformat(),
        channels="single",
    )
    twice(fake_telnyx, "call.recording.saved", payload)
    call.refresh_from_db()
    assert (call.recording_id, call.recording_seconds) == ("rec-123", 37)
    assert call.recording_url == "https://s3.example/rec-123.mp3?X-Amz-Signature=s"


# --- robustness ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_crash_while_applying_rolls_the_event_back_so_telnyxs_retry_applies_it(user, fake_telnyx, monkeypatch):  # noqa: F811
    call, ccid = dial(user)
    answer_human(fake_telnyx, ccid)
    hangup = fake_telnyx.payload(ccid, hangup_cause="normal_clearing")

    def crash(**kwargs):
        raise DatabaseError("connection lost")

    real = telnyx_webhook.call_apply_event
    monkeypatch.setattr(telnyx_webhook, "call_apply_event", crash)
    with pytest.raises(DatabaseError):
        fake_telnyx.send_event("call.hangup", hangup, id="evt-hangup")
    assert not ProviderEvent.objects.filter(kind="call.hangup").exists()
    call.refresh_from_db()
    assert call.status == Call.Status.IN_PROGRESS

    monkeypatch.setattr(telnyx_webhook, "call_apply_event", real)
    assert fake_telnyx.send_event("call.hangup", hangup, id="evt-hangup").status_code == 200
    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED and balance(user).held == 0


@pytest.mark.django_db
def test_a_failed_command_is_logged_and_the_event_still_acknowledged(user, fake_telnyx, caplog):  # noqa: F811
    call, ccid = dial(user)
    fake_telnyx.fail_next.append((500, error("10011", "Internal error")))
    response = fake_telnyx.send("call.answered", ccid)
    assert response.status_code == 200
    assert ProviderEvent.objects.filter(kind="call.answered").exists()
    assert "Telnyx could not speak on the call: Internal error (10011)" in caplog.text
    call.refresh_from_db()
    assert call.status == Call.Status.IN_PROGRESS


@pytest.mark.django_db
def test_events_of_unknown_calls_or_of_other_legs_are_acknowledged_and_ignored(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user)
    stranger = fake_telnyx.send_event(
        "call.hangup", {"call_control_id": "v3:unknown", "hangup_cause": "normal_clearing"}
    )
    other_leg = fake_telnyx.payload(ccid, call_control_id="v3:transfer-leg", hangup_cause="normal_clearing")
    assert fake_telnyx.send_event("call.hangup", other_leg).content == b"unknown call"
    assert stranger.content == b"unknown call"
    assert not ProviderEvent.objects.exists()
    call.refresh_from_db()
    assert call.status == Call.Status.DIALING


# --- voicemail and transfers -------------------------------------------------------------------------


def greeting_ended(fake, ccid, example=TELNYX_MACHINE_GREETING_ENDED, **kwargs):
    """Telnyx's published event: it names the call by client_state only (no call_control_id)."""
    payload = {**example["payload"], "client_state": fake.payload(ccid)["client_state"]}
    return fake.send_event(example["event_type"], payload, **kwargs)


@pytest.mark.django_db
def test_a_machine_hears_the_voicemail_message_after_its_greeting_then_the_call_ends(
    user,
    fake_telnyx,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    call, ccid = dial(user, ai_disclosure=DISCLOSURE)
    fake_telnyx.send("call.answered", ccid)
    assert fake_telnyx.said(ccid) == [f"{DISCLOSURE} {OPENING}"]  # said at once, as to a person
    fake_telnyx.send("call.machine.detection.ended", ccid, result="machine")
    call.refresh_from_db()
    assert call.answered_by == "machine"

    # While the greeting plays, the agent neither listens nor asks again.
    with django_capture_on_commit_callbacks(execute=True):
        fake_telnyx.finish_speaking(ccid)
    telnyx_webhook.telnyx_silence_check(call.pk, 1)
    assert fake_telnyx.commands("transcription_start") == [] and len(fake_telnyx.commands()) == 1

    assert greeting_ended(fake_telnyx, ccid, id="evt-greeting").status_code == 200
    assert greeting_ended(fake_telnyx, ccid, id="evt-greeting").content == b"duplicate ignored"
    greeting_ended(fake_telnyx, ccid)  # the same news under another id: nothing more to say
    speak = fake_telnyx.commands("speak", ccid)[-1]
    assert fake_telnyx.said(ccid) == [f"{DISCLOSURE} {OPENING}", VOICEMAIL]
    assert speak.json["stop"] == "all"  # whatever still plays gives way to the message
    fake_telnyx.finish_speaking(ccid)
    assert len(fake_telnyx.commands("hangup", ccid)) == 1 and fake_telnyx.commands("transcription_start") == []
    fake_telnyx.send("call.hangup", ccid, hangup_cause="normal_clearing")
    call.refresh_from_db()
    assert (call.status, call.answered_by, call.outcome) == ("completed", "machine", "voicemail")
    assert list(call.turns.values_list("text", flat=True)) == [f"{DISCLOSURE} {OPENING}", VOICEMAIL]


@pytest.mark.django_db
def test_premium_detection_ends_the_greeting_the_same_way(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user)
    fake_telnyx.send("call.answered", ccid)
    fake_telnyx.send("call.machine.premium.detection.ended", ccid, result="machine")
    greeting_ended(fake_telnyx, ccid, example=TELNYX_MACHINE_PREMIUM_GREETING_ENDED)
    assert fake_telnyx.said(ccid) == [OPENING, VOICEMAIL]


@pytest.mark.django_db
@pytest.mark.parametrize("result", ["human_residence", "human_business"])
def test_premium_detection_of_a_person_changes_nothing_but_the_record(user, fake_telnyx, result):  # noqa: F811
    call, ccid = dial(user)
    fake_telnyx.send("call.answered", ccid)
    fake_telnyx.send("call.machine.premium.detection.ended", ccid, result=result)
    assert fake_telnyx.said(ccid) == [OPENING]
    call.refresh_from_db()
    assert call.answered_by == "human"


@pytest.mark.django_db
def test_an_agent_that_leaves_no_message_hangs_up_on_a_machine_without_a_word(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user, voicemail_action="hangup")
    fake_telnyx.send("call.answered", ccid)
    fake_telnyx.send("call.machine.detection.ended", ccid, result="machine")
    greeting_ended(fake_telnyx, ccid)
    assert fake_telnyx.said(ccid) == [OPENING]
    (hangup,) = fake_telnyx.commands("hangup", ccid)
    assert hangup.json == {"command_id": f"hangup-{call.pk}"}


@pytest.mark.django_db
def test_a_callee_who_asks_for_a_person_is_transferred_after_the_agent_says_so(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user, transfer_number="+14155550999")
    answer_human(fake_telnyx, ccid)
    fake_telnyx.finish_speaking(ccid)
    fake_telnyx.say(ccid, "Can I speak to a real person please?")
    assert fake_telnyx.said(ccid)[-1] == TRANSFERRING
    assert fake_telnyx.commands("transfer") == []  # not before the agent has said it
    fake_telnyx.finish_speaking(ccid)
    (transfer,) = fake_telnyx.commands("transfer", ccid)
    assert transfer.json["to"] == "+14155550999"
    assert fake_telnyx.commands("hangup") == []
    call.refresh_from_db()
    assert call.outcome == "transferred"


# --- inbound calls -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_inbound_call_to_an_owned_number_is_answered_by_its_agent_and_settled(user, fake_telnyx):  # noqa: F811
    agent = make_agent(
        user, name="Front desk", opening_line="Acme, how can I help?", questions="", ai_disclosure=DISCLOSURE
    )
    PhoneNumber.objects.create(
        workspace=user.personal_workspace, number=OUR_NUMBER, provider="telnyx", inbound_agent=agent
    )
    ccid = "v3:inbound-0001"
    initiated = {"call_control_id": ccid, "direction": "incoming", "from": CALLER, "to": OUR_NUMBER, "state": "parked"}
    twice(fake_telnyx, "call.initiated", initiated)

    call = Call.objects.get(provider_call_id=ccid)
    assert (call.direction, call.from_number, call.to_number, call.agent) == ("inbound", CALLER, OUR_NUMBER, agent)
    (answer,) = fake_telnyx.commands("answer", ccid)
    assert decode_state(answer.json["client_state"]) == {"call_id": call.pk, "inbound": 1}
    assert answer.json["webhook_url"] == f"{PUBLIC}/telephony/telnyx/webhook/"
    assert ProviderEvent.objects.get(kind="call.initiated").call_id == call.pk

    answered = datetime.now(UTC) - timedelta(seconds=60)
    fake_telnyx.send("call.answered", ccid, at=answered)
    assert fake_telnyx.said(ccid) == [f"{DISCLOSURE} Acme, how can I help?"]
    fake_telnyx.finish_speaking(ccid)
    assert len(fake_telnyx.commands("transcription_start", ccid)) == 1
    fake_telnyx.send("call.hangup", ccid, hangup_cause="normal_clearing", at=answered + timedelta(seconds=30))
    call.refresh_from_db()
    assert (call.status, call.answered_by, call.duration_seconds, call.credits_charged) == (
        "completed",
        "human",
        30,
        30,
    )
    assert (balance(user).balance, balance(user).held) == (70, 0)


@pytest.mark.django_db
def test_an_inbound_call_without_a_call_control_id_is_refused_and_changes_nothing(user, fake_telnyx):  # noqa: F811
    agent = make_agent(user, name="Front desk", opening_line="Acme, how can I help?", questions="")
    PhoneNumber.objects.create(
        workspace=user.personal_workspace, number=OUR_NUMBER, provider="telnyx", inbound_agent=agent
    )
    payload = {**TELNYX_INBOUND_INITIATED["payload"], "from": CALLER, "to": OUR_NUMBER}
    del payload["call_control_id"]

    response = fake_telnyx.send_event("call.initiated", payload)

    assert response.status_code == 400
    assert not Call.objects.exists() and not ProviderEvent.objects.exists()
    assert fake_telnyx.requests == []  # nothing answered
    assert (balance(user).balance, balance(user).held) == (100, 0)


@pytest.mark.django_db
def test_a_call_nobody_can_take_hears_a_short_message_and_is_ended(user, fake_telnyx):  # noqa: F811
    ccid = "v3:inbound-0002"
    fake_telnyx.send_event(
        "call.initiated", {"call_control_id": ccid, "direction": "incoming", "from": CALLER, "to": "+14155550777"}
    )
    (answer,) = fake_telnyx.commands("answer", ccid)
    assert decode_state(answer.json["client_state"]) == {"nobody": 1}
    fake_telnyx.send("call.answered", ccid)
    assert fake_telnyx.said(ccid) == [NOBODY_AVAILABLE.say]
    fake_telnyx.finish_speaking(ccid)
    assert len(fake_telnyx.commands("hangup", ccid)) == 1
    fake_telnyx.send("call.hangup", ccid, hangup_cause="normal_clearing")
    assert not Call.objects.exists()


# --- a whole campaign -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_campaign_runs_on_telnyx_from_dial_to_settled_credits(user, run_jobs, fake_telnyx):  # noqa: F811
    campaign = make_campaign(user, [TO], ai_disclosure=DISCLOSURE)
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()
    (dialed,) = fake_telnyx.dials()
    call = Call.objects.get(campaign=campaign)
    ccid = call.provider_call_id
    assert ccid in fake_telnyx.calls and decode_state(dialed["client_state"]) == {"call_id": call.pk}
    assert dialed["time_limit_secs"] == call.time_limit_seconds == 100

    answered = datetime.now(UTC) - timedelta(seconds=120)
    answer_human(fake_telnyx, ccid, at=answered)
    assert fake_telnyx.finish_speaking(ccid) == [f"{DISCLOSURE} {OPENING}"]
    fake_telnyx.say(ccid, "Yes that sounds good")
    assert fake_telnyx.finish_speaking(ccid) == [SECOND_QUESTION]
    fake_telnyx.say(ccid, "About twelve of us")
    assert fake_telnyx.finish_speaking(ccid) == [CLOSING]
    assert len(fake_telnyx.commands("hangup", ccid)) == 1
    assert len(fake_telnyx.commands("transcription_start", ccid)) == 1
    fake_telnyx.send("call.hangup", ccid, hangup_cause="normal_clearing", at=answered + timedelta(seconds=47))
    fake_telnyx.send("call.hangup", ccid, hangup_cause="normal_clearing", at=answered + timedelta(seconds=47))
    run_jobs()

    call.refresh_from_db()
    assert (call.status, call.outcome, call.duration_seconds, call.credits_charged) == (
        "completed",
        "interested",
        47,
        47,
    )
    assert call.captured == [
        ["Are you the person who handles scheduling?", "Yes that sounds good"],
        ["How many people are on your team?", "About twelve of us"],
    ]
    assert [t.speaker for t in call.turns.order_by("sequence")] == ["agent", "callee", "agent", "callee", "agent"]
    assert (balance(user).balance, balance(user).held) == (53, 0)
    assert CampaignContact.objects.get(campaign=campaign).status == CampaignContact.Status.DONE
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


# --- nothing held open while waiting for Telnyx or for the model ------------------------------------


def _database_while_telnyx_is_asked(call) -> list[dict]:
    """For each command the fake receives: whether the call row could be locked by someone else
    at that moment, and whether the event that led to it was already committed."""
    from django.db import OperationalError, connection, transaction

    seen = []

    def look(received):
        if not received.action:
            return
        try:
            with transaction.atomic():
                Call.objects.select_for_update(nowait=True).get(pk=call.pk)
            free = True
        except OperationalError:
            free = False
        seen.append({"action": received.action, "call_row_free": free, "events": ProviderEvent.objects.count()})
        connection.close()

    return seen, look


@pytest.mark.django_db(transaction=True)
def test_commands_go_out_after_the_event_is_committed_with_the_call_row_free(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user)
    seen, fake_telnyx.on_request = _database_while_telnyx_is_asked(call)

    fake_telnyx.send("call.answered", ccid)  # -> speak the opening
    fake_telnyx.finish_speaking(ccid)  # -> start transcription
    fake_telnyx.say(ccid, "Yes, that's me")  # a turn -> speak the next question
    fake_telnyx.finish_speaking(ccid)
    fake_telnyx.say(ccid, "No thanks, not interested")  # -> goodbye
    fake_telnyx.finish_speaking(ccid)  # -> hang up

    assert [s["action"] for s in seen] == ["speak", "transcription_start", "speak", "speak", "hangup"]
    assert all(s["call_row_free"] for s in seen), seen
    assert all(s["events"] > 0 for s in seen)  # each event that caused a command was committed before it


@pytest.mark.django_db(transaction=True)
def test_the_model_thinks_outside_the_webhooks_transaction_on_telnyx(user, fake_telnyx, settings):  # noqa: F811
    import threading

    from campaigns.tests.fake_llm import FakeLLM

    fake_llm = FakeLLM().start()
    settings.LLM_BASE_URL, settings.LLM_API_KEY, settings.LLM_MODEL = fake_llm.base_url, "k", "fake-model"
    settings.LLM_TIMEOUT_SECONDS = settings.TURN_DEADLINE_SECONDS = 10
    try:
        call, ccid = dial(user)
        fake_telnyx.send("call.answered", ccid)
        fake_telnyx.finish_speaking(ccid)
        gate = threading.Event()
        fake_llm.reply("Twelve people, lovely.", gate=gate)
        seen, look = _database_while_telnyx_is_asked(call)
        from django.db import connection

        def callee_speaks():
            try:
                fake_telnyx.say(ccid, "We are twelve")
            finally:
                connection.close()

        thread = threading.Thread(target=callee_speaks)
        thread.start()
        try:
            assert fake_llm.arrived.wait(5)
            look(type("R", (), {"action": "(model thinking)"})())
        finally:
            gate.set()
            thread.join(10)
        assert seen == [{"action": "(model thinking)", "call_row_free": True, "events": seen[0]["events"]}]
        assert ProviderEvent.objects.filter(kind="call.transcription").exists()
        assert fake_telnyx.said(ccid)[-1] == "Twelve people, lovely."
    finally:
        fake_llm.stop()
