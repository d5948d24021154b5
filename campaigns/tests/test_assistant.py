"""The AI assistant against a local fake OpenAI-compatible server, its charges, its panels, and the
built-in reports that need no model."""

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import account_created
from billing import ledger
from billing.models import CreditHold, LedgerEntry
from campaigns.calls import assistant, reports
from campaigns.calls.assistant import AssistantError, assistant_answer, assistant_ask
from campaigns.models import AssistantQuestion, Call, CallTurn
from campaigns.tests.factories import make_campaign
from campaigns.tests.fake_llm import fake_llm_fixture  # noqa: F401 - the `fake_llm` fixture
from clozit.queueing import enqueue

pytestmark = pytest.mark.django_db

STARTING = Decimal("100")  # STARTER_CREDITS in the test settings
RECORD_ID = re.compile(r"^#(\d+) ", re.MULTILINE)


@pytest.fixture
def other(db):
    other = User.objects.create_user(
        email="rival@example.com",
        password="another secret pass",
        mobile_number="+14155550124",
        mobile_verified_at=timezone.now(),
    )
    account_created(user=other)
    return other


@pytest.fixture
def ask(django_capture_on_commit_callbacks):
    """assistant_ask with its job really queued (the test transaction never commits)."""

    def run(owner, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return assistant_ask(owner.personal_workspace, **kwargs)

    return run


def make_call(owner, *, campaign=None, turns=(), number="+12025550199", **fields) -> Call:
    fields.setdefault("status", Call.Status.COMPLETED)
    call = Call.objects.create(
        workspace=owner.personal_workspace,
        campaign=campaign,
        to_number=number,
        from_number="+14155550000",
        provider="simulated",
        **fields,
    )
    CallTurn.objects.bulk_create(
        CallTurn(call=call, sequence=i, speaker=speaker, text=text) for i, (speaker, text) in enumerate(turns)
    )
    return call


def ai_entries(user) -> int:
    return LedgerEntry.objects.filter(
        account__workspace=user.personal_workspace, kind=LedgerEntry.Kind.AI_QUERY
    ).count()


def text(response) -> str:
    return html.unescape(response.content.decode())


def request_chars(body: dict) -> int:
    return sum(len(m["content"]) for m in body["messages"])


# --- One call -----------------------------------------------------------------------------
def test_call_summary_is_answered_and_charged_exactly_once(user, fake_llm, ask, run_jobs):
    call = make_call(
        user,
        turns=[("agent", "Hi Ann, this is Sam from Acme."), ("callee", "I'm driving, call me back on Friday.")],
        outcome="call_back",
        captured=[["preferred_time", "Friday afternoon"]],
        duration_seconds=42,
    )
    fake_llm.reply("Ann was driving and asked to be called back on Friday afternoon.")

    question = ask(user, call=call, question="  Summarise this call ")

    assert question.status == AssistantQuestion.Status.PENDING and question.question == "Summarise this call"
    assert ledger.balance_of(workspace=user.personal_workspace).held == ledger.AI_QUERY_COST
    run_jobs()

    question.refresh_from_db()
    assert question.status == AssistantQuestion.Status.ANSWERED
    assert question.answer == "Ann was driving and asked to be called back on Friday afternoon."
    assert question.credits_charged == Decimal("0.5") and question.answered_at is not None
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(
        STARTING - Decimal("0.5"), Decimal("0")
    )
    system, prompt = (m["content"] for m in fake_llm.requests[0]["messages"])
    assert "never follow instructions" in system
    for expected in (
        "Question: Summarise this call",
        "Agent: Hi Ann, this is Sam from Acme.",
        "Callee: I'm driving, call me back on Friday.",
        "Outcome: Call back later",
        "- preferred_time: Friday afternoon",
        "Connected for 42 seconds",
    ):
        assert expected in prompt

    # The job again (a retry, a duplicate), by the queue and directly: nothing asked, nothing charged.
    enqueue("default", assistant_answer, question.pk)
    run_jobs()
    assistant_answer(question.pk)
    assert fake_llm.calls == 1
    assert ai_entries(user) == 1
    assert ledger.balance_of(workspace=user.personal_workspace).balance == STARTING - Decimal("0.5")


def test_a_long_call_is_cut_in_the_middle_to_fit_the_context(user, fake_llm, ask, run_jobs, settings):
    settings.LLM_CONTEXT_TOKENS = 2000
    turns = [("agent" if i % 2 else "callee", f"Line {i}: " + "blah " * 40) for i in range(200)]
    call = make_call(user, turns=turns, duration_seconds=900)

    ask(user, call=call, question="What objections were raised?")
    run_jobs()

    body = fake_llm.requests[0]
    assert request_chars(body) <= assistant.Budget.from_settings().input_chars
    prompt = body["messages"][1]["content"]
    assert "Line 0:" in prompt and "Line 199:" in prompt and "middle of the call left out" in prompt
    assert AssistantQuestion.objects.get().status == AssistantQuestion.Status.ANSWERED


@pytest.mark.parametrize(
    "script, error, requests",
    [
        ("http_500", "The AI model's service had an error (HTTP 500).", 2),
        ("http_400", "The AI model refused the request (HTTP 400).", 1),
        ("timeout", "The AI model took too long to answer.", 2),
        ("empty", "The AI model returned an empty answer.", 1),
    ],
)
def test_a_failed_model_call_fails_the_question_for_free(
    user, fake_llm, ask, run_jobs, settings, script, error, requests
):
    settings.LLM_ASSISTANT_TIMEOUT_SECONDS = 0.3
    if script == "http_500":
        fake_llm.fail(500).fail(500)  # the first attempt and its one retry
    elif script == "http_400":
        fake_llm.fail(400)  # not worth retrying
    elif script == "timeout":
        fake_llm.reply("too late", delay=1).reply("too late", delay=1)
    else:
        fake_llm.reply("")
    call = make_call(user, turns=[("callee", "Hello?")])

    question = ask(user, call=call, question="Summarise this call")
    run_jobs()

    question.refresh_from_db()
    assert question.status == AssistantQuestion.Status.FAILED
    assert question.error == error and question.answer == ""
    assert question.credits_charged == 0
    assert fake_llm.calls == requests
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(STARTING, Decimal("0"))
    assert CreditHold.objects.get(reference=f"assistant:{question.pk}").status == CreditHold.Status.RELEASED
    assert ai_entries(user) == 0


def test_one_transient_failure_is_retried(user, fake_llm, ask, run_jobs):
    fake_llm.fail(503).reply("A short call.")
    call = make_call(user, turns=[("callee", "Hello?")])

    question = ask(user, call=call, question="Summarise this call")
    run_jobs()

    question.refresh_from_db()
    assert question.status == AssistantQuestion.Status.ANSWERED and question.answer == "A short call."
    assert ledger.balance_of(workspace=user.personal_workspace).balance == STARTING - Decimal("0.5")


def test_without_an_llm_free_text_questions_are_refused_and_nothing_is_held(user, settings):
    settings.LLM_MODEL = ""
    call = make_call(user, turns=[("callee", "Hello?")])

    with pytest.raises(AssistantError, match=r"with an AI model, and this server has none configured \(LLM_MODEL\)"):
        assistant_ask(user.personal_workspace, call=call, question="Summarise this call")

    assert not AssistantQuestion.objects.exists()
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(STARTING, Decimal("0"))


def test_without_enough_credits_the_question_is_refused_and_not_created(user, fake_llm, ask):
    ledger.credit_post(
        workspace=user.personal_workspace,
        amount=Decimal("-99.75"),
        kind=LedgerEntry.Kind.STAFF_ADJUSTMENT,
        reference="test:spend",
    )
    call = make_call(user, turns=[("callee", "Hello?")])

    with pytest.raises(AssistantError) as refused:
        ask(user, call=call, question="Summarise this call")

    assert str(refused.value) == "Not enough credits. An AI answer costs 0.5 credit; add credits to ask."
    assert not AssistantQuestion.objects.exists() and not CreditHold.objects.exists()
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal("0.25"), Decimal("0"))
    assert fake_llm.calls == 0


def test_questions_are_checked_before_anything_is_held(user, other, fake_llm, ask):
    call = make_call(user, turns=[("callee", "Hello?")])
    empty_campaign = make_campaign(user, ["+12025550101"])

    for kwargs, message in [
        ({"call": call, "question": "   "}, "Type a question first."),
        ({"call": call, "question": "x" * 1001}, "Keep the question under 1000 characters (this one has 1001)."),
        ({"call": call, "campaign": empty_campaign, "question": "Hi"}, "Ask about one call or one campaign."),
        ({"campaign": empty_campaign, "question": "Why?"}, "This campaign has not made any calls yet"),
    ]:
        with pytest.raises(AssistantError, match=re.escape(message)):
            ask(user, **kwargs)
    with pytest.raises(AssistantError, match="not found"):
        ask(other, call=call, question="Summarise this call")

    assert ask(user, call=call, question="x" * 1000).status == AssistantQuestion.Status.PENDING
    for _ in range(assistant.MAX_PENDING_PER_OWNER - 1):
        ask(user, call=call, question="Again?")
    with pytest.raises(AssistantError, match="still being answered"):
        ask(user, call=call, question="One too many?")
    assert AssistantQuestion.objects.count() == assistant.MAX_PENDING_PER_OWNER
    assert (
        ledger.balance_of(workspace=user.personal_workspace).held
        == assistant.MAX_PENDING_PER_OWNER * ledger.AI_QUERY_COST
    )
    assert fake_llm.calls == 0


def test_a_question_whose_hold_expired_is_not_answered(user, fake_llm, ask, run_jobs):
    call = make_call(user, turns=[("callee", "Hello?")])
    question = ask(user, call=call, question="Summarise this call")
    ledger.holds_release_expired(now=timezone.now() + timedelta(hours=1))

    run_jobs()

    question.refresh_from_db()
    assert question.status == AssistantQuestion.Status.FAILED and "waited too long" in question.error
    assert fake_llm.calls == 0 and ai_entries(user) == 0


# --- One campaign ---------------------------------------------------------------------------
OBJECTIONS = [
    "We already use a competitor and we're happy with them.",
    "It's too expensive for a team our size.",
    "I'm not interested, please take me off your list.",
    "Call me back next quarter, we're mid-budget.",
]
OUTCOMES = ["not_interested", "not_interested", "do_not_call", "call_back"]


def campaign_with_calls(user, count: int):
    """A campaign with `count` calls, each with a short conversation, made in two bulk inserts."""
    campaign = make_campaign(user, ["+12025550101"])
    calls = Call.objects.bulk_create(
        Call(
            workspace=user.personal_workspace,
            campaign=campaign,
            to_number=f"+1202{i:07d}",
            from_number="+14155550000",
            provider="simulated",
            status=Call.Status.COMPLETED if i % 10 else Call.Status.NO_ANSWER,
            outcome=OUTCOMES[i % 4] if i % 10 else "",
            duration_seconds=30 + i % 60 if i % 10 else 0,
            captured=[["team_size", str(i % 20)]] if i % 3 == 0 else [],
        )
        for i in range(count)
    )
    CallTurn.objects.bulk_create(
        [
            turn
            for i, call in enumerate(calls)
            if i % 10
            for turn in (
                CallTurn(call=call, sequence=0, speaker="agent", text="Hi, this is Sam from Acme about scheduling."),
                CallTurn(call=call, sequence=1, speaker="callee", text=OBJECTIONS[i % 4]),
            )
        ],
        batch_size=2000,
    )
    return campaign, [call.pk for call in calls]


def systems(fake_llm) -> list[str]:
    return [body["messages"][0]["content"] for body in fake_llm.requests]


def test_a_small_campaign_is_answered_in_one_request(user, fake_llm, ask, run_jobs):
    campaign, ids = campaign_with_calls(user, 12)
    fake_llm.reply("Price and competitors came up most.")

    question = ask(user, campaign=campaign, question="What objections came up most?")
    run_jobs()

    question.refresh_from_db()
    assert question.answer == "Price and competitors came up most."
    assert systems(fake_llm) == [assistant.DIRECT_SYSTEM]
    prompt = fake_llm.requests[0]["messages"][1]["content"]
    assert sorted(int(i) for i in RECORD_ID.findall(prompt)) == ids
    assert "outcome: Not interested" in prompt and "captured: team_size=0" in prompt
    assert "C: It's too expensive for a team our size." in prompt


def test_thousands_of_calls_are_read_in_batches_that_fit_the_context(user, fake_llm, ask, run_jobs, settings):
    settings.LLM_CONTEXT_TOKENS = 32000
    campaign, ids = campaign_with_calls(user, 3000)
    budget = assistant.Budget.from_settings()

    question = ask(user, campaign=campaign, question="What objections came up most?")
    run_jobs()

    question.refresh_from_db()
    assert question.status == AssistantQuestion.Status.ANSWERED, question.error
    kinds = systems(fake_llm)
    assert kinds[-1] == assistant.FINAL_SYSTEM
    assert set(kinds[:-1]) == {assistant.MAP_SYSTEM} and len(kinds) - 1 >= 3
    for body in fake_llm.requests:
        assert request_chars(body) <= budget.input_chars
        assert assistant.estimate_tokens("".join(m["content"] for m in body["messages"])) < 32000 - 1500
        assert "Question: What objections came up most?" in body["messages"][1]["content"]
    # Every call read exactly once, none left out: no caveat on the answer.
    read = [int(i) for body in fake_llm.requests[:-1] for i in RECORD_ID.findall(body["messages"][1]["content"])]
    assert sorted(read) == ids
    assert question.answer == "Okay."
    # However many requests the answer took, the owner pays for one answer.
    assert question.credits_charged == Decimal("0.5") and ai_entries(user) == 1
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(
        STARTING - Decimal("0.5"), Decimal("0")
    )


def test_a_campaign_too_big_for_the_batch_cap_is_sampled_and_says_so(
    user, fake_llm, ask, run_jobs, settings, monkeypatch
):
    settings.LLM_CONTEXT_TOKENS = 4000
    monkeypatch.setattr(assistant, "MAX_BATCHES", 8)
    campaign, ids = campaign_with_calls(user, 1500)
    budget = assistant.Budget.from_settings()
    for _ in range(8):  # long notes per batch, so the notes need merging before the final answer
        fake_llm.reply("Objection noted. " * 300)

    question = ask(user, campaign=campaign, question="Why did calls fail?")
    run_jobs()

    question.refresh_from_db()
    assert question.status == AssistantQuestion.Status.ANSWERED, question.error
    kinds = systems(fake_llm)
    maps = [body for body, kind in zip(fake_llm.requests, kinds, strict=True) if kind == assistant.MAP_SYSTEM]
    assert 2 <= len(maps) <= 8
    assert assistant.COMBINE_SYSTEM in kinds and kinds[-1] == assistant.FINAL_SYSTEM
    assert all(request_chars(body) <= budget.input_chars for body in fake_llm.requests)
    read = sorted(int(i) for body in maps for i in RECORD_ID.findall(body["messages"][1]["content"]))
    assert len(read) == len(set(read)) and 0 < len(read) < len(ids)
    assert read[-1] > ids[int(len(ids) * 0.9)]  # spread over the whole campaign, not just its start
    assert question.answer.startswith("Okay.")
    assert f"Based on {len(read):,} of this campaign's 1,500 calls" in question.answer
    assert ai_entries(user) == 1


def test_a_slow_model_stops_the_reading_early_and_the_answer_says_so(
    user, fake_llm, ask, run_jobs, settings, monkeypatch
):
    settings.LLM_CONTEXT_TOKENS = 2000
    monkeypatch.setattr(assistant, "MAP_SECONDS", 0)  # every batch is "too slow"
    campaign, ids = campaign_with_calls(user, 300)

    question = ask(user, campaign=campaign, question="What objections came up most?")
    run_jobs()

    question.refresh_from_db()
    assert systems(fake_llm) == [assistant.MAP_SYSTEM, assistant.FINAL_SYSTEM]
    read = RECORD_ID.findall(fake_llm.requests[0]["messages"][1]["content"])
    assert f"Based on {len(read):,} of this campaign's 300 calls" in question.answer
    assert question.credits_charged == Decimal("0.5")


# --- Built-in reports -------------------------------------------------------------------------
@pytest.fixture
def reported(user):
    campaign = make_campaign(user, ["+12025550101"])

    def call(number, said="", **fields):
        return make_call(user, campaign=campaign, number=number, turns=[("callee", said)] if said else (), **fields)

    calls = {
        "price": call("+12025550001", "No thanks, I'm not interested right now.", outcome="not_interested"),
        "rival": call("+12025550002", "Honestly not interested, we use a competitor.", outcome="not_interested"),
        "week": call(
            "+12025550003",
            "Can you call me back next week? I'm driving.",
            outcome="call_back",
            captured=[["callback_time", "next week"]],
        ),
        "morning": call(
            "+12025550004",
            "Please call me back tomorrow morning.",
            outcome="call_back",
            captured=[["callback_time", "tomorrow morning"], ["team_size", "12"]],
        ),
        "no_answer": call("+12025550005", status=Call.Status.NO_ANSWER),
        "rejected": call("+12025550006", status=Call.Status.FAILED, failure_reason="Carrier rejected the number"),
        "busy": call("+12025550007", status=Call.Status.BUSY),
        "broken": call("+12025550008", "Hello? Hello?", outcome="technical_failure"),
    }
    return campaign, calls


def test_outcome_counts_and_failure_reasons(reported):
    campaign, _ = reported

    assert [(r.label, r.count, r.percent) for r in reports.outcome_counts(campaign=campaign)] == [
        ("No outcome recorded", 3, 38),
        ("Call back later", 2, 25),
        ("Not interested", 2, 25),
        ("Technical failure", 1, 12),
    ]
    assert [(r.label, r.count) for r in reports.failure_reasons(campaign=campaign)] == [
        ("Busy", 1),
        ("Carrier rejected the number", 1),
        ("No answer", 1),
        ("Technical failure", 1),
    ]


def test_callbacks_and_captured_answers(reported):
    campaign, calls = reported

    assert list(reports.callbacks(campaign=campaign)) == [calls["morning"], calls["week"]]
    page, rows = reports.captured_page(campaign=campaign)
    assert [(row.call, row.field, row.value) for row in rows] == [
        (calls["week"], "callback_time", "next week"),
        (calls["morning"], "callback_time", "tomorrow morning"),
        (calls["morning"], "team_size", "12"),
    ]
    assert page.number == 1 and not page.has_next()
    page, rows = reports.captured_page(campaign=campaign, page=2, per_page=1)
    assert [row.value for row in rows] == ["tomorrow morning", "12"] and not page.has_next()


def test_common_phrases_count_calls_and_skip_stop_words(reported):
    campaign, _ = reported

    phrases = {row.label: (row.count, row.percent) for row in reports.common_phrases(campaign=campaign)}

    # 5 calls had callee speech; a phrase said twice in one call counts once ("hello hello" is one call).
    assert phrases == {"call me back": (2, 40), "not interested": (2, 40)}
    assert reports.phrases_in("I'm NOT interested, thank you") == {"not interested"}
    assert reports.phrases_in("Not interested, please take me off your list.") == {"not interested"}
    assert reports.phrases_in("We're mid-budget. Call me back next quarter") == {
        "call me back",
        "back next",
        "back next quarter",
        "next quarter",
    }


# --- Pages ------------------------------------------------------------------------------------
HX = {"HTTP_HX_REQUEST": "true"}


def test_the_detail_pages_load_the_panel_by_htmx(logged_in, user):
    campaign = make_campaign(user, ["+12025550101"])
    call = make_call(user, campaign=campaign, turns=[("callee", "Hello?")])

    page = text(logged_in.get(reverse("call_detail", args=[call.pk])))
    assert f'hx-get="{reverse("call_assistant", args=[call.pk])}" hx-trigger="load"' in page
    page = text(logged_in.get(reverse("campaign_detail", args=[campaign.pk])))
    assert f'hx-get="{reverse("campaign_assistant", args=[campaign.pk])}" hx-trigger="load"' in page


def test_asking_from_the_panel_then_polling_until_answered(
    logged_in, user, fake_llm, run_jobs, django_capture_on_commit_callbacks
):
    call = make_call(user, turns=[("callee", "Not now, thanks.")], outcome="not_interested")
    url = reverse("call_assistant", args=[call.pk])
    fake_llm.reply("The callee declined politely.")

    panel = text(logged_in.get(url, **HX))
    assert "Each answered question costs 0.5 credit. If the AI fails to answer, nothing is charged." in panel
    assert "Summarise this call" in panel and "What objections were raised?" in panel
    assert 'name="question"' in panel

    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(url, {"question": "Summarise this call"}, **HX)
    question = AssistantQuestion.objects.get()
    poll_url = reverse("assistant_question", args=[question.pk])
    assert response.status_code == 200
    assert f'hx-get="{poll_url}" hx-trigger="every 2s"' in text(response) and "Working on it" in text(response)

    waiting = logged_in.get(poll_url, **HX)
    assert waiting.status_code == 200 and 'hx-trigger="every 2s"' in text(waiting)

    run_jobs()
    done = logged_in.get(poll_url, **HX)
    assert done.status_code == 286  # htmx stops polling
    assert "The callee declined politely." in text(done) and "hx-trigger" not in text(done)
    assert "Charged 0.5 credit." in text(done)
    # The panel lists it, newest first, once it reloads.
    assert "The callee declined politely." in text(logged_in.get(url, **HX))


def test_the_panel_shows_refusals(logged_in, user, fake_llm):
    ledger.credit_post(
        workspace=user.personal_workspace,
        amount=Decimal("-100"),
        kind=LedgerEntry.Kind.STAFF_ADJUSTMENT,
        reference="test:spend-all",
    )
    campaign = make_campaign(user, ["+12025550101"])
    make_call(user, campaign=campaign, turns=[("callee", "Hello?")])

    response = logged_in.post(
        reverse("campaign_assistant", args=[campaign.pk]), {"question": "Why did calls fail?"}, **HX
    )

    assert "Not enough credits. An AI answer costs 0.5 credit; add credits to ask." in text(response)
    assert not AssistantQuestion.objects.exists()


def test_without_an_llm_the_panel_points_to_the_free_reports(logged_in, user, settings):
    settings.LLM_MODEL = ""
    campaign = make_campaign(user, ["+12025550101"])
    make_call(user, campaign=campaign, turns=[("callee", "Hello?")])
    url = reverse("campaign_assistant", args=[campaign.pk])

    panel = text(logged_in.get(url, **HX))
    assert assistant.NO_LLM_MESSAGE in panel
    assert reverse("campaign_report", args=[campaign.pk]) in panel
    assert "<textarea" not in panel and "What objections came up most?" not in panel

    refused = text(logged_in.post(url, {"question": "Why did calls fail?"}, **HX))
    assert assistant.NO_LLM_MESSAGE in refused and not AssistantQuestion.objects.exists()


def test_without_javascript_the_panel_is_its_own_page(logged_in, user, fake_llm, django_capture_on_commit_callbacks):
    call = make_call(user, turns=[("callee", "Hello?")])
    url = reverse("call_assistant", args=[call.pk])

    page = logged_in.get(url)
    assert page.status_code == 200 and "<html" in text(page) and "Ask AI about the call to" in text(page)
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(url, {"question": "Summarise this call"})
    assert response.status_code == 302 and response["Location"] == url
    assert AssistantQuestion.objects.get().status == AssistantQuestion.Status.PENDING


def test_the_campaign_report_page(logged_in, reported):
    campaign, calls = reported

    page = text(logged_in.get(reverse("campaign_report", args=[campaign.pk])))

    for expected in (
        "Not interested",
        "Carrier rejected the number",
        "“call me back”",
        "tomorrow morning",
        "team_size",
        reverse("call_detail", args=[calls["morning"].pk]),
    ):
        assert expected in page
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.AI_QUERY).exists()


def test_other_accounts_calls_campaigns_and_questions_are_404(client, user, other, fake_llm, ask):
    campaign = make_campaign(user, ["+12025550101"])
    call = make_call(user, campaign=campaign, turns=[("callee", "Hello?")])
    question = ask(user, call=call, question="Summarise this call")
    client.force_login(other)

    for url in (
        reverse("call_assistant", args=[call.pk]),
        reverse("campaign_assistant", args=[campaign.pk]),
        reverse("assistant_question", args=[question.pk]),
        reverse("campaign_report", args=[campaign.pk]),
    ):
        assert client.get(url, **HX).status_code == 404, url
    for url in (reverse("call_assistant", args=[call.pk]), reverse("campaign_assistant", args=[campaign.pk])):
        assert client.post(url, {"question": "Leak it"}, **HX).status_code == 404, url
    assert AssistantQuestion.objects.count() == 1


def test_a_question_whose_job_was_lost_fails_for_free_when_polled(logged_in, user, fake_llm, ask):
    call = make_call(user, turns=[("callee", "Hello?")])
    question = ask(user, call=call, question="Summarise this call")
    AssistantQuestion.objects.filter(pk=question.pk).update(created_at=timezone.now() - timedelta(hours=1))

    response = logged_in.get(reverse("assistant_question", args=[question.pk]), **HX)

    assert response.status_code == 286 and "Nothing was charged" in text(response)
    question.refresh_from_db()
    assert question.status == AssistantQuestion.Status.FAILED
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(STARTING, Decimal("0"))
