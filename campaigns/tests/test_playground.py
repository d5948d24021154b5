"""The agent playground: a typed conversation with an agent, through the service and the pages.

Scripted turns are free; turns answered by the AI model (the local fake server) cost 0.5 credit
each, once, and never when the model failed. Nothing a call would do is done: no do-not-call
entry, no call, no transfer.
"""

import html
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import account_created
from billing import ledger
from billing.models import CreditHold, LedgerEntry
from campaigns.agents import playground
from campaigns.agents.playground import PlaygroundError, playground_say, playground_start
from campaigns.conversation.engine.base import Passage, Reply
from campaigns.conversation.engine.llm import GOODBYE_TECHNICAL
from campaigns.conversation.engine.scripted import GOODBYE_DNC, TRANSFERRING, ScriptedEngine
from campaigns.models import Call, DoNotCall, PlaygroundSession
from campaigns.tests.factories import make_agent, make_list
from campaigns.tests.fake_llm import fake_llm_fixture  # noqa: F401 - the `fake_llm` fixture

Q1 = "Are you the person who handles scheduling?"
Q2 = "How many people are on your team?"
OPENING = "Hi Alex, this is Sam from Acme."
STARTER = Decimal("100")


def text(response) -> str:
    return html.unescape(response.content.decode())


def balance(user) -> Decimal:
    return ledger.balance_of(workspace=user.personal_workspace).balance


def ai_charges(user) -> list[Decimal]:
    return list(
        LedgerEntry.objects.filter(
            account__workspace=user.personal_workspace, kind=LedgerEntry.Kind.AI_QUERY
        ).values_list("amount", flat=True)
    )


def no_active_holds(user) -> bool:
    return not CreditHold.objects.filter(
        account__workspace=user.personal_workspace, status=CreditHold.Status.ACTIVE
    ).exists()


def say_in_turn(session, words: str) -> PlaygroundSession:
    """What the page does: send the words with the turn it showed."""
    return playground_say(session, words, turn=session.engine_state["turn"])


@pytest.fixture
def other(db):
    other = User.objects.create_user(
        email="rival@example.com",
        password="another secret pass",
        mobile_number="+14155550999",
        mobile_verified_at=timezone.now(),
    )
    account_created(user=other)
    return other


@pytest.fixture
def agent(user):
    return make_agent(user, name="Sam")


# --- Scripted engine: free ------------------------------------------------------------------
@pytest.mark.django_db
def test_scripted_session_opens_with_the_notices_then_asks_captures_and_closes_for_free(user):
    agent = make_agent(user, ai_disclosure="Just so you know, I'm an AI assistant.", record_calls=True)

    session = playground_start(user.personal_workspace, agent)

    assert session.variables == {"first_name": "Alex", "last_name": "Sample", "phone_number": "+12025550100"}
    assert session.transcript == [
        {
            "speaker": "agent",
            "text": f"Just so you know, I'm an AI assistant. This call is recorded. {OPENING} {Q1}",
            "passages": [],
            "notice": "",
            "charged": False,
        }
    ]

    session = say_in_turn(session, "Yes, that's me.")
    assert [line["text"] for line in session.transcript[1:]] == ["Yes, that's me.", f"Thank you. {Q2}"]
    assert [line["speaker"] for line in session.transcript] == ["agent", "callee", "agent"]
    assert session.captured == [[Q1, "Yes, that's me."]]
    assert not session.ended and session.outcome == ""

    session = say_in_turn(session, "About twelve of us")
    assert session.transcript[-1]["text"] == "Thanks Alex, we will send you the details. Goodbye!"
    assert session.transcript[-1]["notice"] == "The agent would hang up here."
    assert session.captured == [[Q1, "Yes, that's me."], [Q2, "About twelve of us"]]
    assert session.outcome == "interested" and session.ended
    assert session.llm_turns_charged == 0
    assert balance(user) == STARTER and ai_charges(user) == [] and no_active_holds(user)
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_the_sample_contact_is_the_first_of_the_most_recent_list(user):
    make_list(user, ["+12025550111"], name="Old")
    make_list(user, ["+12025550122", "+12025550133"], name="New")

    session = playground_start(user.personal_workspace, make_agent(user))

    assert session.variables == {
        "first_name": "Person0",
        "last_name": "",
        "phone_number": "+12025550122",
        "company": "Co0",
    }
    assert session.transcript[0]["text"].startswith("Hi Person0, this is Sam from Acme.")


@pytest.mark.django_db
def test_a_stop_calling_request_ends_the_session_without_touching_the_do_not_call_list(user, agent):
    session = playground_start(user.personal_workspace, agent, {"first_name": "Ann", "phone_number": "+12025550199"})

    session = say_in_turn(session, "Please stop calling me.")

    assert session.ended and session.outcome == "do_not_call"
    assert session.transcript[-1]["text"] == GOODBYE_DNC
    assert session.transcript[-1]["notice"] == (
        "+12025550199 would be added to your do-not-call list (the playground adds nothing)."
    )
    assert not DoNotCall.objects.exists()
    with pytest.raises(PlaygroundError, match="This conversation has ended"):
        say_in_turn(session, "Hello?")


@pytest.mark.django_db
def test_a_request_for_a_person_shows_the_transfer_without_placing_anything(user):
    agent = make_agent(user, transfer_number="+12025550155")
    session = playground_start(user.personal_workspace, agent)

    session = say_in_turn(session, "Can I speak to a real person?")

    assert session.transcript[-1]["text"] == TRANSFERRING
    assert session.transcript[-1]["notice"] == "The call would be transferred to +12025550155."
    assert session.outcome == "transferred" and session.ended
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_an_answering_machine_hears_the_voicemail_message(user, agent):
    session = playground_start(user.personal_workspace, agent, {"first_name": "Ann"}, answered_by="machine")

    assert session.transcript == [
        {
            "speaker": "agent",
            "text": "Hi Ann, Sam from Acme here. We'll try again soon.",
            "passages": [],
            "notice": "An answering machine picked up: the agent would leave this message and hang up.",
            "charged": False,
        }
    ]
    assert session.outcome == "voicemail" and session.ended


@pytest.mark.django_db
def test_silence_is_a_turn_and_twice_ends_the_call(user, agent):
    session = playground_start(user.personal_workspace, agent)
    session = say_in_turn(session, "   ")
    assert session.transcript[1] == {"speaker": "callee", "text": "(silence)", "passages": []}
    assert not session.ended
    session = say_in_turn(session, "")
    assert session.outcome == "no_response" and session.ended


@pytest.mark.django_db
def test_the_passage_a_reply_is_said_from_is_kept_on_the_agents_line(user, agent, monkeypatch):
    asked = []

    def passages_for(agent_, query, *, limit=3, within=None):
        asked.append((agent_.pk, query))
        return [Passage(id=7, source="Plans.pdf", text="Plans come with a free onboarding call.")]

    monkeypatch.setattr(playground, "passages_for", passages_for)
    session = playground_start(user.personal_workspace, agent)

    session = say_in_turn(session, "Do plans include onboarding?")

    assert asked == [(agent.pk, "Do plans include onboarding?")]
    assert session.transcript[-1]["passages"] == [
        {"id": 7, "source": "Plans.pdf", "text": "Plans come with a free onboarding call."}
    ]
    assert session.transcript[-2]["passages"] == []

    session = say_in_turn(session, "What does it cost?")  # the FAQ's answer: no passage was used
    assert session.transcript[-1]["passages"] == []


@pytest.mark.django_db
def test_the_agents_knowledge_base_is_searched_with_what_the_callee_typed(user, agent):
    from campaigns.conversation.knowledge import knowledge_add_text

    knowledge_add_text(agent, "Opening hours", "We are open from nine to five, Monday to Friday.")
    session = playground_start(user.personal_workspace, agent)

    session = say_in_turn(session, "What are your opening hours on Friday?")

    (passage,) = session.transcript[-1]["passages"]
    assert passage["source"] == "Opening hours" and "nine to five" in passage["text"]


@pytest.mark.django_db
def test_a_repeated_scripted_turn_changes_nothing(user, agent):
    session = playground_start(user.personal_workspace, agent)
    turn = session.engine_state["turn"]
    session = playground_say(session, "Yes", turn=turn)
    again = playground_say(session, "Yes", turn=turn)
    assert len(again.transcript) == 3 and again.captured == [[Q1, "Yes"]]


@pytest.mark.django_db
def test_variables_must_be_usable_names(user, agent, other):
    with pytest.raises(PlaygroundError, match="is not a variable name"):
        playground_start(user.personal_workspace, agent, {"first name": "Ann"})
    with pytest.raises(PlaygroundError):
        playground_start(other.personal_workspace, agent)


# --- LLM engine: 0.5 credit per answer from the model ----------------------------------------
@pytest.mark.django_db
def test_llm_opening_is_free_and_each_answered_turn_costs_half_a_credit_once(user, agent, fake_llm):
    session = playground_start(user.personal_workspace, agent)
    assert fake_llm.calls == 0 and session.transcript[0]["text"] == OPENING
    assert balance(user) == STARTER

    fake_llm.reply("Great. How many people are on your team?", tools=[("record_field", {"name": Q1, "value": "yes"})])
    turn = session.engine_state["turn"]
    session = playground_say(session, "Yes, that's me.", turn=turn)

    assert session.transcript[-1] == {
        "speaker": "agent",
        "text": "Great. How many people are on your team?",
        "passages": [],
        "notice": "",
        "charged": True,
    }
    assert session.captured == [[Q1, "yes"]]
    assert balance(user) == STARTER - Decimal("0.5")
    assert ai_charges(user) == [Decimal("-0.5")]

    # The same turn submitted again (a double click, a resent form): no model call, no charge.
    again = playground_say(session, "Yes, that's me.", turn=turn)
    assert fake_llm.calls == 1
    assert len(again.transcript) == 3
    assert balance(user) == STARTER - Decimal("0.5")

    fake_llm.reply(tools=[("end_call", {"outcome": "interested", "final_words": "Thanks Alex, goodbye!"})])
    session = say_in_turn(again, "About twelve.")
    assert session.outcome == "interested" and session.ended
    assert session.llm_turns_charged == 2
    assert playground.playground_credits(session) == Decimal("1.0")
    assert balance(user) == STARTER - Decimal("1.0")
    assert ai_charges(user) == [Decimal("-0.5"), Decimal("-0.5")]
    assert no_active_holds(user)


@pytest.mark.django_db
def test_a_failing_model_charges_nothing(user, agent, fake_llm):
    session = playground_start(user.personal_workspace, agent)
    fake_llm.fail(500).fail(500)

    session = say_in_turn(session, "Yes, that's me.")

    assert fake_llm.calls == 2  # tried, and retried once
    assert session.transcript[-1]["text"] == GOODBYE_TECHNICAL
    assert session.transcript[-1]["charged"] is False
    assert "did not answer" in session.transcript[-1]["notice"]
    assert session.outcome == "technical_failure" and session.ended
    assert session.llm_turns_charged == 0
    assert balance(user) == STARTER and ai_charges(user) == [] and no_active_holds(user)


@pytest.mark.django_db
def test_a_model_that_times_out_twice_charges_nothing(user, agent, fake_llm):
    session = playground_start(user.personal_workspace, agent)
    fake_llm.reply("Too late.", delay=1).reply("Still too late.", delay=1)

    session = say_in_turn(session, "Yes, that's me.")

    assert session.outcome == "technical_failure"
    assert balance(user) == STARTER and ai_charges(user) == [] and no_active_holds(user)


@pytest.mark.django_db
def test_without_credits_an_ai_turn_is_refused_and_no_model_is_asked(user, agent, fake_llm):
    ledger.credit_adjust(workspace=user.personal_workspace, amount=Decimal("-99.75"), memo="Spent elsewhere", by=None)
    session = playground_start(user.personal_workspace, agent)

    with pytest.raises(PlaygroundError, match=r"An AI turn costs 0.5 credit; add credits"):
        say_in_turn(session, "Yes, that's me.")

    session.refresh_from_db()
    assert fake_llm.calls == 0
    assert len(session.transcript) == 1 and session.engine_state["turn"] == 1
    assert balance(user) == Decimal("0.25") and no_active_holds(user)


class SlowModelEngine(ScriptedEngine):
    """An engine that says it asks a model: first a holding line, then the answer on the retry."""

    uses_model = True

    def respond(self, ctx, speech):
        ctx.state["asked"] = ctx.state.get("asked", []) + [speech]
        if len(ctx.state["asked"]) == 1:
            return Reply(say="One moment, please.", hold=True)
        return Reply(say="Here is the answer.", outcome="interested")


@pytest.mark.django_db
def test_a_holding_line_is_free_and_the_engine_is_asked_again_at_once(user, agent, monkeypatch):
    monkeypatch.setattr(playground, "engine_for", lambda agent: SlowModelEngine())
    session = playground_start(user.personal_workspace, agent)

    session = say_in_turn(session, "Hello?")

    assert session.engine_state["asked"] == ["Hello?", ""]  # the retry, like a call's, hears nothing new
    assert [
        (line["speaker"], line["text"], line["charged"] if line["speaker"] == "agent" else None)
        for line in session.transcript[1:]
    ] == [
        ("callee", "Hello?", None),
        ("agent", "One moment, please.", False),
        ("agent", "Here is the answer.", True),
    ]
    assert "ask the model again" in session.transcript[2]["notice"]
    assert not session.engine_state["holding"] and session.outcome == "interested"
    assert ai_charges(user) == [Decimal("-0.5")] and no_active_holds(user)


class CrashOnceEngine(ScriptedEngine):
    uses_model = True
    crashed = False

    def respond(self, ctx, speech):
        if not CrashOnceEngine.crashed:
            CrashOnceEngine.crashed = True
            raise RuntimeError("a bug")
        return Reply(say="Answered.")


@pytest.mark.django_db
def test_a_turn_that_crashed_is_rolled_back_freed_and_charged_once_when_sent_again(user, agent, monkeypatch):
    monkeypatch.setattr(playground, "engine_for", lambda agent: CrashOnceEngine())
    session = playground_start(user.personal_workspace, agent)

    with pytest.raises(RuntimeError):
        say_in_turn(session, "Hello?")
    session.refresh_from_db()
    assert len(session.transcript) == 1 and balance(user) == STARTER and no_active_holds(user)

    session = say_in_turn(session, "Hello?")
    assert [line["text"] for line in session.transcript[1:]] == ["Hello?", "Answered."]
    assert ai_charges(user) == [Decimal("-0.5")] and no_active_holds(user)
    assert set(CreditHold.objects.values_list("reference", "status")) == {
        (f"playground:{session.pk}:1", CreditHold.Status.RELEASED),
        (f"playground:{session.pk}:1:try2", CreditHold.Status.SETTLED),
    }


@pytest.mark.django_db(transaction=True)
def test_the_same_turn_sent_twice_at_once_asks_the_model_once_and_charges_once(user, agent, fake_llm):
    session = playground_start(user.personal_workspace, agent)
    turn = session.engine_state["turn"]
    fake_llm.reply("Great, thanks.", delay=0.3)
    errors = []

    def send():
        try:
            playground_say(PlaygroundSession.objects.get(pk=session.pk), "Yes, that's me.", turn=turn)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    session.refresh_from_db()
    assert fake_llm.calls == 1
    assert [line["text"] for line in session.transcript[1:]] == ["Yes, that's me.", "Great, thanks."]
    assert ai_charges(user) == [Decimal("-0.5")] and no_active_holds(user)


@pytest.mark.django_db(transaction=True)
def test_nothing_is_locked_and_no_transaction_open_while_the_model_thinks(user, agent, fake_llm):
    from django.db import OperationalError, transaction

    session = playground_start(user.personal_workspace, agent)
    gate = threading.Event()
    fake_llm.reply("Great, thanks.", gate=gate)
    errors = []

    def send():
        try:
            say_in_turn(PlaygroundSession.objects.get(pk=session.pk), "Yes, that's me.")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=send)
    thread.start()
    try:
        assert fake_llm.arrived.wait(5)
        with transaction.atomic():
            PlaygroundSession.objects.select_for_update(nowait=True).get(pk=session.pk)  # not locked
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] == 0
    except OperationalError as exc:  # pragma: no cover - the failure this test is about
        raise AssertionError(f"the session row was locked while the model thought: {exc}") from exc
    finally:
        gate.set()
        thread.join(10)
    assert errors == []
    session.refresh_from_db()
    assert [line["text"] for line in session.transcript[1:]] == ["Yes, that's me.", "Great, thanks."]
    assert ai_charges(user) == [Decimal("-0.5")] and no_active_holds(user)


# --- Pages ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_agent_list_links_to_the_playground(logged_in, agent):
    response = logged_in.get(reverse("agent_list"))
    assert reverse("agent_playground", args=[agent.pk]) in text(response)


@pytest.mark.django_db
def test_start_a_conversation_from_the_page_with_edited_variables(logged_in, user, agent):
    url = reverse("agent_playground", args=[agent.pk])
    page = text(logged_in.get(url))
    assert "No conversation yet" in page
    assert 'value="Alex"' in page and "Scripted (no AI model)" in page and "scripted turns are free" in page

    response = logged_in.post(
        reverse("playground_start", args=[agent.pk]),
        {"first_name": "Bea", "last_name": "", "phone_number": "", "other": "company = Bolt\n", "answered_by": "human"},
    )

    assert response.status_code == 302 and response["Location"] == url
    session = PlaygroundSession.objects.get(agent=agent)
    assert session.variables == {"first_name": "Bea", "last_name": "", "phone_number": "", "company": "Bolt"}
    page = text(logged_in.get(url))
    assert f"Hi Bea, this is Sam from Acme. {Q1}" in page
    assert 'name="turn" value="1"' in page and 'name="shown" value="1"' in page


@pytest.mark.django_db
def test_the_start_form_refuses_a_malformed_variable_line(logged_in, agent):
    response = logged_in.post(
        reverse("playground_start", args=[agent.pk]),
        {"first_name": "Bea", "other": "company Bolt", "answered_by": "human"},
    )
    assert response.status_code == 200
    assert "Line 1: write name = value" in text(response)
    assert not PlaygroundSession.objects.exists()


@pytest.mark.django_db
def test_htmx_say_returns_the_new_lines_and_the_updated_panel(logged_in, user, agent):
    session = playground_start(user.personal_workspace, agent)
    url = reverse("playground_say", args=[agent.pk, session.pk])

    response = logged_in.post(url, {"text": "Yes, that's me.", "turn": 1, "shown": 1}, HTTP_HX_REQUEST="true")

    page = text(response)
    assert response.status_code == 200
    assert page.count('class="turn turn-') == 2
    assert "Yes, that's me." in page and f"Thank you. {Q2}" in page
    assert OPENING not in page  # already on the page
    assert 'id="playground-panel" class="playground-panel" hx-swap-oob="true"' in page
    assert f"<td>{Q1}</td><td>Yes, that's me.</td>" in page
    assert 'name="turn" value="2"' in page and 'name="shown" value="3"' in page

    # The same form sent again: nothing new, nothing changed.
    again = text(logged_in.post(url, {"text": "Yes, that's me.", "turn": 1, "shown": 3}, HTTP_HX_REQUEST="true"))
    assert 'class="turn turn-' not in again
    session.refresh_from_db()
    assert len(session.transcript) == 3


@pytest.mark.django_db
def test_without_javascript_say_redirects_to_the_page(logged_in, user, agent):
    session = playground_start(user.personal_workspace, agent)
    response = logged_in.post(
        reverse("playground_say", args=[agent.pk, session.pk]), {"text": "No thanks, not interested", "turn": 1}
    )
    assert response.status_code == 302
    page = text(logged_in.get(response["Location"]))
    assert "No problem at all, thank you for your time. Goodbye." in page
    assert "Not interested" in page and "The call is over." in page


@pytest.mark.django_db
def test_the_page_refuses_an_ai_turn_without_credits(logged_in, user, agent, fake_llm):
    ledger.credit_adjust(workspace=user.personal_workspace, amount=Decimal("-100"), memo="Spent elsewhere", by=None)
    session = playground_start(user.personal_workspace, agent)
    url = reverse("playground_say", args=[agent.pk, session.pk])

    page = text(logged_in.post(url, {"text": "Hello", "turn": 1, "shown": 1}, HTTP_HX_REQUEST="true"))
    assert "An AI turn costs 0.5 credit; add credits" in page
    assert 'value="Hello"' in page  # what was typed is kept

    response = logged_in.post(url, {"text": "Hello", "turn": 1}, follow=True)
    assert "An AI turn costs 0.5 credit; add credits" in text(response)
    assert fake_llm.calls == 0


@pytest.mark.django_db
def test_the_page_shows_engine_credits_and_passages_for_an_llm_agent(logged_in, user, agent, fake_llm, monkeypatch):
    monkeypatch.setattr(
        playground, "passages_for", lambda *a, **k: [Passage(id=1, source="FAQ", text="We open at nine.")]
    )
    session = playground_start(user.personal_workspace, agent)
    fake_llm.reply("We open at nine.")
    say_in_turn(session, "When do you open?")

    page = text(logged_in.get(reverse("agent_playground", args=[agent.pk])))

    assert "AI model (LLM) · fake-model" in page and "costs 0.5 credit" in page
    assert "1 knowledge passage used" in page and "<strong>FAQ</strong>: We open at nine." in page
    assert 'data-testid="playground-credits">0.5<' in page
    assert "99.50 credits available" in page


@pytest.mark.django_db
def test_restart_starts_again_with_the_same_contact(logged_in, user, agent):
    session = playground_start(user.personal_workspace, agent, {"first_name": "Cy"})
    say_in_turn(session, "stop calling")
    response = logged_in.post(reverse("playground_restart", args=[agent.pk, session.pk]))
    assert response.status_code == 302
    latest = PlaygroundSession.objects.filter(agent=agent).order_by("-id").first()
    assert latest.pk != session.pk and latest.variables == {"first_name": "Cy"} and not latest.ended


@pytest.mark.django_db
def test_another_users_agent_or_session_is_not_found(client, user, other, agent):
    session = playground_start(user.personal_workspace, agent)
    own_agent = make_agent(other, name="Theirs")
    client.force_login(other)

    assert client.get(reverse("agent_playground", args=[agent.pk])).status_code == 404
    assert client.post(reverse("playground_start", args=[agent.pk]), {"answered_by": "human"}).status_code == 404
    assert client.post(reverse("playground_say", args=[agent.pk, session.pk]), {"text": "hi"}).status_code == 404
    assert client.post(reverse("playground_restart", args=[agent.pk, session.pk])).status_code == 404
    # Their own agent with someone else's session in the URL is no way in either.
    assert client.post(reverse("playground_say", args=[own_agent.pk, session.pk]), {"text": "hi"}).status_code == 404
    session.refresh_from_db()
    assert len(session.transcript) == 1
    assert PlaygroundSession.objects.count() == 1


@pytest.mark.django_db
def test_the_playground_needs_a_login(client, agent):
    response = client.get(reverse("agent_playground", args=[agent.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
