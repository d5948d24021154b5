"""The LLM engine: an OpenAI-compatible chat model drives the conversation through function calls.

Kept predictable where it matters:
- the opening line is spoken exactly as written, without asking the model;
- a request to stop calling (in any agent language) ends the call and lists the number, and one
  of the agent's end-call phrases ends it politely, whatever the model would have said: the model
  is not asked;
- a model that is slow, down or silent never leaves the callee in silence. The first transient
  failure of a turn (timeout, connection error, 5xx, 429) answers with a short holding line and
  `Reply.hold`; the platform says it and at once asks again with `respond(ctx, "")`, which retries
  the model once with the callee's words. A second failure, or any other error, ends the call
  politely with the outcome "technical_failure". Neither the holding line nor the failure counts
  as AI work (`Reply.used_model` is False): only replies the model produced are paid for.
- the model states only the facts it is given: the agent's instructions, its FAQ answers and the
  knowledge-base passages retrieved for the turn. The reply keeps (in `ctx.knowledge`) only the
  passages whose words it repeats (engine/grounding.py), so the transcript never says a reply
  was answered from passages it did not use.

With `settings.LLM_STREAM` the completion is streamed (`stream=True`) and assembled from the
chunks (tool-call arguments arrive in pieces, by index).

Time: a turn has one deadline (`ctx.deadline`, else TURN_DEADLINE_SECONDS from its start) for
all its model requests, and each request also at most LLM_TIMEOUT_SECONDS. A request runs in
its own thread and is waited for only until then, so neither a slow server, nor a stream that
stalls between chunks, nor a tool call and its follow-up together can make the callee wait
longer: past the deadline the turn gives its holding line (or, on the retry, its goodbye).

State kept between turns: `messages` (the last MAX_HISTORY {role, content} turns, system prompt
excluded: it is rebuilt from the agent each turn), `silences`, `outcome` (the last outcome the
engine gave) and, between a holding line and its retry, `retry` (the turn's knowledge passages).

Why one module of about 600 lines: it is one engine; its prompt, tools, retries and turn deadline
are read together to see what a callee can hear.
"""

import asyncio
import contextlib
import functools
import json
import logging
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime

import openai
from django.conf import settings
from openai import AsyncOpenAI, OpenAI

from . import intents, wording
from .base import ConversationContext, ConversationEngine, Passage, Reply
from .grounding import passages_drawn_on
from .scripted import end_call_outcome, parse_answers, parse_questions
from .spec import agent_capture_fields, agent_outcomes

logger = logging.getLogger(__name__)

MAX_HISTORY = 20
MAX_WORDS = 40
SILENCE = "(the caller said nothing)"
# The model answered with nothing to say.
HOLDING = wording.line("say_again")
# Said while the model is asked again after a timeout or an error.
WAIT = wording.line("wait")
GOODBYE_TECHNICAL = wording.line("technical")
# Set by the platform when the model fails, never chosen by the model.
TECHNICAL_FAILURE_OUTCOME = "technical_failure"
# Outcomes the platform decides from what happened on the line, not the model.
PLATFORM_OUTCOMES = {"voicemail", "time_limit", "transferred", "no_response", TECHNICAL_FAILURE_OUTCOME}
# Outcomes any call may end with, whatever the agent counts as success.
GENERAL_OUTCOMES = ("not_interested", "call_back", "wrong_person", "do_not_call")
LANGUAGE_NAMES = {
    "en-US": "English",
    "en-GB": "British English",
    "es-ES": "Spanish",
    "fr-FR": "French",
    "de-DE": "German",
}


class ModelTooSlow(Exception):
    """No complete answer when the request's time (or the turn's) was up."""


def _in_time(request, seconds: float):
    """`request(cancelled)` run in its own thread and waited for at most `seconds`: a socket
    read cannot be interrupted from outside, but the turn can stop waiting for it. An abandoned
    request is told by `cancelled` and ends on its own (its client timeout bounds it)."""
    done, cancelled, outcome = threading.Event(), threading.Event(), {}

    def run():
        try:
            outcome["value"] = request(cancelled)
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="llm-request", daemon=True).start()
    if not done.wait(seconds):
        cancelled.set()
        raise ModelTooSlow(f"no complete answer within {seconds:.1f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def is_transient(exc: BaseException) -> bool:
    """Worth one more try: the model was slow, unreachable, overloaded or broke off mid-stream."""
    if isinstance(exc, (ModelTooSlow, openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError)):
        return True
    # An error event in the middle of a stream (no HTTP status: the response had started well).
    return type(exc) is openai.APIError


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    # Streamed: milliseconds from the request to the first token (text or tool call).
    first_token_ms: float | None = None


def allowed_outcomes(agent=None) -> list[str]:
    """What the model may record: the agent's own outcomes, then the general ones."""
    names = [o["name"] for o in agent_outcomes(agent) if o["name"] not in PLATFORM_OUTCOMES]
    return names + [name for name in GENERAL_OUTCOMES if name not in names]


def _outcome_descriptions(agent) -> dict[str, str]:
    described = {o["name"]: o["description"] for o in agent_outcomes(agent)}
    general = {
        "not_interested": "Politely declined.",
        "call_back": "Asked to be called at another time.",
        "wrong_person": "Not the person we meant to reach.",
        "do_not_call": "Asked never to be called again.",
    }
    return {name: described.get(name) or general.get(name, "") for name in allowed_outcomes(agent)}


def tools(agent=None) -> list[dict]:
    """The functions the model may call; transfer only for agents with a number to transfer to."""
    descriptions = _outcome_descriptions(agent)
    outcome = {
        "type": "string",
        "enum": list(descriptions),
        "description": "How the call went: " + "; ".join(f"{n} = {d}" if d else n for n, d in descriptions.items()),
    }
    fields = agent_capture_fields(agent) if agent is not None else []
    if fields:
        field_name = {
            "type": "string",
            "enum": [f["name"] for f in fields],
            "description": "; ".join(
                f"{f['name']} = {f['description']}" if f["description"] else f["name"] for f in fields
            ),
        }
    else:
        field_name = {"type": "string", "description": "What the answer is to: the question asked."}
    transfer_number = getattr(agent, "transfer_number", "") if agent is not None else ""
    transfer_when = (getattr(agent, "transfer_when", "") or "").strip() if agent is not None else ""

    def function(name, description, properties=None, required=()):
        return {
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": {"type": "object", "properties": properties or {}, "required": list(required)},
            },
        }

    functions = [
        function(
            "end_call",
            "Say your final words and hang up.",
            {"outcome": outcome, "final_words": {"type": "string", "description": "Your last sentence."}},
            ["outcome", "final_words"],
        ),
        function("set_outcome", "Record how the call is going without ending it.", {"outcome": outcome}, ["outcome"]),
        function(
            "record_field",
            "Record an answer the caller gave.",
            {"name": field_name, "value": {"type": "string", "description": "The caller's answer, briefly."}},
            ["name", "value"],
        ),
        function(
            "schedule_callback",
            "The caller wants to be called back at another time: record when. Then say goodbye with end_call.",
            {
                "when": {"type": "string", "description": "When to call back, in the caller's words."},
                "iso_time": {
                    "type": "string",
                    "description": "The same as an ISO 8601 date and time, only if the caller gave an exact one.",
                },
                "note": {"type": "string", "description": "Anything to know for the call back, briefly."},
            },
            ["when"],
        ),
        function("do_not_call", "The caller asked never to be called again: end the call and list the number."),
    ]
    if transfer_number:
        when = "The caller asked for a person" + (f", or {transfer_when}" if transfer_when else "")
        functions.append(
            function(
                "transfer_call",
                f"{when}: say one short sentence and transfer the call to a colleague.",
                {"final_words": {"type": "string", "description": "What you say before transferring."}},
                ["final_words"],
            )
        )
    return functions


def _passage_line(passage: Passage) -> str:
    """ "heading path\\n\\nbody" on one line: "(source) heading path: body"."""
    text = passage.text.replace("\n\n", ": ", 1) if "\n\n" in passage.text else passage.text
    return f"- ({passage.source}) " + " ".join(text.split())


def system_prompt(ctx: ConversationContext) -> str:
    agent = ctx.agent
    first_name = str(ctx.variables.get("first_name") or "").strip() or "the contact"
    company = str(ctx.variables.get("company") or "").strip()
    language = LANGUAGE_NAMES.get(agent.language, agent.language)
    persona = ctx.fill(getattr(agent, "persona", "") or "").strip()
    goal = ctx.fill(getattr(agent, "goal", "") or "").strip().rstrip(".")
    questions = "\n".join(f"- {ctx.fill(q)}" for q in parse_questions(agent.questions)) or "- (none)"
    facts = [f"- {ctx.fill(answer)}" for _, answer in parse_answers(agent.answers)]
    facts += [_passage_line(p) for p in ctx.knowledge]
    outcomes = "\n".join(f"- {n}: {d}" if d else f"- {n}" for n, d in _outcome_descriptions(agent).items())
    fields = agent_capture_fields(agent)
    transfer_when = (getattr(agent, "transfer_when", "") or "").strip().rstrip(".")
    phrases = intents.end_call_phrases(getattr(agent, "end_call_phrases", ""))

    lines = [
        f"You are {agent.name}, an AI assistant on a phone call, calling {first_name}"
        + (f" at {company}" if company else "")
        + ".",
        *(["Your instructions:", persona] if persona else []),
        *([f"The goal of this call: {goal}."] if goal else []),
        f"Speak {language} only.",
        f"This is a spoken phone call: keep every reply to one or two short sentences (at most {MAX_WORDS} words), "
        "no lists, no markdown, no emojis, no links.",
        "Ask these questions, in order, one at a time:",
        questions,
        "Facts you may use. These and your instructions are the ONLY facts you may state: never invent prices, "
        "numbers, dates, names or promises that are not written here. If asked something they do not cover, "
        "say a colleague will follow up.",
        "\n".join(facts) or "- (none)",
        "Outcomes (give the exact name to set_outcome or end_call):",
        outcomes,
    ]
    if fields:
        lines += [
            "Record these with record_field as soon as the caller gives them (name = the field name):",
            "\n".join(f"- {f['name']}: {f['description']}" if f["description"] else f"- {f['name']}" for f in fields),
        ]
    else:
        lines.append("Use record_field to record each answer the caller gives (name = the question).")
    lines += [
        f'When the questions are done, end the call with end_call, saying: "{ctx.fill(agent.closing_line)}"',
        "If the caller is not interested, end politely with end_call and the outcome not_interested. "
        "If they ask to be called another time, use schedule_callback with their words, then end_call with the "
        "outcome call_back. If they ask not to be called again, use do_not_call.",
    ]
    if getattr(agent, "transfer_number", ""):
        lines.append(
            "If the caller asks to speak with a person"
            + (f", or when {transfer_when}" if transfer_when else "")
            + ", use transfer_call."
        )
    else:
        lines.append("You cannot transfer the call: if the caller asks for a person, say a colleague will call back.")
    if phrases:
        lines.append(
            "If the caller says one of these, say goodbye and end the call: " + ", ".join(f'"{p}"' for p in phrases)
        )
    lines.append("Always put what you say to the caller in your message text.")
    return "\n".join(lines)


def limit_words(text: str, limit: int = MAX_WORDS) -> str:
    """At most `limit` words, cut at a sentence boundary when possible."""
    text = " ".join((text or "").split())
    if len(text.split()) <= limit:
        return text
    kept, count = [], 0
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        n = len(sentence.split())
        if count + n > limit:
            break
        kept.append(sentence)
        count += n
    if kept:
        return " ".join(kept)
    return " ".join(text.split()[:limit]).rstrip(",;:") + "."


def _field_name(name: str, fields: list[dict]) -> str:
    """The capture field the model meant (exact, or ignoring case, spaces and dashes); "" if none."""
    if not fields:
        return name
    wanted = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return next((f["name"] for f in fields if f["name"] == name or f["name"].lower() == wanted), "")


def _iso_time(value) -> str:
    try:
        return datetime.fromisoformat(str(value or "").strip()).isoformat(timespec="minutes")
    except ValueError:
        return ""


@functools.lru_cache(maxsize=8)
def _shared_client(base_url: str | None, api_key: str, timeout: float) -> OpenAI:
    """One client per process and configuration: building one loads the CA bundle (~17 ms), and a
    shared one keeps its connection to the model server open between turns."""
    return OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)  # retries are ours


# One asynchronous client per event loop and configuration: its connections belong to the loop
# that opened them (a test server, or a uvicorn worker, runs its own).
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _shared_async_client(base_url: str | None, api_key: str, timeout: float) -> AsyncOpenAI:
    clients = _async_clients.setdefault(asyncio.get_running_loop(), {})
    key = (base_url, api_key, timeout)
    if key not in clients:
        clients[key] = AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
    return clients[key]


class LLMEngine(ConversationEngine):
    uses_model = True

    def __init__(self, client: OpenAI | None = None, async_client: AsyncOpenAI | None = None):
        self._client = client
        self._async_client = async_client

    @property
    def client(self) -> OpenAI:
        if self._client is None:
            self._client = _shared_client(
                settings.LLM_BASE_URL or None, settings.LLM_API_KEY or "none", float(settings.LLM_TIMEOUT_SECONDS)
            )
        return self._client

    @property
    def async_client(self) -> AsyncOpenAI:
        if self._async_client is None:
            return _shared_async_client(
                settings.LLM_BASE_URL or None, settings.LLM_API_KEY or "none", float(settings.LLM_TIMEOUT_SECONDS)
            )
        return self._async_client

    # --- history -----------------------------------------------------------------------
    def _remember(self, ctx: ConversationContext, role: str, content: str) -> None:
        messages = list(ctx.state.get("messages") or [])
        messages.append({"role": role, "content": content})
        ctx.state["messages"] = messages[-MAX_HISTORY:]

    # --- turns -------------------------------------------------------------------------
    def start(self, ctx: ConversationContext) -> Reply:
        ctx.state["silences"] = 0
        ctx.state["messages"] = []
        ctx.state.pop("retry", None)
        opening = ctx.fill(ctx.agent.opening_line)
        self._remember(ctx, "assistant", opening)
        return Reply(say=opening)

    def respond(self, ctx: ConversationContext, speech: str) -> Reply:
        asked = self._turn_start(ctx, speech)
        if isinstance(asked, Reply):
            return asked
        return self._said(ctx, self._ask_model(ctx, retrying=asked))

    def _turn_start(self, ctx: ConversationContext, speech: str) -> Reply | bool:
        """What a turn settles before any model is asked: a Reply when the model is not needed
        (stop calling, silence twice, an end-call phrase), else whether the model is asked again
        after a holding line (True) or for the callee's new words (False, which are remembered)."""
        if ctx.deadline is None:
            ctx.deadline = time.monotonic() + float(settings.TURN_DEADLINE_SECONDS)
        speech = (speech or "").strip()
        agent = ctx.agent
        retry = ctx.state.pop("retry", None)
        if retry is not None and not speech:
            # The holding line has been said: the callee's words are already in the history.
            if not ctx.knowledge:
                ctx.knowledge = [Passage(**p) for p in retry.get("knowledge", [])]
            return True
        if intents.wants_no_more_calls(speech):
            self._remember(ctx, "user", speech)
            return self._said(
                ctx,
                Reply(
                    say=wording.line_for("dnc", agent),
                    end_call=True,
                    outcome="do_not_call",
                    do_not_call=True,
                    used_model=False,
                ),
            )
        if not speech:
            ctx.state["silences"] = ctx.state.get("silences", 0) + 1
            if ctx.state["silences"] >= 2:
                self._remember(ctx, "user", SILENCE)
                return self._said(
                    ctx,
                    Reply(
                        say=wording.line_for("silent", agent), end_call=True, outcome="no_response", used_model=False
                    ),
                )
        else:
            ctx.state["silences"] = 0
            if intents.said_end_call_phrase(speech, getattr(agent, "end_call_phrases", "")):
                self._remember(ctx, "user", speech)
                outcome = end_call_outcome(ctx, speech)
                return self._said(
                    ctx, Reply(say=wording.line_for("goodbye", agent), end_call=True, outcome=outcome, used_model=False)
                )
        self._remember(ctx, "user", speech or SILENCE)
        return False

    def interrupted(self, state: dict, heard: str) -> None:
        """The callee cut the last reply short: the history keeps only what they heard of it."""
        messages = list(state.get("messages") or [])
        heard = heard.strip()
        if messages and messages[-1]["role"] == "assistant":
            if heard:
                messages[-1] = {"role": "assistant", "content": heard}
            else:
                messages.pop()
        elif heard:  # cut short before the reply was kept: what went out of it
            messages.append({"role": "assistant", "content": heard})
        state["messages"] = messages[-MAX_HISTORY:]

    # --- streamed turns (real-time conversations) --------------------------------------
    async def respond_stream(self, ctx: ConversationContext, speech: str):
        """`respond`, streamed: each piece of the model's text is yielded as it arrives, the tools
        work as in `respond` (their arguments assembled from their pieces), and the Reply comes
        last. Stop-calling and end-call phrases are settled before any model is asked.

        A model that has said nothing when its attempt's time is up (LLM_TIMEOUT_SECONDS, within
        the turn's deadline), or fails, gets the holding line streamed and one more attempt,
        with a deadline of its own as a Gather turn's retry has; a second failure ends the call
        politely ("technical_failure"). A stream that breaks off after some words keeps them:
        the reply is what was said."""
        asked = self._turn_start(ctx, speech)
        if isinstance(asked, Reply):
            if asked.say and not asked.end_call:
                yield asked.say
            yield asked
            return
        retrying = asked
        while True:
            result: dict = {}
            async for piece in self._stream_reply(ctx, retrying=retrying, result=result):
                yield piece
            if result.get("hold"):
                yield wording.line_for("wait", ctx.agent)
                retrying = True
                ctx.deadline = time.monotonic() + float(settings.TURN_DEADLINE_SECONDS)
                continue
            yield self._said(ctx, result["reply"])
            return

    async def _stream_reply(self, ctx: ConversationContext, *, retrying: bool, result: dict):
        """One attempt at the turn: yields its text pieces; leaves {"reply": Reply} in `result`,
        or {"hold": True} when nothing was said and one more attempt is worth it."""
        messages = [{"role": "system", "content": system_prompt(ctx)}, *ctx.state["messages"]]
        reply = Reply(say="")
        streamed: list[str] = []
        try:
            completion = Completion()
            async for piece in self._astream(messages, deadline=ctx.deadline, agent=ctx.agent, done=completion):
                streamed.append(piece)
                yield piece
            reply.model_first_token_ms = completion.first_token_ms
            acted = self._apply_tools(ctx, completion.tool_calls, reply)
            said = "".join(streamed).strip()
            if reply.end_call:
                # The tool's words are still to be said, unless the model streamed them already.
                final = reply.say.strip()
                reply.say = " ".join(p for p in (said, "" if final == said else final) if p)
            elif said:
                reply.say = said
            elif acted:
                # The model only recorded something: ask once more for what to say, streamed.
                follow_up = [
                    *messages,
                    {
                        "role": "assistant",
                        "content": completion.content,
                        "tool_calls": [
                            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                            for c in completion.tool_calls
                        ],
                    },
                    *({"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in completion.tool_calls),
                ]
                more = Completion()
                async for piece in self._astream(
                    follow_up, deadline=ctx.deadline, agent=ctx.agent, with_tools=False, done=more
                ):
                    streamed.append(piece)
                    yield piece
                reply.say = "".join(streamed).strip()
            if not reply.say:
                reply.say = wording.line_for("say_again", ctx.agent)
                yield reply.say
        except (openai.OpenAIError, ModelTooSlow, IndexError, AttributeError, TypeError) as exc:
            said = "".join(streamed).strip()
            if said:
                # Words already went out: the reply is what was said (the callee answers it).
                logger.warning("LLM stream broke off after some words (%s): keeping them", type(exc).__name__)
                reply.say, reply.used_model = said, True
                result["reply"] = reply
                return
            if is_transient(exc) and not retrying:
                logger.warning("LLM stream failed (%s), holding and retrying once", type(exc).__name__)
                result["hold"] = True
                return
            if isinstance(exc, openai.OpenAIError | ModelTooSlow):
                logger.warning("LLM unavailable, ending the call: %s: %s", type(exc).__name__, exc)
            else:
                logger.exception("LLM answer unusable, ending the call")
            result["reply"] = Reply(
                say=wording.line_for("technical", ctx.agent),
                end_call=True,
                outcome=TECHNICAL_FAILURE_OUTCOME,
                captured=reply.captured,
                used_model=False,
            )
            return
        reply.used_model = True
        result["reply"] = reply

    async def _astream(self, messages: list[dict], *, deadline: float, agent=None, with_tools=True, done: Completion):
        """One streamed completion: yields each text delta as it arrives; fills `done` with the
        whole text, the tool calls (assembled by index) and the time to the first token. Given up
        (ModelTooSlow) at `deadline` or after LLM_TIMEOUT_SECONDS, whichever comes first; the
        stream is read by a task of its own, so a read that hangs is simply abandoned."""
        kwargs = {"model": settings.LLM_MODEL, "messages": messages, "tools": tools(agent), "stream": True}
        if not with_tools:
            kwargs["tool_choice"] = "none"
        started = time.monotonic()
        until = min(started + float(settings.LLM_TIMEOUT_SECONDS), deadline)
        if until <= started:
            raise ModelTooSlow("no time left in this turn")
        kwargs["timeout"] = until - started
        queue: asyncio.Queue = asyncio.Queue()
        calls: dict[int, dict] = {}
        content: list[str] = []

        async def read():
            try:
                stream = await self.async_client.chat.completions.create(**kwargs)
                async with stream:
                    async for chunk in stream:
                        for choice in chunk.choices or []:
                            delta = choice.delta
                            if delta is None:
                                continue
                            if done.first_token_ms is None and (delta.content or delta.tool_calls):
                                done.first_token_ms = (time.monotonic() - started) * 1000
                            for piece in delta.tool_calls or []:
                                slot = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                                slot["id"] = piece.id or slot["id"]
                                if piece.function is not None:
                                    name = piece.function.name or ""
                                    if name and not slot["name"].endswith(name):  # some servers repeat it
                                        slot["name"] += name
                                    slot["arguments"] += piece.function.arguments or ""
                            if delta.content:
                                await queue.put(delta.content)
                await queue.put(None)
            except BaseException as exc:  # handed to the reading side
                await queue.put(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise

        reader = asyncio.create_task(read())
        try:
            while True:
                left = until - time.monotonic()
                if left <= 0:
                    raise ModelTooSlow("no complete answer in time")
                try:
                    item = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    raise ModelTooSlow(f"no complete answer within {until - started:.1f} s") from None
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                content.append(item)
                yield item
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
        done.content = "".join(content)
        done.tool_calls = [
            ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=slot["arguments"])
            for index, slot in sorted(calls.items())
        ]

    def _said(self, ctx: ConversationContext, reply: Reply) -> Reply:
        # The transcript shows the passages the model's words came from (engine/grounding.py);
        # the platform's own lines (holding, goodbyes, technical failure) used none.
        if reply.used_model:
            heard = next((m["content"] for m in reversed(ctx.state.get("messages") or []) if m["role"] == "user"), "")
            ctx.knowledge = passages_drawn_on(reply.say, ctx.knowledge, heard=heard, language=ctx.agent.language)
        else:
            ctx.knowledge = []
        if reply.say and not reply.hold:  # the retry answers the callee's words, not the holding line
            self._remember(ctx, "assistant", reply.say)
        if reply.outcome:
            ctx.state["outcome"] = reply.outcome
        return reply

    # --- the model ---------------------------------------------------------------------
    def _complete(self, messages: list[dict], *, deadline: float, agent=None, with_tools: bool = True) -> Completion:
        """One chat completion (no retry here: see `respond`), given up at `deadline` or after
        LLM_TIMEOUT_SECONDS, whichever comes first (ModelTooSlow)."""
        kwargs = {"model": settings.LLM_MODEL, "messages": messages, "tools": tools(agent)}
        if not with_tools:
            kwargs["tool_choice"] = "none"
        seconds = min(float(settings.LLM_TIMEOUT_SECONDS), deadline - time.monotonic())
        if seconds <= 0:
            raise ModelTooSlow("no time left in this turn")
        kwargs["timeout"] = seconds
        stream = getattr(settings, "LLM_STREAM", False)
        return _in_time(lambda cancelled: self._streamed(kwargs, cancelled) if stream else self._whole(kwargs), seconds)

    def _whole(self, kwargs: dict) -> Completion:
        message = self.client.chat.completions.create(**kwargs).choices[0].message
        return Completion(
            content=message.content or "",
            tool_calls=[
                ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments or "")
                for call in message.tool_calls or []
                if getattr(call, "function", None) is not None
            ],
        )

    def _streamed(self, kwargs: dict, cancelled: threading.Event) -> Completion:
        """A streamed completion, assembled: text pieces in order, tool calls by index. Stops
        reading once `cancelled` (nobody waits for it any more)."""
        content: list[str] = []
        calls: dict[int, dict] = {}
        with self.client.chat.completions.create(**kwargs, stream=True) as stream:
            for chunk in stream:
                if cancelled.is_set():
                    raise ModelTooSlow("abandoned at the turn's deadline")
                for choice in chunk.choices or []:
                    delta = choice.delta
                    if delta is None:
                        continue
                    if delta.content:
                        content.append(delta.content)
                    for piece in delta.tool_calls or []:
                        slot = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = piece.id or slot["id"]
                        if piece.function is not None:
                            name = piece.function.name or ""
                            if name and not slot["name"].endswith(name):  # some servers repeat the name
                                slot["name"] += name
                            slot["arguments"] += piece.function.arguments or ""
        return Completion(
            content="".join(content),
            tool_calls=[
                ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=slot["arguments"])
                for index, slot in sorted(calls.items())
            ],
        )

    def _ask_model(self, ctx: ConversationContext, *, retrying: bool) -> Reply:
        messages = [{"role": "system", "content": system_prompt(ctx)}, *ctx.state["messages"]]
        reply = Reply(say="")
        try:
            completion = self._complete(messages, deadline=ctx.deadline, agent=ctx.agent)
            acted = self._apply_tools(ctx, completion.tool_calls, reply)
            if not reply.say:
                reply.say = completion.content.strip()
            if not reply.say and acted and not reply.end_call:
                # The model only recorded something: ask once more for what to say.
                follow_up = [
                    *messages,
                    {
                        "role": "assistant",
                        "content": completion.content,
                        "tool_calls": [
                            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                            for c in completion.tool_calls
                        ],
                    },
                    *({"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in completion.tool_calls),
                ]
                reply.say = self._complete(
                    follow_up, deadline=ctx.deadline, agent=ctx.agent, with_tools=False
                ).content.strip()
        except (openai.OpenAIError, ModelTooSlow, IndexError, AttributeError, TypeError) as exc:
            if is_transient(exc) and not retrying:
                logger.warning("LLM call failed (%s), holding and retrying once", type(exc).__name__)
                ctx.state["retry"] = {
                    "knowledge": [{"id": p.id, "source": p.source, "text": p.text} for p in ctx.knowledge]
                }
                return Reply(
                    say=wording.line_for("wait", ctx.agent),
                    hold=True,
                    outcome=reply.outcome,
                    captured=reply.captured,
                    used_model=False,
                )
            if isinstance(exc, openai.OpenAIError | ModelTooSlow):
                logger.warning("LLM unavailable, ending the call: %s: %s", type(exc).__name__, exc)
            else:  # an answer we could not read: a bug here or a server that is not OpenAI-compatible
                logger.exception("LLM answer unusable, ending the call")
            return Reply(
                say=wording.line_for("technical", ctx.agent),
                end_call=True,
                outcome=TECHNICAL_FAILURE_OUTCOME,
                captured=reply.captured,
                used_model=False,
            )
        reply.say = limit_words(reply.say) or wording.line_for("say_again", ctx.agent)
        reply.used_model = True
        return reply

    def _apply_tools(self, ctx: ConversationContext, tool_calls: list[ToolCall], reply: Reply) -> bool:
        """Map the model's function calls onto `reply`; True when any tool call was acted on."""
        acted = False
        agent = ctx.agent
        outcomes = allowed_outcomes(agent)
        fields = agent_capture_fields(agent)
        for call in tool_calls:
            name = call.name
            try:
                args = json.loads(call.arguments or "{}")
            except (TypeError, ValueError):
                args = {}
            if not isinstance(args, dict):
                args = {}
            outcome = str(args.get("outcome") or "")
            if outcome and outcome not in outcomes:
                logger.info("LLM chose unknown outcome %r, ignored", outcome)
                outcome = ""
            if name == "do_not_call" or (name == "end_call" and outcome == "do_not_call"):
                reply.say, reply.end_call, reply.outcome, reply.do_not_call = (
                    wording.line_for("dnc", agent),
                    True,
                    "do_not_call",
                    True,
                )
                return True
            if name == "end_call":
                reply.end_call = True
                reply.say = str(args.get("final_words") or "").strip() or ctx.fill(agent.closing_line)
                if outcome:
                    reply.outcome = outcome
                acted = True
            elif name == "transfer_call" and getattr(agent, "transfer_number", ""):
                reply.end_call, reply.transfer, reply.outcome = True, True, "transferred"
                reply.say = str(args.get("final_words") or "").strip() or wording.line_for("transferring", agent)
                acted = True
            elif name == "set_outcome" and outcome:
                reply.outcome = outcome
                acted = True
            elif name == "record_field":
                field_name = _field_name(str(args.get("name") or "").strip(), fields)
                value = str(args.get("value") or "").strip()
                if field_name and value:
                    reply.captured[field_name[:200]] = value[:500]
                    acted = True
                else:
                    logger.info("LLM recorded unknown field %r, ignored", args.get("name"))
            elif name == "schedule_callback":
                when = str(args.get("when") or "").strip()
                if when:
                    reply.captured["callback_time"] = when[:500]
                if at := _iso_time(args.get("iso_time")):
                    reply.captured["callback_at"] = at
                if note := str(args.get("note") or "").strip():
                    reply.captured["callback_note"] = note[:500]
                reply.outcome = "call_back"
                acted = True
        return acted
