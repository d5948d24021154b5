"""The simulated carrier: predictable callees for fictional numbers, configurable odds for the
rest, Twilio-signed requests, and the two ways a call is cut short: the time limit the credits
allow and a hang-up requested by the platform."""

import random
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import django_rq
import pytest
from django.urls import reverse
from twilio.request_validator import RequestValidator

from billing import ledger
from billing.models import CreditHold, LedgerEntry
from campaigns.conversation.engine import intents
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, CampaignContact
from campaigns.tests.factories import make_agent, make_campaign, make_list
from telephony import simulator
from telephony.models import ProviderEvent
from telephony.providers.simulated import SimulatedProvider

INTERESTED = "+12025550101"
NOT_INTERESTED = "+12025550121"

LONG_QUESTIONS = "\n".join(
    f"Question {n}: could you tell me, in as much detail as you like, how your team handles "
    f"scheduling, invoicing and follow-ups today, and what you would change first?"
    for n in range(1, 13)
)


# --- choosing the callee -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "fate", "persona"),
    [
        ("00", "answer", "interested"),
        ("19", "answer", "interested"),
        ("20", "answer", "not_interested"),
        ("29", "answer", "not_interested"),
        ("30", "answer", "call_later"),
        ("41", "answer", "stop"),
        ("54", "answer", "curious"),
        ("55", "answer", "wants_person"),
        ("60", "voicemail", ""),
        ("71", "no_answer", ""),
        ("89", "busy", ""),
        ("90", "answer", "silent"),
        ("94", "answer", "silent"),
        ("95", "failed", ""),
        ("99", "failed", ""),
    ],
)
def test_fictional_numbers_pick_a_predictable_callee(settings, suffix, fate, persona):
    settings.SIMULATED_ODDS = {"busy": 1}  # ignored for fictional numbers
    for area in ("202", "415", "617"):
        for sid in ("SMa", "SMb", "SMc"):
            callee = simulator.callee_for(sid=sid, to=f"+1{area}55501{suffix}")
            assert (callee.fate, callee.persona) == (fate, persona)


@pytest.mark.parametrize("to", ["+12025550201", "+12025551234", "+442071838750", "+1202555010", "12025550101"])
def test_other_numbers_follow_the_configured_odds(settings, to):
    settings.SIMULATED_ODDS = {"busy": 1}
    assert {simulator.callee_for(sid=f"SM{i}", to=to).fate for i in range(50)} == {"busy"}


def test_zero_weights_are_never_drawn(settings):
    settings.SIMULATED_ODDS = {"answer": 0, "busy": 0, "no_answer": 3, "failed": 0}
    assert {simulator.callee_for(sid=f"SM{i}", to="+15551234567").fate for i in range(50)} == {"no_answer"}


def test_answering_callees_get_a_persona_others_do_not(settings):
    settings.SIMULATED_ODDS = {"answer": 1, "voicemail": 1}
    callees = [simulator.callee_for(sid=f"SM{i}", to="+15551234567") for i in range(200)]
    assert {c.fate for c in callees} == {"answer", "voicemail"}
    assert all(c.persona in simulator.PERSONA_ODDS for c in callees if c.fate == "answer")
    assert all(c.persona == "" for c in callees if c.fate != "answer")


def test_the_draw_is_seeded_by_the_call_id(settings):
    settings.SIMULATED_ODDS = {"answer": 70, "no_answer": 12, "busy": 6, "voicemail": 10, "failed": 2}
    for i in range(30):
        a = simulator.callee_for(sid=f"SM{i}", to="+15551234567")
        b = simulator.callee_for(sid=f"SM{i}", to="+15551234567")
        assert (a.fate, a.persona) == (b.fate, b.persona)
        assert [a.reply("?") for _ in range(3)] == [b.reply("?") for _ in range(3)]
    fates = {simulator.callee_for(sid=f"SM{i}", to="+15551234567").fate for i in range(300)}
    assert fates == set(settings.SIMULATED_ODDS)  # different calls do get different callees


def test_a_silent_callee_says_nothing():
    callee = simulator.Callee(fate="answer", persona="silent", rng=random.Random(1))
    assert [callee.reply("Hello?"), callee.reply("Are you there?")] == ["", ""]


@pytest.mark.parametrize(
    ("persona", "understood"),
    [
        ("stop", intents.wants_no_more_calls),
        ("not_interested", intents.is_not_interested),
        ("call_later", intents.wants_call_later),
        ("wants_person", intents.wants_a_person),
    ],
)
def test_a_callee_with_one_thing_to_say_says_it_in_words_every_engine_understands(persona, understood):
    said = set()
    for seed in range(30):
        callee = simulator.Callee(fate="answer", persona=persona, rng=random.Random(seed))
        said |= {callee.reply("Hello? Do you have a minute?"), callee.reply("Are you there?")}
    assert said == set(simulator.LINES[persona])  # some variety ...
    assert all(understood(line) for line in said)  # ... always understood the same way


def test_curious_callee_asks_the_price_once_then_answers_the_question_asked():
    callee = simulator.Callee(fate="answer", persona="curious", rng=random.Random(1))
    assert callee.reply("Hi, this is Sam. Do you own your home?") == simulator.PRICE_QUESTION
    assert callee.reply("It is 49 dollars. Do you own your home?") in answers_for("own")


def answers_for(word: str) -> list[str]:
    """The canned answers of the first ANSWERS rule matching `word`."""
    return next(answers for pattern, answers in simulator.ANSWERS if pattern.search(word))


@pytest.mark.parametrize(
    ("heard", "kind"),
    [
        ("Hi Ann, this is Sam from Sunny Solar. Do you own your home?", "own"),
        ("Thank you. About how much is your monthly electricity bill?", "bill"),
        ("Thank you. When would be a good time for a visit?", "when"),
        ("Do mornings or afternoons suit you better?", "morning"),
        ("Thank you. How many people are on your team?", "how many"),
        ("Hi, Riley from Demo Dental. Are you the person who handles scheduling?", "handles"),
        ("Would you like to book your yearly check-up this month?", "would"),
        ("What do you use for invoicing today?", "use"),
        ("Sorry, I didn't catch that. Are you still there?", "still there"),
        ("A check-up costs 60 dollars. Would you like to book one this month?", "would"),
    ],
)
def test_an_interested_callee_answers_the_question_asked(heard, kind):
    for seed in range(5):
        callee = simulator.Callee(fate="answer", persona="interested", rng=random.Random(seed))
        assert callee.reply(heard) in answers_for(kind), heard


def test_a_line_that_asks_nothing_is_acknowledged():
    callee = simulator.Callee(fate="answer", persona="interested", rng=random.Random(3))
    assert callee.reply("We are open from nine to five.") in simulator.ACKNOWLEDGEMENTS


def test_answers_questions_and_refusals_mean_what_they_say_to_the_engines():
    """Answers are answers (no intent, not a question), a callee's questions are questions, and
    a declined answer declines only that answer, not the call."""
    from campaigns.conversation.engine.scripted import asks_something

    answers = [a for _, group in simulator.ANSWERS for a in group] + simulator.OPEN_ANSWERS + simulator.DECLINES
    for line in answers + simulator.ACKNOWLEDGEMENTS + simulator.QUESTIONS_BACK + [simulator.PRICE_QUESTION]:
        assert not intents.wants_no_more_calls(line), line
        assert not intents.is_not_interested(line), line
        assert not intents.wants_call_later(line), line
        assert not intents.wants_a_person(line), line
    assert not [line for line in answers if asks_something(line)]
    assert all(asks_something(q) for q in simulator.QUESTIONS_BACK + [simulator.PRICE_QUESTION])


SCRIPT = [
    "Hi, this is Sam. Do you own your home?",
    "Thank you. About how much is your monthly electricity bill?",
    "Thank you. When would be a good time for a visit?",
]


def conversation(callee) -> list[str]:
    return [callee.reply(line) for line in SCRIPT]


@pytest.mark.parametrize("suffix", ["10", "14"])
def test_some_interested_callees_ask_a_question_of_their_own_before_their_second_answer(suffix):
    callee = simulator.callee_for(sid="SMback", to=f"+141555501{suffix}")
    assert callee.reply(SCRIPT[0]) in answers_for("own")
    assert callee.reply(SCRIPT[1]) in simulator.QUESTIONS_BACK
    assert callee.reply("I'm sorry, I don't have the answer to that. " + SCRIPT[1]) in answers_for("bill")
    assert callee.reply(SCRIPT[2]) in answers_for("when")  # once only


@pytest.mark.parametrize("suffix", ["15", "19"])
def test_some_interested_callees_keep_their_second_answer_to_themselves(suffix):
    said = conversation(simulator.callee_for(sid="SMdecline", to=f"+141555501{suffix}"))
    assert said[0] in answers_for("own") and said[1] in simulator.DECLINES and said[2] in answers_for("when")


def test_a_callee_says_the_same_in_the_same_call_and_varies_between_calls(settings):
    settings.SIMULATED_ODDS = {"answer": 1}
    runs = {}
    for sid in [f"SM{i}" for i in range(40)]:
        first = conversation(simulator.callee_for(sid=sid, to="+15551234567"))
        assert conversation(simulator.callee_for(sid=sid, to="+15551234567")) == first
        runs[sid] = tuple(first)
    assert len(set(runs.values())) > 10
    said = [line for run in runs.values() for line in run]
    assert set(said) & set(simulator.QUESTIONS_BACK)  # some ask a question back ...
    assert set(said) & set(simulator.DECLINES)  # ... some keep an answer to themselves


def test_speaking_takes_time_in_proportion_to_words():
    assert simulator.speaking_seconds("") == 0
    assert simulator.speaking_seconds("Hi") == 1.0  # never less than a second
    assert simulator.speaking_seconds(" ".join(["word"] * 25)) == 10.0


# --- the carrier against a recorded endpoint ---------------------------------------------------

ANSWER_URL = "https://clozit.example.com/telephony/simulated/calls/7/answer/"
STATUS_URL = "https://clozit.example.com/telephony/simulated/calls/7/status/"
TURN_URL = "https://clozit.example.com/telephony/simulated/calls/7/turn/{n}/"


class RecordedEndpoint:
    """Stands in for our webhooks: records every signed post and answers with `reply(url, data)`."""

    def __init__(self, reply=None):
        self.posts = []
        self.reply = reply or (lambda url, data: "<Response/>")

    def __call__(self, url, data, headers, timeout):
        self.posts.append(SimpleNamespace(url=url, data=data, headers=headers))
        return SimpleNamespace(status_code=200, text=self.reply(url, data))

    def statuses(self):
        return [(p.data["CallStatus"], p.data.get("CallDuration")) for p in self.posts if p.url == STATUS_URL]


def endless_questions(url, data):
    """An agent that never stops talking: every turn asks another 10-word question."""
    turn = int(url.rstrip("/").rsplit("/", 1)[1]) + 1 if "/turn/" in url else 1
    return (
        f'<Response><Gather input="speech" action="{TURN_URL.format(n=turn)}">'
        "<Say>One two three four five six seven eight nine ten.</Say></Gather></Response>"
    )


AMD_URL = "https://clozit.example.com/telephony/simulated/calls/7/amd/"
VOICEMAIL = "+12025550161"
MESSAGE = "Hi, this is Sam from Acme with a message for you. We will try again soon."
# What the agent says when the callee picks up: on an answering machine it plays over the greeting.
OPENING = (
    f'<Response><Gather input="speech" action="{TURN_URL.format(n=1)}" speechTimeout="2">'
    "<Say>Hi, this is Sam from Acme. Are you the person who handles scheduling?</Say></Gather></Response>"
)
LEAVE_MESSAGE = f"<Response><Say>{MESSAGE}</Say><Hangup/></Response>"


def call_for(to, *, time_limit=60, machine_detection="DetectMessageEnd", async_amd=False, sid="SMtest"):
    return simulator.SimulatedCall(
        sid=sid,
        to=to,
        from_="+14155550000",
        answer_url=ANSWER_URL,
        status_url=STATUS_URL,
        time_limit=time_limit,
        machine_detection=machine_detection,
        async_amd=async_amd,
        amd_status_url=AMD_URL if async_amd else "",
    )


def run(to, *, time_limit=60, sid="SMtest", machine_detection="", async_amd=False):
    """Play a call through the recorded endpoint (no machine detection unless asked for)."""
    call = call_for(to, time_limit=time_limit, machine_detection=machine_detection, async_amd=async_amd, sid=sid)
    call.run()
    return call


@pytest.fixture
def endpoint(monkeypatch, settings):
    settings.SIMULATED_TIME_SCALE = 0
    settings.SIMULATED_DUPLICATE_EVENTS = 0
    recorded = RecordedEndpoint()
    monkeypatch.setattr(simulator.requests, "post", recorded)
    return recorded


def test_every_request_is_signed_for_its_url_with_twilios_algorithm(endpoint, settings):
    endpoint.reply = endless_questions
    run(INTERESTED, time_limit=30)
    validator = RequestValidator(settings.SIMULATED_SIGNING_SECRET)
    assert len(endpoint.posts) > 3
    for p in endpoint.posts:
        assert validator.validate(p.url, p.data, p.headers["X-Twilio-Signature"]), p.url
        assert p.data["CallSid"] == "SMtest" and p.data["To"] == INTERESTED
    assert {p.url for p in endpoint.posts} >= {ANSWER_URL, STATUS_URL, TURN_URL.format(n=1)}


@pytest.mark.parametrize(
    ("to", "statuses"),
    [
        ("+12025550181", [("ringing", None), ("busy", "0")]),
        ("+12025550171", [("ringing", None), ("no-answer", "0")]),
        ("+12025550196", [("failed", None)]),
    ],
)
def test_calls_that_never_connect_report_zero_seconds(endpoint, to, statuses):
    run(to)
    assert endpoint.statuses() == statuses
    assert all(p.url == STATUS_URL for p in endpoint.posts)  # the answer URL is never fetched


# --- answering machines, in each of Twilio's detection modes ---------------------------------


def answers(endpoint):
    return [p for p in endpoint.posts if p.url == ANSWER_URL]


def machine_verdicts(endpoint):
    return [p.data["AnsweredBy"] for p in endpoint.posts if p.url == AMD_URL]


def test_without_detection_the_answer_says_nothing_of_who_answered(endpoint):
    endpoint.reply = lambda url, data: LEAVE_MESSAGE
    call = run(VOICEMAIL)
    (answer,) = answers(endpoint)
    assert "AnsweredBy" not in answer.data
    assert call.heard[0][0] == 0  # the message starts at once, over the greeting ...
    assert call.recorded == ""  # ... which is still playing when the message ends


def test_enable_answers_machine_start_while_the_greeting_still_plays(endpoint):
    endpoint.reply = lambda url, data: LEAVE_MESSAGE
    call = run(VOICEMAIL, machine_detection="Enable")
    (answer,) = answers(endpoint)
    assert answer.data["AnsweredBy"] == "machine_start"
    assert call.heard[0][0] == simulator.MACHINE_DETECTED_AFTER
    assert call.recorded != MESSAGE  # the start of the message went under the greeting


def test_detect_message_end_answers_after_the_beep_and_the_whole_message_is_recorded(endpoint):
    endpoint.reply = lambda url, data: LEAVE_MESSAGE
    call = run(VOICEMAIL, machine_detection="DetectMessageEnd")
    (answer,) = answers(endpoint)
    assert answer.data["AnsweredBy"] == "machine_end_beep"
    assert call.heard[0][0] == simulator.GREETING_SECONDS
    assert call.recorded == MESSAGE


def test_synchronous_detection_keeps_a_person_waiting_in_silence(endpoint):
    endpoint.reply = lambda url, data: "<Response><Say>Hello there.</Say><Hangup/></Response>"
    call = run(INTERESTED, machine_detection="DetectMessageEnd")
    (answer,) = answers(endpoint)
    assert answer.data["AnsweredBy"] == "human"
    assert call.heard[0][0] == simulator.HUMAN_DETECTED_AFTER


def test_asynchronous_detection_answers_at_once_and_reports_the_person_later(endpoint):
    endpoint.reply = lambda url, data: OPENING if url == ANSWER_URL else "<Response><Hangup/></Response>"
    call = run(INTERESTED, machine_detection="DetectMessageEnd", async_amd=True)
    (answer,) = answers(endpoint)
    assert "AnsweredBy" not in answer.data
    assert call.heard[0][0] == 0  # the person hears the opening at once
    assert machine_verdicts(endpoint) == ["human"]
    verdict = next(p for p in endpoint.posts if p.url == AMD_URL)
    assert verdict.data["MachineDetectionDuration"] == str(int(simulator.HUMAN_DETECTED_AFTER * 1000))
    assert set(verdict.data) >= {"CallSid", "AccountSid", "AnsweredBy", "MachineDetectionDuration"}
    assert "CallStatus" not in verdict.data


def test_asynchronous_detection_reports_the_end_of_the_greeting_and_a_redirect_leaves_the_whole_message(endpoint):
    """The platform answers the machine's greeting end by redirecting the live call (Twilio:
    calls(sid).update(twiml=...)); the carrier drops what it was doing and follows the new TwiML."""

    def platform(url, data):
        if url == AMD_URL and data["AnsweredBy"].startswith("machine_end"):
            simulator.request_update("SMtest", LEAVE_MESSAGE)
        return OPENING if url == ANSWER_URL else ""

    endpoint.reply = platform
    call = run(VOICEMAIL, machine_detection="DetectMessageEnd", async_amd=True)
    assert "AnsweredBy" not in answers(endpoint)[0].data
    assert machine_verdicts(endpoint) == ["machine_end_beep"]
    assert call.heard[0][0] == 0 and call.heard[-1] == (simulator.GREETING_SECONDS, MESSAGE)
    assert call.recorded == MESSAGE
    assert not [p for p in endpoint.posts if "/turn/" in p.url]  # the gather was dropped, not answered
    assert endpoint.statuses()[-1][0] == "completed"


def test_asynchronous_enable_reports_machine_start_early(endpoint):
    endpoint.reply = lambda url, data: OPENING if url == ANSWER_URL else ""
    run(VOICEMAIL, machine_detection="Enable", async_amd=True)
    assert machine_verdicts(endpoint) == ["machine_start"]


def test_the_simulated_provider_dials_with_asynchronous_detection_of_the_greeting_end(settings):
    from telephony.providers.base import OutboundCall

    settings.PUBLIC_BASE_URL = "https://clozit.example.com"
    sid = SimulatedProvider().place_call(
        OutboundCall(
            call_id=7,
            to=VOICEMAIL,
            from_="+14155550000",
            time_limit_seconds=60,
            answer_url=ANSWER_URL,
            status_url=STATUS_URL,
        )
    )
    (job,) = django_rq.get_queue("simulator").get_jobs()
    assert job.kwargs["sid"] == sid
    assert (job.kwargs["machine_detection"], job.kwargs["async_amd"]) == ("DetectMessageEnd", True)
    assert job.kwargs["amd_status_url"] == AMD_URL


def test_a_redirect_reaches_only_a_call_in_progress(endpoint):
    from telephony.providers.base import AgentStep, ProviderError

    endpoint.reply = lambda url, data: "<Response><Say>Goodbye.</Say><Hangup/></Response>"
    run(INTERESTED)
    with pytest.raises(ProviderError) as ended:
        SimulatedProvider().update_call("SMtest", AgentStep(say="Hello", then="hangup"))
    assert ended.value.permanent
    with pytest.raises(ProviderError) as unknown:
        SimulatedProvider().update_call("SMnobody", AgentStep(say="Hello", then="hangup"))
    assert unknown.value.permanent


def test_final_events_are_sometimes_delivered_twice(endpoint, settings):
    settings.SIMULATED_DUPLICATE_EVENTS = 1.0
    run("+12025550181")
    assert endpoint.statuses() == [("ringing", None), ("busy", "0"), ("busy", "0")]


def test_the_carrier_ends_the_call_at_the_time_limit(endpoint):
    endpoint.reply = endless_questions
    run(INTERESTED, time_limit=15)

    ringing, in_progress, completed = endpoint.statuses()
    assert completed == ("completed", "15")
    turns = [p for p in endpoint.posts if "/turn/" in p.url]
    # Each turn costs 4 s of agent speech and at least 2 s of reply: the limit cuts it short.
    assert 1 <= len(turns) < 3


@pytest.mark.parametrize("time_limit", [15, 16, 37, 100])
def test_reported_duration_never_exceeds_the_time_limit(endpoint, time_limit):
    endpoint.reply = endless_questions
    run(INTERESTED, time_limit=time_limit)
    assert endpoint.statuses()[-1] == ("completed", str(time_limit))


def test_the_call_ends_when_the_agent_hangs_up(endpoint):
    endpoint.reply = lambda url, data: "<Response><Say>Goodbye.</Say><Hangup/></Response>"
    run(INTERESTED, time_limit=60)
    assert [p.url for p in endpoint.posts] == [STATUS_URL, STATUS_URL, ANSWER_URL, STATUS_URL]
    assert endpoint.statuses()[-1] == ("completed", "1")


def test_an_application_error_ends_the_call(endpoint, monkeypatch):
    def broken(url, data, headers, timeout):
        endpoint.posts.append(SimpleNamespace(url=url, data=data, headers=headers))
        return SimpleNamespace(status_code=500, text="Server Error")

    monkeypatch.setattr(simulator.requests, "post", broken)
    run(INTERESTED)
    assert [p.url for p in endpoint.posts] == [STATUS_URL, STATUS_URL, ANSWER_URL, STATUS_URL]
    assert endpoint.statuses()[-1] == ("completed", "0")


@pytest.mark.parametrize(
    ("attributes", "warning"),
    [
        ('speechTimeout="auto" speechModel="phone_call"', "13335"),
        ('speechTimeout="auto" speechModel="default"', "13335"),
        ('speechTimeout="soon"', "13327"),
        ('speechTimeout="0"', "13327"),
        ('speechTimeout="2" maxSpeechTime="90"', "13328"),
        ('speechTimeout="2" speechModel="phone_call" timeout="-1"', "13313"),
    ],
)
def test_the_carrier_refuses_a_gather_twilio_would_warn_about(endpoint, attributes, warning):
    """Twilio runs such a <Gather> and files a warning in its debugger; a simulated call fails
    loudly instead, so the defect cannot go unnoticed."""
    endpoint.reply = lambda url, data: (
        f'<Response><Gather input="speech" action="{TURN_URL.format(n=1)}" {attributes}>'
        "<Say>Hello?</Say></Gather></Response>"
    )
    with pytest.raises(simulator.TwimlRejected, match=warning):
        run(INTERESTED)


@pytest.mark.parametrize(
    "timing", ['speechTimeout="2" speechModel="phone_call"', 'speechTimeout="auto"'], ids=["seconds+model", "auto"]
)
def test_the_carrier_accepts_a_gather_twilio_documents(endpoint, timing):
    endpoint.reply = lambda url, data: (
        f'<Response><Gather input="speech" action="{TURN_URL.format(n=1)}" {timing} '
        'language="en-US" actionOnEmptyResult="true"><Say>Hello?</Say></Gather>'
        "<Hangup/></Response>"
    )
    run(INTERESTED)
    assert TURN_URL.format(n=1) in [p.url for p in endpoint.posts]


# --- platform hang-up ---------------------------------------------------------------------------


def test_hang_up_sets_a_flag_the_carrier_reads():
    call = call_for(INTERESTED, sid="SMhang")
    other = call_for(INTERESTED, sid="SMother")
    assert not call.hung_up_by_platform()

    SimulatedProvider().hang_up("SMhang")

    assert call.hung_up_by_platform()
    assert not other.hung_up_by_platform()
    ttl = call.redis.ttl(simulator.HANGUP_KEY.format(sid="SMhang"))
    assert 0 < ttl <= 3600  # the flag does not linger forever


def test_the_carrier_obeys_a_hang_up_mid_call(endpoint, monkeypatch):
    endpoint.reply = endless_questions
    original = simulator.Callee.reply
    replies = []

    def reply_then_platform_hangs_up(self, heard):
        replies.append(heard)
        if len(replies) == 2:
            SimulatedProvider().hang_up("SMtest")
        return original(self, heard)

    monkeypatch.setattr(simulator.Callee, "reply", reply_then_platform_hangs_up)
    run(INTERESTED, time_limit=600)

    turns = [p.url for p in endpoint.posts if "/turn/" in p.url]
    assert turns == [TURN_URL.format(n=1)]  # the second reply was never sent
    assert endpoint.statuses()[-1][0] == "completed"
    assert int(endpoint.statuses()[-1][1]) < 30


def test_a_call_hung_up_before_it_is_answered_says_nothing_more(endpoint):
    endpoint.reply = endless_questions
    SimulatedProvider().hang_up("SMtest")
    run(INTERESTED, time_limit=600)
    assert not [p for p in endpoint.posts if "/turn/" in p.url]
    assert endpoint.statuses()[-1][0] == "completed"


# --- end to end through a live server -----------------------------------------------------------


@pytest.fixture
def live(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


@pytest.mark.django_db(transaction=True)
def test_time_limit_ends_the_call_and_charges_exactly_the_limit(live, user, run_jobs):
    campaign = make_campaign(user, [INTERESTED], concurrency=1, max_call_seconds=15, questions=LONG_QUESTIONS)
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    call = Call.objects.get(campaign=campaign)
    assert call.time_limit_seconds == 15
    assert call.status == Call.Status.COMPLETED
    assert call.duration_seconds == 15
    assert call.outcome == Call.Outcome.TIME_LIMIT
    assert call.credits_charged == Decimal(15)
    hold = CreditHold.objects.get(reference=call.hold_reference)
    assert hold.amount == Decimal(15) and hold.charged == Decimal(15)
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(85), Decimal(0))
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE).count() == 1
    # What the carrier itself reported is within the limit (each final event arrived twice).
    completed = ProviderEvent.objects.get(call_id=call.pk, kind="status:completed")
    assert int(completed.payload["CallDuration"]) <= 15
    assert len(call.captured) < 12  # the script was cut off, not finished


@pytest.mark.django_db(transaction=True)
def test_a_small_balance_limits_the_call_and_never_goes_negative(live, user, run_jobs):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("-80"), kind=LedgerEntry.Kind.AI_QUERY, reference="ai:spent"
    )
    campaign = make_campaign(user, [INTERESTED], concurrency=1, max_call_seconds=600, questions=LONG_QUESTIONS)
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    call = Call.objects.get(campaign=campaign)
    assert call.time_limit_seconds == 20  # all the account could pay for
    assert call.duration_seconds == 20
    assert call.credits_charged == Decimal(20)
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(0), Decimal(0))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_stopping_a_campaign_hangs_up_its_live_call(live, user, run_jobs, monkeypatch):
    campaign = make_campaign(user, [INTERESTED, NOT_INTERESTED], concurrency=1)
    original = simulator.Callee.reply
    replies = []

    def reply_then_user_stops(self, heard):
        replies.append(heard)
        if len(replies) == 2:
            services.campaign_stop(campaign=campaign)
        return original(self, heard)

    monkeypatch.setattr(simulator.Callee, "reply", reply_then_user_stops)
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.STOPPED
    [call] = Call.objects.filter(campaign=campaign)
    assert call.to_number == INTERESTED and call.status == Call.Status.COMPLETED
    # The callee's first answer was heard; the second reply never reached the platform.
    assert list(call.turns.values_list("speaker", flat=True)) == ["agent", "callee", "agent"]
    assert call.outcome == "hung_up"  # ended before the conversation did
    assert 0 < call.duration_seconds < call.time_limit_seconds
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(
        Decimal(100) - call.credits_charged, Decimal(0)
    )
    assert call.credits_charged == Decimal(call.duration_seconds)
    skipped = CampaignContact.objects.get(contact__phone_number=NOT_INTERESTED)
    assert skipped.status == CampaignContact.Status.SKIPPED


@pytest.mark.django_db(transaction=True)
def test_simulated_call_drives_the_real_webhooks(live, user):
    """One call played directly, against a call row, through HTTP and signature checks."""
    agent = make_agent(user)
    contact = make_list(user, [NOT_INTERESTED]).contacts.get()
    call = Call.objects.create(
        workspace=user.personal_workspace,
        agent=agent,
        contact=contact,
        to_number=NOT_INTERESTED,
        from_number="+14155550000",
        provider="simulated",
        status=Call.Status.DIALING,
    )
    hold = ledger.hold_place(
        workspace=user.personal_workspace,
        reference=f"call:{call.pk}",
        max_amount=60,
        min_amount=10,
        lifetime=timedelta(minutes=3),
    )
    Call.objects.filter(pk=call.pk).update(hold_reference=hold.reference, time_limit_seconds=60)

    kwargs = {"provider": "simulated", "call_id": call.pk}
    simulator.run_call(
        sid="SMdirect",
        to=NOT_INTERESTED,
        from_="+14155550000",
        answer_url=live.url + reverse("telephony_answer", kwargs=kwargs),
        status_url=live.url + reverse("telephony_status", kwargs=kwargs),
        time_limit=60,
    )

    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED
    assert call.provider_call_id == "SMdirect"
    assert call.outcome == Call.Outcome.NOT_INTERESTED
    assert call.turns.count() == 3
    assert 0 < call.duration_seconds < 60
    assert call.credits_charged == Decimal(call.duration_seconds)
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(
        Decimal(100) - call.credits_charged, Decimal(0)
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("time_scale", [0, 0.01])
def test_a_simulated_calls_times_agree_with_the_seconds_billed(live, user, run_jobs, settings, time_scale):
    """The simulator compresses time (SIMULATED_TIME_SCALE); the call's record must not: from
    answered to ended is exactly the connected seconds billed, as on a real carrier's call."""
    settings.SIMULATED_TIME_SCALE = time_scale
    campaign = make_campaign(user, [INTERESTED, NOT_INTERESTED, VOICEMAIL], concurrency=3)
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("500"), kind="staff_adjustment", reference="test-topup"
    )
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    calls = list(Call.objects.filter(campaign=campaign))
    assert len(calls) == 3 and all(c.status == Call.Status.COMPLETED for c in calls)
    for call in calls:
        assert call.duration_seconds > 5, call.to_number  # long enough for compression to show
        assert call.ended_at - call.answered_at == timedelta(seconds=call.duration_seconds), call.to_number
        assert call.credits_charged == ledger.call_cost(seconds=call.duration_seconds)
        assert call.dialing_started_at <= call.answered_at <= call.ended_at
