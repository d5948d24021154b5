"""Engines stream their replies (`respond_stream`): text pieces to say at once, then the Reply.

The LLM engine reads the model's stream with the openai SDK's async client against the strict
fake server: each delta is passed on as it arrives, tool calls are assembled from their pieces
(in the shapes of the SDK's own tests) and act as in `respond`; stop-calling and end-call phrases
need no model; a reply that ends the call before any word went out is not streamed (its words are
the carrier's to say when the call is handed back).
"""

import asyncio

import openai
import pytest

from campaigns.conversation.engine import ConversationContext, Reply, wording
from campaigns.conversation.engine.base import ConversationEngine
from campaigns.conversation.engine.llm import LLMEngine
from campaigns.conversation.engine.scripted import ScriptedEngine
from campaigns.tests import relay_examples as examples
from campaigns.tests.fake_llm import fake_llm_fixture  # noqa: F401 - the `fake_llm` fixture
from campaigns.tests.test_llm_engine import Q1, Q2, make_agent


def streamed(engine, ctx, speech) -> tuple[list[str], Reply]:
    async def collect():
        pieces = [piece async for piece in engine.respond_stream(ctx, speech)]
        assert isinstance(pieces[-1], Reply) and all(isinstance(p, str) for p in pieces[:-1])
        return pieces[:-1], pieces[-1]

    return asyncio.run(collect())


@pytest.fixture
def ctx():
    return ConversationContext(agent=make_agent(), variables={"first_name": "Ann"})


@pytest.fixture
def llm(fake_llm, settings, ctx):
    settings.LLM_TIMEOUT_SECONDS = 3.0
    engine = LLMEngine()
    engine.start(ctx)
    return engine


def test_the_model_text_streams_piece_by_piece_and_is_remembered_whole(llm, ctx, fake_llm):
    fake_llm.reply("Great. How many people are on your team, Ann?")
    pieces, reply = streamed(llm, ctx, "Yes, that's me.")
    assert len(pieces) > 1 and "".join(pieces) == reply.say == "Great. How many people are on your team, Ann?"
    assert reply.used_model and not reply.end_call and reply.model_first_token_ms is not None
    assert fake_llm.requests[0]["stream"] is True
    assert ctx.state["messages"][-1] == {"role": "assistant", "content": reply.say}


def test_a_tool_call_in_the_sdks_own_chunk_shapes_acts_while_streaming(llm, ctx, fake_llm):
    fake_llm.reply(
        chunks=examples.openai_tool_call_chunks(
            "record_field", ['{"name"', ": ", '"team size", "value": "12"}'], content=["Twelve,", " lovely."]
        )
    )
    pieces, reply = streamed(llm, ctx, "We are twelve.")
    assert pieces == ["Twelve,", " lovely."]
    assert reply.captured == {"team size": "12"} and reply.say == "Twelve, lovely."


def test_a_tool_call_without_words_gets_a_streamed_follow_up(llm, ctx, fake_llm):
    fake_llm.reply(tools=[("record_field", {"name": "team size", "value": "12"})]).reply(f"Got it. {Q2}")
    pieces, reply = streamed(llm, ctx, "Twelve of us.")
    assert "".join(pieces) == reply.say == f"Got it. {Q2}"
    assert fake_llm.requests[1]["tool_choice"] == "none"


def test_an_end_call_after_streamed_words_keeps_both_and_says_the_last_ones_unstreamed(llm, ctx, fake_llm):
    fake_llm.reply("Lovely.", tools=[("end_call", {"outcome": "interested", "final_words": "Goodbye Ann!"})])
    pieces, reply = streamed(llm, ctx, "Send me the details.")
    assert "".join(pieces) == "Lovely."
    assert reply.end_call and reply.outcome == "interested" and reply.say == "Lovely. Goodbye Ann!"


def test_stop_calling_needs_no_model_and_nothing_is_streamed(llm, ctx, fake_llm):
    pieces, reply = streamed(llm, ctx, "Please stop calling me.")
    assert pieces == [] and reply.do_not_call and reply.end_call and reply.say == wording.line("dnc")
    assert fake_llm.calls == 0


def test_a_model_that_fails_holds_then_retries_within_the_same_reply(llm, ctx, fake_llm):
    fake_llm.fail(503).reply("Here I am.")
    pieces, reply = streamed(llm, ctx, "Hello?")
    assert pieces[0] == wording.line("wait") and "".join(pieces[1:]) == "Here I am." == reply.say


def test_the_fake_model_refuses_what_the_real_api_refuses(fake_llm):
    client = openai.OpenAI(base_url=fake_llm.base_url, api_key="test-key", max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], extra_body={"temperture": 0.2}
        )
    assert refused.value.status_code == 400
    assert fake_llm.refused == ["Unrecognized request argument supplied: temperture"]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream_options={"include_usage": True}
        )
    assert fake_llm.calls == 0  # nothing was answered


@pytest.mark.django_db
def test_the_scripted_engine_streams_its_line_and_leaves_goodbyes_unstreamed(user):
    from campaigns.tests.factories import make_agent as saved_agent

    engine, ctx = ScriptedEngine(), ConversationContext(agent=saved_agent(user), variables={"first_name": "Ann"})
    engine.start(ctx)
    pieces, reply = streamed(engine, ctx, "Yes, I am.")
    assert pieces == [reply.say] and reply.say.endswith(Q2)
    pieces, reply = streamed(engine, ctx, "Not interested, thanks.")
    assert pieces == [] and reply.end_call and reply.say == wording.line("not_interested")


def test_any_engine_streams_through_the_default(ctx):
    class Plain(ConversationEngine):
        def respond(self, ctx, speech):
            return Reply(say=f"You said {speech}. {Q1}")

    pieces, reply = streamed(Plain(), ctx, "hello")
    assert pieces == [f"You said hello. {Q1}"] and reply.say == pieces[0]
