"""Provider webhooks: signed with Twilio's real algorithm over our public URL, refused and
ignored when unsigned or forged, idempotent when replayed, and never moving a call backwards.

Each test posts to the endpoints the way the simulated carrier (and Twilio) does: a
form-encoded body and an `X-Twilio-Signature` header.
"""

import threading
import xml.etree.ElementTree as ET
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse
from twilio.request_validator import RequestValidator

from billing import ledger
from billing.models import CreditHold, LedgerEntry
from campaigns.conversation.engine.scripted import GOODBYE_DNC
from campaigns.models import Call, CallTurn, DoNotCall
from campaigns.tests.factories import make_agent, make_list
from telephony import simulator
from telephony.models import ProviderEvent
from telephony.providers.simulated import SimulatedProvider

PUBLIC = "https://clozit.example.com"
SID = "SM0123456789abcdef0123456789abcdef"
TO = "+12025550101"
OPENING = "Hi Person0, this is Sam from Acme. Are you the person who handles scheduling?"


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.SIMULATED_SIGNING_SECRET = "simulated-test-secret"


def make_call(user, *, provider="simulated", **agent_overrides) -> Call:
    agent = make_agent(user, **agent_overrides)
    contact = make_list(user, [TO]).contacts.get()
    call = Call.objects.create(
        workspace=user.personal_workspace,
        contact=contact,
        agent=agent,
        to_number=contact.phone_number,
        from_number="+14155550000",
        provider=provider,
        status=Call.Status.DIALING,
    )
    hold = ledger.hold_place(
        workspace=user.personal_workspace,
        reference=f"call:{call.pk}",
        max_amount=ledger.call_cost(seconds=agent.max_call_seconds),
        min_amount=Decimal(10),
        lifetime=timedelta(seconds=agent.max_call_seconds + 120),
    )
    call.hold_reference = hold.reference
    call.time_limit_seconds = int(hold.amount)
    call.save(update_fields=["hold_reference", "time_limit_seconds"])
    return call


@pytest.fixture
def call(user):
    # 120 s agent, 100 starter credits: the hold and the time limit are 100.
    return make_call(user)


def answer_path(call_id, provider="simulated"):
    return reverse("telephony_answer", kwargs={"provider": provider, "call_id": call_id})


def turn_path(call_id, turn, provider="simulated"):
    return reverse("telephony_turn", kwargs={"provider": provider, "call_id": call_id, "turn": turn})


def status_path(call_id, provider="simulated"):
    return reverse("telephony_status", kwargs={"provider": provider, "call_id": call_id})


def params(**extra) -> dict:
    return {
        "AccountSid": "ACsimulated",
        "CallSid": SID,
        "From": "+14155550000",
        "To": TO,
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def sign(url: str, body: dict, secret: str = "simulated-test-secret") -> str:
    return RequestValidator(secret).compute_signature(url, body)


def post(client, path, body, *, signature=None, signed_url=None, secret="simulated-test-secret", sent_body=None):
    """Post `sent_body` (default `body`) to `path`, signed over `signed_url` (default: our public URL)."""
    if signature is None:
        signature = sign(signed_url or PUBLIC + path, body, secret)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return client.post(
        path,
        data=urlencode(sent_body if sent_body is not None else body),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


def answer(client, call, answered_by="human"):
    return post(client, answer_path(call.pk), params(CallStatus="in-progress", AnsweredBy=answered_by))


def say_turn(client, call, turn, speech):
    body = params(CallStatus="in-progress", SpeechResult=speech, Confidence="0.92" if speech else "0")
    return post(client, turn_path(call.pk, turn), body)


def status(client, call, call_status, **extra):
    return post(client, status_path(call.pk), params(CallStatus=call_status, **extra))


def twiml(response) -> ET.Element:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return root


def snapshot(call_id) -> dict:
    """Everything a webhook may change, to show that a refused one changed nothing."""
    call = Call.objects.get(pk=call_id)
    return {
        "call": (
            call.status,
            call.answered_at,
            call.answered_by,
            call.engine_state,
            call.outcome,
            call.provider_call_id,
            call.duration_seconds,
            call.credits_charged,
        ),
        "turns": CallTurn.objects.filter(call_id=call_id).count(),
        "events": ProviderEvent.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "holds": list(CreditHold.objects.values_list("reference", "status", "charged")),
        "dnc": DoNotCall.objects.count(),
    }


# --- the signature algorithm ------------------------------------------------------------------


def test_twilio_documented_signature_vector():
    """Twilio's own documented example: proves we use Twilio's real algorithm."""
    body = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert RequestValidator("12345").compute_signature(url, body) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_provider_accepts_twilio_documented_vector_over_the_public_url(settings):
    settings.PUBLIC_BASE_URL = "https://mycompany.com"
    settings.SIMULATED_SIGNING_SECRET = "12345"
    body = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    provider = SimulatedProvider()

    def signed(signature):
        # Behind a proxy the app sees its internal host; the signature covers the public one.
        return RequestFactory(HTTP_HOST="10.0.0.5:8000").post(
            "/myapp.php?foo=1&bar=2", data=body, HTTP_X_TWILIO_SIGNATURE=signature
        )

    assert provider.verify_webhook(signed("0/KCTR6DLpKmkAf8muzZqo1nDgQ="))
    assert not provider.verify_webhook(signed("1/KCTR6DLpKmkAf8muzZqo1nDgQ="))
    assert not provider.verify_webhook(signed(""))

    settings.PUBLIC_BASE_URL = "https://othercompany.com"
    assert not provider.verify_webhook(signed("0/KCTR6DLpKmkAf8muzZqo1nDgQ="))


# --- refusals: nothing changes --------------------------------------------------------------


def endpoint_requests(call):
    """(path, body) for each endpoint, with a body that would change something if accepted."""
    return {
        "answer": (answer_path(call.pk), params(CallStatus="in-progress", AnsweredBy="human")),
        "turn": (turn_path(call.pk, 1), params(CallStatus="in-progress", SpeechResult="please stop calling me")),
        "status": (status_path(call.pk), params(CallStatus="completed", CallDuration="37")),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["answer", "turn", "status"])
def test_unsigned_webhook_is_refused_and_changes_nothing(client, call, endpoint):
    if endpoint == "turn":
        assert answer(client, call).status_code == 200
    path, body = endpoint_requests(call)[endpoint]
    before = snapshot(call.pk)

    response = post(client, path, body, signature="")

    assert response.status_code == 403
    assert snapshot(call.pk) == before


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["answer", "turn", "status"])
@pytest.mark.parametrize(
    "forgery",
    [
        pytest.param({"secret": "not-the-secret"}, id="wrong-secret"),
        pytest.param({"signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}, id="garbage"),
        pytest.param({"signed_url": "https://evil.example.com{path}"}, id="other-host"),
        pytest.param({"signed_url": "http://clozit.example.com{path}"}, id="other-scheme"),
        pytest.param({"signed_url": "http://testserver{path}"}, id="internal-url"),
        pytest.param({"signed_url": PUBLIC + "/telephony/simulated/calls/{other}/status/"}, id="other-call-url"),
        pytest.param({"tamper": True}, id="tampered-body"),
    ],
)
def test_forged_webhook_is_refused_and_changes_nothing(client, call, endpoint, forgery):
    if endpoint == "turn":
        assert answer(client, call).status_code == 200
    path, body = endpoint_requests(call)[endpoint]
    before = snapshot(call.pk)
    kwargs = dict(forgery)
    if "signed_url" in kwargs:
        kwargs["signed_url"] = kwargs["signed_url"].format(path=path, other=call.pk + 1)
    if kwargs.pop("tamper", False):
        # Signed with a harmless body, sent with a different one.
        kwargs["sent_body"] = {**body, "CallDuration": "3600", "SpeechResult": "remove me", "AnsweredBy": "machine"}

    response = post(client, path, body, **kwargs)

    assert response.status_code == 403
    assert snapshot(call.pk) == before


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["answer", "turn", "status"])
def test_valid_signature_for_an_unknown_call_is_404(client, call, endpoint):
    missing = call.pk + 1000
    path = {"answer": answer_path(missing), "turn": turn_path(missing, 1), "status": status_path(missing)}[endpoint]
    before = snapshot(call.pk)

    response = post(client, path, params(CallStatus="completed", CallDuration="37"))

    assert response.status_code == 404
    assert snapshot(call.pk) == before


@pytest.mark.django_db
def test_signature_for_one_call_cannot_be_replayed_against_another(client, user, call):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(100), kind=LedgerEntry.Kind.PURCHASE, reference="pack:1"
    )
    other = make_call(user)
    body = params(CallStatus="completed", CallDuration="37")
    signature = sign(PUBLIC + status_path(call.pk), body)
    before = snapshot(other.pk)

    response = post(client, status_path(other.pk), body, signature=signature)

    assert response.status_code == 403
    assert snapshot(other.pk) == before


@pytest.mark.django_db
def test_unknown_provider_is_404(client, call):
    path = status_path(call.pk, provider="no-such-carrier")
    before = snapshot(call.pk)
    response = post(client, path, params(CallStatus="completed", CallDuration="37"))
    assert response.status_code == 404
    assert snapshot(call.pk) == before


@pytest.mark.django_db
def test_call_of_another_provider_is_404_on_the_simulated_endpoint(client, user):
    call = make_call(user, provider="twilio")
    before = snapshot(call.pk)
    response = status(client, call, "completed", CallDuration="37")
    assert response.status_code == 404
    assert snapshot(call.pk) == before


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["telephony_answer", "telephony_status"])
def test_webhooks_only_accept_post(client, call, name):
    path = reverse(name, kwargs={"provider": "simulated", "call_id": call.pk})
    assert client.get(path).status_code == 405


# --- answer and turns -------------------------------------------------------------------------


@pytest.mark.django_db
def test_answer_returns_the_opening_line_and_listens(client, call):
    root = twiml(answer(client, call))

    [gather] = list(root)
    assert gather.tag == "Gather"
    assert gather.get("input") == "speech"
    assert gather.get("method") == "POST"
    assert gather.get("action") == PUBLIC + turn_path(call.pk, 1)
    [say] = list(gather)
    assert say.tag == "Say"
    assert say.text == OPENING  # {{first_name}} filled in
    assert say.get("voice") == "Polly.Joanna" and say.get("language") == "en-US"

    call.refresh_from_db()
    assert call.status == Call.Status.IN_PROGRESS
    assert call.answered_at is not None
    assert call.answered_by == "human"
    assert list(call.turns.values_list("speaker", "text")) == [("agent", OPENING)]


@pytest.mark.django_db
def test_the_speech_gather_is_one_twilio_runs_without_warnings(client, call):
    """speechTimeout="auto" with speechModel="phone_call" drew warnings 13335, 13327 and 13328 on
    every turn; Twilio allows "auto" only when no speechModel is set (and a whole number of
    seconds with one). The turn ends at the callee's first pause: "auto", without a model."""
    [gather] = list(twiml(answer(client, call)))
    assert gather.get("speechModel") is None
    assert gather.get("speechTimeout") == "auto"
    simulator.check_twiml(gather)  # the simulated carrier refuses what Twilio would warn about
    later = twiml(say_turn(client, call, 1, "Yes, that's me"))
    for verb in later.iter("Gather"):
        simulator.check_twiml(verb)


@pytest.mark.django_db
def test_answer_delivered_twice_says_the_same_and_records_once(client, call):
    first = answer(client, call)
    second = answer(client, call)
    assert second.content == first.content
    assert call.turns.count() == 1


@pytest.mark.django_db
def test_answer_by_a_machine_leaves_the_voicemail_and_hangs_up(client, call):
    root = twiml(answer(client, call, answered_by="machine_end_beep"))
    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    assert root[0].text == "Hi Person0, Sam from Acme here. We'll try again soon."
    call.refresh_from_db()
    assert call.answered_by == "machine"
    assert call.outcome == Call.Outcome.VOICEMAIL


@pytest.mark.django_db
def test_answer_for_a_finished_call_hangs_up(client, call):
    assert status(client, call, "canceled").status_code == 204
    root = twiml(answer(client, call))
    assert [verb.tag for verb in root] == ["Hangup"]
    assert call.turns.count() == 0


@pytest.mark.django_db
def test_turn_records_what_was_said_and_asks_the_next_question(client, call):
    answer(client, call)

    root = twiml(say_turn(client, call, 1, "Yes, that's me."))

    [gather] = list(root)
    assert gather.get("action") == PUBLIC + turn_path(call.pk, 2)
    assert gather[0].text == "Thank you. How many people are on your team?"
    assert list(call.turns.values_list("sequence", "speaker", "text")) == [
        (1, "agent", OPENING),
        (2, "callee", "Yes, that's me."),
        (3, "agent", "Thank you. How many people are on your team?"),
    ]
    call.refresh_from_db()
    assert call.captured == [["Are you the person who handles scheduling?", "Yes, that's me."]]

    # The last answer closes the call: the agent says goodbye and hangs up.
    root = twiml(say_turn(client, call, 2, "About twenty."))
    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    assert root[0].text == "Thanks Person0, we will send you the details. Goodbye!"
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.INTERESTED
    assert len(call.captured) == 2
    assert call.turns.count() == 5


@pytest.mark.django_db
def test_replayed_turn_returns_the_same_twiml_and_adds_no_turns(client, call):
    answer(client, call)
    first = say_turn(client, call, 1, "Yes, that's me.")
    turns = list(call.turns.values_list("sequence", "speaker", "text"))
    call.refresh_from_db()
    state = call.engine_state

    again = say_turn(client, call, 1, "Yes, that's me.")
    different = say_turn(client, call, 1, "Something else entirely.")  # a retry with other speech
    stale = say_turn(client, call, 0, "An old turn.")

    assert again.content == different.content == stale.content == first.content
    assert list(call.turns.values_list("sequence", "speaker", "text")) == turns
    call.refresh_from_db()
    assert call.engine_state == state


@pytest.mark.django_db
def test_turn_ahead_of_the_conversation_advances_nothing(client, call):
    answer(client, call)
    first = answer(client, call)
    ahead = say_turn(client, call, 5, "Hello?")
    assert ahead.content == first.content
    assert call.turns.count() == 1


@pytest.mark.django_db
def test_please_stop_calling_me_hangs_up_and_adds_the_number_to_do_not_call(client, user, call):
    answer(client, call)

    root = twiml(say_turn(client, call, 1, "Please stop calling me."))

    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    assert root[0].text == GOODBYE_DNC
    assert DoNotCall.objects.filter(workspace=user.personal_workspace, phone_number=TO).exists()
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.DO_NOT_CALL
    # Replaying the turn neither duplicates the entry nor the transcript.
    say_turn(client, call, 1, "Please stop calling me.")
    assert DoNotCall.objects.filter(workspace=user.personal_workspace).count() == 1
    assert call.turns.count() == 3


@pytest.mark.django_db
def test_two_silences_end_the_call(client, call):
    answer(client, call)
    root = twiml(say_turn(client, call, 1, ""))
    assert root[0].tag == "Gather"
    assert root[0][0].text.startswith("Sorry, I didn't catch that.")
    root = twiml(say_turn(client, call, 2, ""))
    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.NO_RESPONSE
    assert list(call.turns.filter(speaker="callee").values_list("text", flat=True)) == ["(silence)", "(silence)"]


@pytest.mark.django_db
def test_turn_after_the_call_ended_hangs_up_and_records_nothing(client, call):
    answer(client, call)
    status(client, call, "completed", CallDuration="5")
    root = twiml(say_turn(client, call, 1, "Yes, that's me."))
    assert [verb.tag for verb in root] == ["Hangup"]
    assert call.turns.count() == 1


# --- status events and billing ------------------------------------------------------------------


def usage_entries():
    return LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE)


@pytest.mark.django_db
def test_status_events_move_the_call_forward_and_bill_connected_seconds(client, user, call):
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(100), Decimal(100))

    assert status(client, call, "ringing").status_code == 204
    call.refresh_from_db()
    assert call.status == Call.Status.RINGING
    assert call.provider_call_id == SID

    assert status(client, call, "in-progress", AnsweredBy="human").status_code == 204
    call.refresh_from_db()
    assert call.status == Call.Status.IN_PROGRESS
    assert call.answered_by == "human" and call.answered_at is not None

    assert status(client, call, "completed", CallDuration="37", AnsweredBy="human").status_code == 204
    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED
    assert call.ended_at is not None
    assert call.duration_seconds == 37
    assert call.credits_charged == Decimal(37)
    [entry] = usage_entries()
    assert entry.amount == Decimal(-37) and entry.reference == f"call:{call.pk}:usage"
    hold = CreditHold.objects.get(reference=call.hold_reference)
    assert hold.status == CreditHold.Status.SETTLED and hold.charged == Decimal(37)
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(63), Decimal(0))
    assert list(ProviderEvent.objects.order_by("id").values_list("kind", flat=True)) == [
        "status:ringing",
        "status:in_progress",
        "status:completed",
    ]

    # The carrier delivers the final event again: acknowledged, not applied.
    response = status(client, call, "completed", CallDuration="37", AnsweredBy="human")
    assert response.status_code == 200
    assert usage_entries().count() == 1
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(63), Decimal(0))
    assert ProviderEvent.objects.count() == 3


@pytest.mark.django_db
def test_a_second_final_event_with_another_key_does_not_charge_again(client, user, call):
    status(client, call, "completed", CallDuration="37")
    assert status(client, call, "completed", CallDuration="80", CallSid="SMdifferent").status_code == 204
    assert status(client, call, "busy").status_code == 204
    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED
    assert call.duration_seconds == 37 and call.credits_charged == Decimal(37)
    assert usage_entries().count() == 1
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(63), Decimal(0))


@pytest.mark.django_db
def test_late_events_never_move_a_finished_call_backwards(client, user, call):
    status(client, call, "completed", CallDuration="12")
    status(client, call, "ringing")
    status(client, call, "in-progress", AnsweredBy="human")

    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED
    assert call.credits_charged == Decimal(12)
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(88), Decimal(0))


@pytest.mark.django_db
def test_ringing_after_in_progress_is_ignored(client, call):
    status(client, call, "in-progress", AnsweredBy="human")
    status(client, call, "ringing")
    call.refresh_from_db()
    assert call.status == Call.Status.IN_PROGRESS


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("twilio_status", "ours"),
    [("no-answer", "no_answer"), ("busy", "busy"), ("failed", "failed"), ("canceled", "canceled")],
)
def test_unanswered_final_status_charges_nothing_and_releases_the_hold(client, user, call, twilio_status, ours):
    status(client, call, "ringing")
    # Even if the carrier reported a duration, a call that never connected costs nothing.
    assert status(client, call, twilio_status, CallDuration="25").status_code == 204

    call.refresh_from_db()
    assert call.status == ours
    assert call.duration_seconds == 0 and call.credits_charged == 0
    assert CreditHold.objects.get(reference=call.hold_reference).status == CreditHold.Status.RELEASED
    assert not usage_entries().exists()
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(100), Decimal(0))


@pytest.mark.django_db
def test_failure_reason_is_recorded_in_words(client, call):
    status(client, call, "failed", ErrorMessage="Number unreachable", SipResponseCode="404")
    call.refresh_from_db()
    assert call.status == Call.Status.FAILED
    assert call.failure_reason == "Number not in service"
    # Twilio's own details stay in the stored event.
    assert ProviderEvent.objects.get(call_id=call.pk).payload["SipResponseCode"] == "404"


@pytest.mark.django_db
def test_a_reported_duration_over_the_time_limit_is_charged_at_the_limit(client, user, call):
    assert call.time_limit_seconds == 100
    status(client, call, "completed", CallDuration="3600")
    call.refresh_from_db()
    assert call.duration_seconds == 100
    assert call.credits_charged == Decimal(100)
    assert call.outcome == Call.Outcome.TIME_LIMIT
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(0), Decimal(0))


@pytest.mark.django_db
def test_completed_without_a_duration_charges_nothing(client, user, call):
    status(client, call, "completed")
    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED
    assert call.credits_charged == 0
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(100), Decimal(0))


@pytest.mark.django_db
@pytest.mark.parametrize("uninformative", ["queued", "initiated", "", "something-new"])
def test_uninformative_statuses_are_acknowledged_and_not_stored(client, call, uninformative):
    before = snapshot(call.pk)
    assert status(client, call, uninformative).status_code == 204
    assert snapshot(call.pk) == before


@pytest.mark.django_db
def test_full_conversation_then_status_bills_once(client, user, call):
    """The order a real call produces: ringing, answer, turns, in-progress, completed (twice)."""
    status(client, call, "ringing")
    answer(client, call)
    status(client, call, "in-progress", AnsweredBy="human")
    say_turn(client, call, 1, "Yes, that's me.")
    say_turn(client, call, 2, "About twenty.")
    for _ in range(2):
        status(client, call, "completed", CallDuration="41", AnsweredBy="human")

    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED
    assert call.outcome == Call.Outcome.INTERESTED
    assert call.credits_charged == Decimal(41)
    assert usage_entries().count() == 1
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(59), Decimal(0))


# --- concurrent deliveries (real PostgreSQL) -----------------------------------------------------


def deliver_at_once(requests_to_send) -> list:
    """Post each (path, body) from its own thread and client, all released together."""
    barrier = threading.Barrier(len(requests_to_send))
    responses = [None] * len(requests_to_send)

    def target(i, path, body):
        try:
            client = Client()
            barrier.wait(timeout=10)
            responses[i] = post(client, path, body)
        except Exception as exc:  # the test inspects what each thread got
            responses[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i, *req)) for i, req in enumerate(requests_to_send)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a delivery hung"
    return responses


@pytest.mark.django_db(transaction=True)
def test_concurrent_final_events_charge_exactly_once(user):
    call = make_call(user)
    path = status_path(call.pk)
    same = [(path, params(CallStatus="completed", CallDuration="37"))] * 6
    others = [
        (path, params(CallStatus="completed", CallDuration="90", CallSid="SMother")),
        (path, params(CallStatus="no-answer", CallDuration="0")),
    ]

    responses = deliver_at_once(same + others)

    assert all(getattr(r, "status_code", None) in (200, 204) for r in responses), responses
    call.refresh_from_db()
    assert call.status in (Call.Status.COMPLETED, Call.Status.NO_ANSWER)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE).count() == (1 if call.credits_charged else 0)
    assert call.credits_charged in (Decimal(37), Decimal(90), Decimal(0))
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(
        Decimal(100) - call.credits_charged, Decimal(0)
    )
    assert ProviderEvent.objects.filter(kind="status:completed", dedupe_key__startswith=SID).count() == 1
    assert CreditHold.objects.get(reference=call.hold_reference).status != CreditHold.Status.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_turn_record_it_once(user):
    call = make_call(user)
    answer(Client(), call)
    body = params(CallStatus="in-progress", SpeechResult="Yes, that's me.", Confidence="0.92")

    responses = deliver_at_once([(turn_path(call.pk, 1), body)] * 6)

    assert all(getattr(r, "status_code", None) == 200 for r in responses), responses
    assert len({r.content for r in responses}) == 1
    assert list(call.turns.values_list("speaker", flat=True)) == ["agent", "callee", "agent"]
