"""Why a call did not connect, in the same words whichever carrier reported it: Twilio's
wire format (status callbacks with CallStatus and SipResponseCode) and Telnyx's call.hangup
(hangup_cause and sip_hangup_cause), both signed the carriers' way; shown on the call's page and
in the call list."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from campaigns.models import Call
from telephony.tests.carrier_examples import TELNYX_HANGUP
from telephony.tests.fake_telnyx import fake_telnyx  # noqa: F401 - fixture
from telephony.tests.test_telnyx_webhook import dial
from telephony.tests.test_webhooks import make_call, status

READABLE = [
    # (words, Twilio CallStatus and SipResponseCode, Telnyx hangup_cause and sip_hangup_cause)
    ("Busy", ("busy", "486"), ("user_busy", "486")),
    ("Declined", ("busy", "603"), ("call_rejected", "603")),
    ("No answer", ("no-answer", "487"), ("timeout", "unspecified")),
    ("Number not in service", ("failed", "404"), ("not_found", "404")),
]


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_BASE_URL = "https://clozit.example.com"
    settings.SIMULATED_SIGNING_SECRET = "simulated-test-secret"


@pytest.mark.django_db
@pytest.mark.parametrize(("words", "twilio", "telnyx"), READABLE, ids=[r[0] for r in READABLE])
def test_both_carriers_give_the_same_readable_reason(client, user, fake_telnyx, words, twilio, telnyx):  # noqa: F811
    by_twilio = make_call(user)  # the simulated carrier speaks Twilio's wire format
    status(client, by_twilio, "ringing")
    status(client, by_twilio, twilio[0], SipResponseCode=twilio[1], CallDuration="0")

    by_telnyx, ccid = dial(user)
    fake_telnyx.send("call.initiated", ccid, direction="outgoing", state="parked")
    hangup = {k: v for k, v in TELNYX_HANGUP["payload"].items() if k not in ("call_control_id", "client_state")}
    fake_telnyx.send("call.hangup", ccid, **{**hangup, "hangup_cause": telnyx[0], "sip_hangup_cause": telnyx[1]})

    by_twilio.refresh_from_db()
    by_telnyx.refresh_from_db()
    assert by_twilio.failure_reason == by_telnyx.failure_reason == words
    assert by_twilio.status == by_telnyx.status


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source", "status", "words"),
    [
        ("callee", Call.Status.NO_ANSWER, "No answer"),
        ("caller", Call.Status.CANCELED, "Canceled before it was answered"),
    ],
)
def test_a_telnyx_call_cleared_before_anyone_answered_is_not_completed(user, fake_telnyx, source, status, words):  # noqa: F811
    call, ccid = dial(user)
    fake_telnyx.send("call.initiated", ccid, direction="outgoing", state="parked")
    fake_telnyx.send("call.hangup", ccid, hangup_cause="normal_clearing", hangup_source=source, sip_hangup_cause="487")
    call.refresh_from_db()
    assert (call.status, call.failure_reason, call.duration_seconds, call.credits_charged) == (status, words, 0, 0)
    assert call.outcome == ""  # nobody answered: no conversation had an outcome


@pytest.mark.django_db
def test_a_telnyx_call_cleared_after_the_answer_is_completed(user, fake_telnyx):  # noqa: F811
    call, ccid = dial(user, detect=False)
    answered = datetime.now(UTC) - timedelta(seconds=30)
    fake_telnyx.send("call.answered", ccid, at=answered)
    fake_telnyx.send(
        "call.hangup", ccid, hangup_cause="normal_clearing", hangup_source="callee", at=answered + timedelta(seconds=20)
    )
    call.refresh_from_db()
    assert (call.status, call.failure_reason, call.duration_seconds) == (Call.Status.COMPLETED, "", 20)


@pytest.mark.django_db
def test_the_reason_is_shown_on_the_call_page_and_in_the_call_list(client, user):
    call = make_call(user)
    status(client, call, "ringing")
    status(client, call, "busy", SipResponseCode="603", CallDuration="0")
    client.force_login(user)
    for page in (reverse("call_detail", args=[call.pk]), reverse("call_list")):
        html = client.get(page).content.decode()
        assert "Declined" in html and "603" not in html, page
