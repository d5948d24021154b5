"""Twilio's asynchronous answering-machine detection: the callee hears the opening at once; the
verdict comes later to /telephony/<provider>/calls/<id>/amd/ (signed like every webhook), and a
machine whose greeting has ended gets the agent's voicemail choice by redirecting the live call
(calls(sid).update(twiml=...)) through the real SDK against the fake Twilio."""

import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from campaigns.models import Call
from telephony.models import ProviderEvent
from telephony.providers.base import OutboundCall
from telephony.providers.twilio import TwilioProvider
from telephony.tests.carrier_examples import TWILIO_ASYNC_AMD
from telephony.tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, fake_twilio  # noqa: F401 - fixture
from telephony.tests.test_webhooks import PUBLIC, make_call, params, post

VOICEMAIL = "Hi Person0, Sam from Acme here. We'll try again soon."
OPENING = "Hi Person0, this is Sam from Acme. Are you the person who handles scheduling?"


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.TELEPHONY_PROVIDER = "twilio"


@pytest.fixture
def live_call(user, fake_twilio):  # noqa: F811
    """A call on Twilio, answered with asynchronous detection: the opening has been said."""
    fake_twilio.place_calls = False
    call = make_call(user, provider="twilio")
    sid = dial(call)
    Call.objects.filter(pk=call.pk).update(provider_call_id=sid)
    fake_twilio.set_status(sid, "in-progress")
    answer = twilio_post(
        reverse("telephony_answer", kwargs={"provider": "twilio", "call_id": call.pk}),
        params(CallSid=sid, AccountSid=ACCOUNT_SID, CallStatus="in-progress"),
    )
    assert OPENING in answer.content.decode()
    call.refresh_from_db()
    return call


def dial(call) -> str:
    kwargs = {"provider": "twilio", "call_id": call.pk}
    return TwilioProvider().place_call(
        OutboundCall(
            call_id=call.pk,
            to=call.to_number,
            from_=call.from_number,
            time_limit_seconds=call.time_limit_seconds,
            answer_url=PUBLIC + reverse("telephony_answer", kwargs=kwargs),
            status_url=PUBLIC + reverse("telephony_status", kwargs=kwargs),
        )
    )


def twilio_post(path, body):
    from django.test import Client

    return post(Client(), path, body, secret=AUTH_TOKEN)


def verdict(call, answered_by, **extra):
    """Twilio's AsyncAmdStatusCallback request, as documented (carrier_examples.TWILIO_ASYNC_AMD)."""
    body = {**TWILIO_ASYNC_AMD, "CallSid": call.provider_call_id, "AnsweredBy": answered_by, **extra}
    return twilio_post(reverse("telephony_amd", kwargs={"provider": "twilio", "call_id": call.pk}), body)


@pytest.mark.django_db
@pytest.mark.parametrize("ending", ["machine_end_beep", "machine_end_silence", "machine_end_other"])
def test_a_machine_whose_greeting_ended_gets_the_message_then_the_call_ends(live_call, fake_twilio, ending):  # noqa: F811
    assert verdict(live_call, ending).status_code == 204
    assert verdict(live_call, ending).content == b"duplicate ignored"  # Twilio may send it twice

    (redirect,) = fake_twilio.redirects
    assert redirect[0] == live_call.provider_call_id
    root = ET.fromstring(redirect[1])
    assert [(verb.tag, verb.text) for verb in root] == [("Say", VOICEMAIL), ("Hangup", None)]
    live_call.refresh_from_db()
    assert (live_call.answered_by, live_call.outcome) == ("machine", "voicemail")
    assert list(live_call.turns.values_list("text", flat=True)) == [OPENING, VOICEMAIL]


@pytest.mark.django_db
def test_what_the_gather_heard_of_the_greeting_is_not_kept_as_answers(live_call, fake_twilio):  # noqa: F811
    twilio_post(
        reverse("telephony_turn", kwargs={"provider": "twilio", "call_id": live_call.pk, "turn": 1}),
        params(
            CallSid=live_call.provider_call_id,
            CallStatus="in-progress",
            SpeechResult="You have reached the voicemail of Person Zero",
        ),
    )
    verdict(live_call, "machine_end_beep")
    live_call.refresh_from_db()
    assert live_call.captured == [] and live_call.outcome == "voicemail"


@pytest.mark.django_db
def test_an_agent_that_leaves_no_message_hangs_up_on_the_machine(user, fake_twilio):  # noqa: F811
    fake_twilio.place_calls = False
    call = make_call(user, provider="twilio", voicemail_action="hangup")
    sid = dial(call)
    Call.objects.filter(pk=call.pk).update(provider_call_id=sid, status=Call.Status.IN_PROGRESS)
    fake_twilio.set_status(sid, "in-progress")
    call.refresh_from_db()
    verdict(call, "machine_end_silence")
    (redirect,) = fake_twilio.redirects
    assert [verb.tag for verb in ET.fromstring(redirect[1])] == ["Hangup"]


@pytest.mark.django_db
def test_a_person_changes_nothing_but_the_record(live_call, fake_twilio):  # noqa: F811
    assert verdict(live_call, "human").status_code == 204
    assert fake_twilio.redirects == []
    live_call.refresh_from_db()
    assert live_call.answered_by == "human" and live_call.turns.count() == 1


@pytest.mark.django_db
def test_an_unknown_verdict_lets_the_conversation_go_on(live_call, fake_twilio):  # noqa: F811
    verdict(live_call, "unknown")
    assert fake_twilio.redirects == []
    live_call.refresh_from_db()
    assert live_call.answered_by == ""


@pytest.mark.django_db
def test_a_verdict_after_the_call_ended_changes_nothing(client, live_call, fake_twilio):  # noqa: F811
    twilio_post(
        reverse("telephony_status", kwargs={"provider": "twilio", "call_id": live_call.pk}),
        params(CallSid=live_call.provider_call_id, CallStatus="completed", CallDuration="9"),
    )
    fake_twilio.set_status(live_call.provider_call_id, "completed")
    assert verdict(live_call, "machine_end_beep").status_code == 204
    assert fake_twilio.redirects == []
    live_call.refresh_from_db()
    assert live_call.turns.count() == 1


@pytest.mark.django_db
def test_a_call_that_ended_at_twilio_meanwhile_is_no_failure_worth_retrying(live_call, fake_twilio, caplog):  # noqa: F811
    fake_twilio.set_status(live_call.provider_call_id, "completed")  # the machine hung up first
    assert verdict(live_call, "machine_end_beep").status_code == 204
    assert fake_twilio.redirects == []
    assert "21220" in caplog.text  # logged once, nothing retried
    assert ProviderEvent.objects.filter(kind="amd").count() == 1


@pytest.mark.django_db
def test_an_unsigned_verdict_is_refused_and_changes_nothing(client, live_call, fake_twilio):  # noqa: F811
    path = reverse("telephony_amd", kwargs={"provider": "twilio", "call_id": live_call.pk})
    body = {**TWILIO_ASYNC_AMD, "CallSid": live_call.provider_call_id}
    assert post(client, path, body, secret="not-the-auth-token").status_code == 403
    assert fake_twilio.redirects == []
    live_call.refresh_from_db()
    assert live_call.answered_by == ""
