"""Transfers to a person, the per-agent voicemail choice, and inbound calls to owned numbers,
through the same signed webhooks (Twilio's wire format) the simulated carrier drives."""

import uuid
from decimal import Decimal

import django_rq
import pytest
from django.urls import reverse

from billing import ledger
from campaigns.calls.services import NOBODY_AVAILABLE, call_enforce_time_limit
from campaigns.conversation.engine.scripted import NO_TRANSFER, TRANSFERRING
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign
from campaigns.tests.factories import make_agent, make_campaign
from telephony import simulator
from telephony.models import PhoneNumber, ProviderEvent
from telephony.tests.test_webhooks import PUBLIC, answer, make_call, params, post, say_turn, twiml

COLLEAGUE = "+14155550199"
OUR_NUMBER = "+14155550142"
CALLER = "+12025550107"


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.SIMULATED_SIGNING_SECRET = "simulated-test-secret"


# --- transfer -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_asking_for_a_person_transfers_to_the_agents_number(client, user):
    call = make_call(user, transfer_number=COLLEAGUE)
    answer(client, call)

    root = twiml(say_turn(client, call, 1, "Can I speak to a real person, please?"))

    assert [verb.tag for verb in root] == ["Say", "Dial"]
    assert root[0].text == TRANSFERRING
    assert root[1].text == COLLEAGUE
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.TRANSFERRED
    assert call.is_live  # the call goes on with the colleague; its end is billed as usual


@pytest.mark.django_db
def test_without_a_transfer_number_the_agent_promises_a_call_back_and_hangs_up(client, user):
    call = make_call(user)
    answer(client, call)

    root = twiml(say_turn(client, call, 1, "I want to talk to someone"))

    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    assert root[0].text == NO_TRANSFER
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.CALL_BACK


@pytest.mark.django_db
def test_a_replayed_transfer_turn_gives_the_same_answer_once(client, user):
    call = make_call(user, transfer_number=COLLEAGUE)
    answer(client, call)
    first = say_turn(client, call, 1, "transfer me")
    second = say_turn(client, call, 1, "transfer me")
    assert first.content == second.content
    assert call.turns.count() == 3  # opening, the request, the transfer line


@pytest.mark.django_db
def test_voicemail_hang_up_choice_leaves_no_message(client, user):
    call = make_call(user, voicemail_action="hangup")
    root = twiml(answer(client, call, answered_by="machine_end_beep"))
    assert [verb.tag for verb in root] == ["Hangup"]
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.VOICEMAIL
    assert call.turns.count() == 0


def run_campaign(campaign, run_jobs, rounds=20):
    for _ in range(rounds):
        run_jobs()
        campaign.refresh_from_db()
        if campaign.status == Campaign.Status.COMPLETED:
            return
    raise AssertionError(f"campaign did not complete: {campaign.status}")


@pytest.mark.django_db(transaction=True)
def test_simulated_transfer_and_voicemail_choices_bill_every_connected_second(live_server, settings, user, run_jobs):
    settings.PUBLIC_BASE_URL = live_server.url
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(1000), kind="staff_adjustment", reference="topup"
    )
    # 55: asks for a person; 60: an answering machine.
    campaign = make_campaign(
        user, ["+12025550155", "+12025550160"], transfer_number=COLLEAGUE, voicemail_action="hangup", concurrency=2
    )
    services.campaign_launch(campaign=campaign, by=user)
    run_campaign(campaign, run_jobs)

    calls = {c.to_number: c for c in Call.objects.filter(campaign=campaign)}
    transferred, machine = calls["+12025550155"], calls["+12025550160"]
    assert transferred.status == "completed" and transferred.outcome == "transferred"
    assert transferred.duration_seconds >= simulator.TRANSFERRED_TALK_SECONDS  # the colleague's part is billed
    assert machine.status == "completed" and machine.outcome == "voicemail" and machine.answered_by == "machine"
    # The opening was said at once, as to a person; the agent's choice then hung up without a word.
    assert list(machine.turns.values_list("speaker", flat=True)) == ["agent"]
    spent = sum(c.duration_seconds for c in calls.values())
    assert sum(c.credits_charged for c in calls.values()) == spent
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 1100 - spent


@pytest.mark.django_db(transaction=True)
def test_simulated_voicemail_gets_the_message_after_the_greeting_in_place_of_the_conversation(
    live_server, settings, user, run_jobs
):
    settings.PUBLIC_BASE_URL = live_server.url
    campaign = make_campaign(user, ["+12025550160"])
    services.campaign_launch(campaign=campaign, by=user)
    run_campaign(campaign, run_jobs)

    machine = Call.objects.get(campaign=campaign)
    assert (machine.status, machine.answered_by, machine.outcome) == ("completed", "machine", "voicemail")
    opening, message = machine.turns.order_by("sequence")
    assert opening.text.startswith("Hi Person0, this is Sam")  # said at once, over the greeting
    assert message.text == "Hi Person0, Sam from Acme here. We'll try again soon."
    assert ProviderEvent.objects.filter(call_id=machine.pk, kind="amd").count() == 1
    # Billed for every second up to the end of the message, which starts after the greeting.
    assert machine.duration_seconds >= simulator.GREETING_SECONDS + simulator.speaking_seconds(message.text)


# --- inbound calls --------------------------------------------------------------------------------


def inbound_path(provider="simulated"):
    return reverse("telephony_inbound", kwargs={"provider": provider})


def inbound_status_path(provider="simulated"):
    return reverse("telephony_inbound_status", kwargs={"provider": provider})


def inbound_params(sid="CAinbound0001", to=OUR_NUMBER, **extra):
    return params(
        **{"CallSid": sid, "From": CALLER, "To": to, "Direction": "inbound", "CallStatus": "ringing", **extra}
    )


def own_number(user, *, agent=True, number=OUR_NUMBER):
    return PhoneNumber.objects.create(
        workspace=user.personal_workspace,
        number=number,
        provider="simulated",
        inbound_agent=make_agent(user, name="Front desk") if agent else None,
    )


@pytest.mark.django_db
def test_an_inbound_call_is_answered_by_the_numbers_agent_with_credits_held(client, user):
    own_number(user)

    root = twiml(post(client, inbound_path(), inbound_params()))

    [gather] = list(root)
    assert gather.tag == "Gather"
    assert gather[0].text.startswith("Hi, this is Sam from Acme.")  # no contact: variables are empty
    call = Call.objects.get()
    assert call.direction == Call.Direction.INBOUND
    assert (call.from_number, call.to_number, call.provider_call_id) == (CALLER, OUR_NUMBER, "CAinbound0001")
    assert call.agent.name == "Front desk" and call.status == Call.Status.IN_PROGRESS
    assert call.time_limit_seconds == 100  # 120 s agent, 100 starter credits
    assert ledger.balance_of(workspace=user.personal_workspace).held == 100


@pytest.mark.django_db
def test_a_replayed_inbound_webhook_answers_the_same_call_once(client, user):
    own_number(user)
    first = post(client, inbound_path(), inbound_params())
    second = post(client, inbound_path(), inbound_params())
    assert first.content == second.content
    assert Call.objects.count() == 1
    assert Call.objects.get().turns.count() == 1


@pytest.mark.django_db
def test_inbound_status_settles_the_call_once_by_its_carrier_id(client, user):
    own_number(user)
    post(client, inbound_path(), inbound_params())
    completed = inbound_params(CallStatus="completed", CallDuration="42")
    assert post(client, inbound_status_path(), completed).status_code == 204
    assert post(client, inbound_status_path(), completed).status_code == 200  # duplicate ignored

    call = Call.objects.get()
    assert call.status == Call.Status.COMPLETED and call.duration_seconds == 42
    assert call.credits_charged == 42
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(58), Decimal(0))


@pytest.mark.django_db
def test_status_of_an_inbound_call_nobody_answered_is_acknowledged(client, user):
    response = post(client, inbound_status_path(), inbound_params(CallStatus="completed", CallDuration="3"))
    assert response.status_code == 204
    assert Call.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("signature", ["", "forged"])
def test_unsigned_or_forged_inbound_webhooks_are_refused_and_create_nothing(client, user, signature):
    own_number(user)
    assert post(client, inbound_path(), inbound_params(), signature=signature).status_code == 403
    assert post(client, inbound_status_path(), inbound_params(), signature=signature).status_code == 403
    assert Call.objects.count() == 0
    assert ledger.balance_of(workspace=user.personal_workspace).held == 0


def assert_nobody_answers(response):
    root = twiml(response)
    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    assert root[0].text == NOBODY_AVAILABLE.say


@pytest.mark.django_db
def test_calls_to_numbers_we_do_not_own_or_without_an_agent_are_told_nobody_can_answer(client, user):
    own_number(user, agent=False)
    assert_nobody_answers(post(client, inbound_path(), inbound_params()))
    assert_nobody_answers(post(client, inbound_path(), inbound_params(sid="CAother", to="+14155550143")))
    PhoneNumber.objects.create(number="+14155550144", provider="simulated")  # shared: no agent answers
    assert_nobody_answers(post(client, inbound_path(), inbound_params(sid="CAshared", to="+14155550144")))
    assert Call.objects.count() == 0


@pytest.mark.django_db
def test_without_credits_the_inbound_call_is_declined_and_recorded(client, user):
    own_number(user)
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(-100), kind="staff_adjustment", reference="spend-all"
    )
    assert_nobody_answers(post(client, inbound_path(), inbound_params()))
    call = Call.objects.get()
    assert call.status == Call.Status.CANCELED and call.failure_reason == "Not enough credits to answer"


@pytest.mark.django_db
def test_a_suspended_account_does_not_answer(client, user):
    own_number(user)
    user.personal_workspace.status = "suspended"
    user.personal_workspace.save(update_fields=["status"])
    assert not user.personal_workspace.can_dial
    assert_nobody_answers(post(client, inbound_path(), inbound_params()))
    assert Call.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_simulated_inbound_call_converses_and_is_billed_to_the_second(live_server, settings, user, run_jobs):
    settings.PUBLIC_BASE_URL = live_server.url
    own_number(user)
    sid = "SM" + uuid.uuid4().hex
    django_rq.get_queue("simulator").enqueue(
        simulator.run_call,
        inbound=True,
        sid=sid,
        to=OUR_NUMBER,
        from_="+12025550105",  # an interested caller
        answer_url=live_server.url + inbound_path(),
        status_url=live_server.url + inbound_status_path(),
    )
    run_jobs()

    call = Call.objects.get()
    assert call.direction == "inbound" and call.status == "completed" and call.outcome == "interested"
    assert call.turns.count() >= 5
    assert call.duration_seconds > 0 and call.credits_charged == call.duration_seconds
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(
        100 - call.credits_charged, Decimal(0)
    )


@pytest.mark.django_db
def test_a_call_still_live_after_its_time_limit_is_hung_up_at_the_carrier(user):
    call = make_call(user)
    call.provider_call_id = "SMlive"
    call.status = Call.Status.IN_PROGRESS
    call.save(update_fields=["provider_call_id", "status"])

    call_enforce_time_limit(call.pk)

    assert django_rq.get_connection("simulator").get(simulator.HANGUP_KEY.format(sid="SMlive")) == b"1"
