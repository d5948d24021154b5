"""The LLM engine: an OpenAI-compatible chat model drives the conversation through function calls.

Kept predictable where it matters: the opening line is spoken exactly as written, a request to
stop calling always ends the call and lists the number (whatever the model says), and a model
that is slow, down or silent never leaves the callee in silence.

State kept between turns: `messages` (the last MAX_HISTORY {role, content} turns, system prompt
excluded: it is rebuilt from the agent each turn) and `silences`.
"""

import json
import logging
import re

import openai
from django.conf import settings
from openai import OpenAI

from . import intents
from .base import ConversationContext, ConversationEngine, Reply
from .scripted import GOODBYE_DNC, GOODBYE_SILENT, TRANSFERRING, parse_answers, parse_questions

logger = logging.getLogger(__name__)

MAX_HISTORY = 20
MAX_WORDS = 40
SILENCE = "(the caller said nothing)"
HOLDING = "Sorry, could you say that again?"
GOODBYE_TECHNICAL = "I'm sorry, I'm having a technical problem on my end. We'll call you back another time. Goodbye."
# Set by the platform when the model fails, never chosen by the model.
TECHNICAL_FAILURE_OUTCOME = "technical_failure"
# Outcomes the platform decides from what happened on the line, not the model.
PLATFORM_OUTCOMES = {"voicemail", "time_limit", "transferred", TECHNICAL_FAILURE_OUTCOME}
TRANSIENT_ERRORS = (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError)
LANGUAGE_NAMES = {
    "en-US": "English",
    "en-GB": "British English",
    "es-ES": "Spanish",
    "fr-FR": "French",
    "de-DE": "German",
}


def allowed_outcomes() -> list[str]:
    from campaigns.models import Call

    return [value for value in Call.Outcome.values if value and value not in PLATFORM_OUTCOMES]


def tools(agent=None) -> list[dict]:
    """The functions the model may call; transfer only for agents with a number to transfer to."""
    outcome = {"type": "string", "enum": allowed_outcomes()}

    def function(name, description, properties=None, required=()):
        return {
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": {"type": "object", "properties": properties or {}, "required": list(required)},
            },
        }

    return [
        function(
            "end_call",
            "Say your final words and hang up.",
            {"outcome": outcome, "final_words": {"type": "string", "description": "Your last sentence."}},
            ["outcome", "final_words"],
        ),
        function("set_outcome", "Record how the call is going without ending it.", {"outcome": outcome}, ["outcome"]),
        function(
            "record_field",
            "Record an answer the caller gave, e.g. to one of the script's questions.",
            {"name": {"type": "string"}, "value": {"type": "string"}},
            ["name", "value"],
        ),
        function("do_not_call", "The caller asked never to be called again: end the call and list the number."),
    ] + (
        [
            function(
                "transfer_call",
                "The caller asked for a person: say one short sentence and transfer the call to a colleague.",
                {"final_words": {"type": "string", "description": "What you say before transferring."}},
                ["final_words"],
            )
        ]
        if agent is not None and getattr(agent, "transfer_number", "")
        else []
    )


def system_prompt(ctx: ConversationContext) -> str:
    agent = ctx.agent
    first_name = str(ctx.variables.get("first_name") or "").strip() or "the contact"
    company = str(ctx.variables.get("company") or "").strip()
    language = LANGUAGE_NAMES.get(agent.language, agent.language)
    questions = "\n".join(f"- {ctx.fill(q)}" for q in parse_questions(agent.questions)) or "- (none)"
    facts = "\n".join(f"- {ctx.fill(answer)}" for _, answer in parse_answers(agent.answers)) or "- (none)"
    lines = [
        f"You are {agent.name}, an AI assistant on a phone call, calling {first_name}"
        + (f" at {company}" if company else "")
        + ".",
        f"Speak {language} only.",
        "This is a spoken phone call: keep every reply to one or two short sentences, no lists, no markdown.",
        "Ask these questions, in order, one at a time:",
        questions,
        "These are the ONLY facts you may state. Never invent prices or facts outside these; "
        "if asked something they do not cover, say a colleague will follow up.",
        facts,
        "Use record_field to record each answer the caller gives (name = the question).",
        f'When the questions are done, end the call with end_call, saying: "{ctx.fill(agent.closing_line)}"',
        "If the caller is not interested or asks to be called later, end politely with end_call and the matching "
        "outcome. If they ask not to be called again, use do_not_call.",
        *(
            ["If the caller asks to speak with a person, use transfer_call."]
            if getattr(agent, "transfer_number", "")
            else []
        ),
        "Always put what you say to the caller in your message text.",
    ]
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


class LLMEngine(ConversationEngine):
    def __init__(self, client: OpenAI | None = None):
        self._client = client

    @property
    def client(self) -> OpenAI:
        if self._client is None:
            self._client = OpenAI(
                base_url=settings.LLM_BASE_URL or None,
                api_key=settings.LLM_API_KEY or "none",
                timeout=float(settings.LLM_TIMEOUT_SECONDS),
                max_retries=0,
            )
        return self._client

    # --- history -----------------------------------------------------------------------
    def _remember(self, ctx: ConversationContext, role: str, content: str) -> None:
        messages = list(ctx.state.get("messages") or [])
        messages.append({"role": role, "content": content})
        ctx.state["messages"] = messages[-MAX_HISTORY:]

    # --- turns -------------------------------------------------------------------------
    def start(self, ctx: ConversationContext) -> Reply:
        ctx.state["silences"] = 0
        ctx.state["messages"] = []
        opening = ctx.fill(ctx.agent.opening_line)
        self._remember(ctx, "assistant", opening)
        return Reply(say=opening)

    def respond(self, ctx: ConversationContext, speech: str) -> Reply:
        speech = (speech or "").strip()
        if intents.wants_no_more_calls(speech):
            self._remember(ctx, "user", speech)
            return self._said(ctx, Reply(say=GOODBYE_DNC, end_call=True, outcome="do_not_call", do_not_call=True))
        if not speech:
            ctx.state["silences"] = ctx.state.get("silences", 0) + 1
            if ctx.state["silences"] >= 2:
                self._remember(ctx, "user", SILENCE)
                return self._said(ctx, Reply(say=GOODBYE_SILENT, end_call=True, outcome="no_response"))
        else:
            ctx.state["silences"] = 0
        self._remember(ctx, "user", speech or SILENCE)
        return self._said(ctx, self._ask_model(ctx))

    def _said(self, ctx: ConversationContext, reply: Reply) -> Reply:
        if reply.say:
            self._remember(ctx, "assistant", reply.say)
        return reply

    # --- the model ---------------------------------------------------------------------
    def _complete(self, messages: list[dict], *, agent=None, with_tools: bool = True):
        """One chat completion, retried once on a timeout, a connection error or a 5xx."""
        kwargs = {"model": settings.LLM_MODEL, "messages": messages, "tools": tools(agent)}
        if not with_tools:
            kwargs["tool_choice"] = "none"
        try:
            return self.client.chat.completions.create(**kwargs)
        except TRANSIENT_ERRORS as exc:
            logger.warning("LLM call failed (%s), retrying once", type(exc).__name__)
            return self.client.chat.completions.create(**kwargs)

    def _ask_model(self, ctx: ConversationContext) -> Reply:
        messages = [{"role": "system", "content": system_prompt(ctx)}, *ctx.state["messages"]]
        reply = Reply(say="")
        try:
            message = self._complete(messages, agent=ctx.agent).choices[0].message
            said = self._apply_tools(ctx, message.tool_calls or [], reply)
            if not reply.say:
                reply.say = (message.content or "").strip()
            if not reply.say and said and not reply.end_call:
                # The model only recorded something: ask once more for what to say.
                follow_up = [
                    *messages,
                    {
                        "role": "assistant",
                        "content": message.content or "",
                        "tool_calls": [call.model_dump() for call in message.tool_calls],
                    },
                    *({"role": "tool", "tool_call_id": call.id, "content": "ok"} for call in message.tool_calls),
                ]
                reply.say = (
                    self._complete(follow_up, agent=ctx.agent, with_tools=False).choices[0].message.content or ""
                ).strip()
        except (openai.OpenAIError, IndexError, AttributeError) as exc:
            logger.warning("LLM unavailable, ending the call: %s", exc)
            reply.say = GOODBYE_TECHNICAL
            reply.end_call = True
            reply.outcome = reply.outcome or TECHNICAL_FAILURE_OUTCOME
            return reply
        reply.say = limit_words(reply.say) or HOLDING
        return reply

    def _apply_tools(self, ctx: ConversationContext, tool_calls, reply: Reply) -> bool:
        """Map the model's function calls onto `reply`; True when any tool call was acted on."""
        acted = False
        outcomes = allowed_outcomes()
        for call in tool_calls:
            name = getattr(call.function, "name", "")
            try:
                args = json.loads(call.function.arguments or "{}")
            except (TypeError, ValueError):
                args = {}
            if not isinstance(args, dict):
                args = {}
            outcome = str(args.get("outcome") or "")
            if outcome and outcome not in outcomes:
                logger.info("LLM chose unknown outcome %r, ignored", outcome)
                outcome = ""
            if name == "do_not_call" or (name == "end_call" and outcome == "do_not_call"):
                reply.say, reply.end_call, reply.outcome, reply.do_not_call = GOODBYE_DNC, True, "do_not_call", True
                return True
            if name == "end_call":
                reply.end_call = True
                reply.say = str(args.get("final_words") or "").strip() or ctx.fill(ctx.agent.closing_line)
                if outcome:
                    reply.outcome = outcome
                acted = True
            elif name == "transfer_call" and getattr(ctx.agent, "transfer_number", ""):
                reply.end_call, reply.transfer, reply.outcome = True, True, "transferred"
                reply.say = str(args.get("final_words") or "").strip() or TRANSFERRING
                acted = True
            elif name == "set_outcome" and outcome:
                reply.outcome = outcome
                acted = True
            elif name == "record_field":
                field, value = str(args.get("name") or "").strip(), str(args.get("value") or "").strip()
                if field and value:
                    reply.captured[field[:200]] = value[:500]
                    acted = True
        return acted
