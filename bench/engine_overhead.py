#!/usr/bin/env python
"""Benchmark: the conversation engines' own time per turn, the model's time excluded.

    .venv/bin/python bench/engine_overhead.py [--turns 2000] [--rounds 4] [--passages 200] [--no-write]

Needs PostgreSQL and Redis on 127.0.0.1 (`scripts/ensure-services`). Creates a throwaway database
(the test settings, as bench/run.py does) and takes turns in this process, one after another, by
calling `campaigns.calls.services.call_turn` directly (no HTTP, no telephony webhook): the row lock, the
transcript rows, the knowledge retrieval, the engine and the step. Each configuration plays
calls of an agent with eight questions, taking a fresh answered call whenever one ends, and the
configurations take turns in rounds (--rounds), so that whatever else runs on the machine weighs
on all of them alike:

- the scripted engine; and, separately, `ScriptedEngine().respond(ctx, speech)` alone on the same
  conversation (no database, passages already retrieved), the engine's own logic;
- the LLM engine against the fake OpenAI-compatible server of the tests
  (campaigns/tests/fake_llm.py) started here and answering at once, not streamed and streamed
  (LLM_STREAM): a mix of plain answers, answers with tool calls (record_field, set_outcome) and a
  record_field alone (which makes the engine ask the model a second time), and end_call to close
  each call. The openai SDK's `chat.completions.create` is wrapped with a timer (for a stream,
  the reading of its chunks too): the model time of a turn. Overhead = total - model time;
- each of them again with a knowledge base of --passages passages on the agent (PostgreSQL full
  text search on every turn with speech).

Reports p50/p99 per turn and turns/s, and a breakdown of a turn's mean time (model, retrieval,
the engine's own work and the openai client it builds, the platform around them with its SQL and
COMMIT), then appends them to docs/benchmarks.md (--no-write: print only). Stops the fake server
and drops the database whatever happens.
"""

import argparse
import contextlib
import itertools
import os
import random
import time
import warnings
from dataclasses import dataclass, field

from common import (  # importing it sets Django up
    machine_heading,
    results_append,
    running_campaign_calls,
    throwaway_database,
)

QUESTIONS = [
    "Are you the person who handles scheduling for your team?",
    "How many people are on your team?",
    "What do you use for scheduling today?",
    "What is the hardest part of it?",
    "Roughly what do you spend on it each month?",
    "When would a fifteen-minute demo suit you?",
    "Who else should be in that demo?",
    "What is the best email for the invitation?",
]
# The callee's lines, in order through a call (again from the top when a call runs longer). One
# question the FAQ answers, one only the knowledge base can (the scripted engine takes it for an
# answer when the agent has none).
SPEECH = [
    "Yes, that's me, I handle the scheduling.",
    "Sure, we have about twenty people on the team.",
    "How much does it cost per month?",
    "We use spreadsheets for it right now.",
    "What happens to a booking when a meeting is cancelled?",
    "Keeping everyone's calendar in sync.",
    "Our budget is around five hundred dollars a month.",
    "Tuesday afternoon works for me.",
    "Just me and my manager.",
    "It's sam at example dot com.",
]
# What the fake model answers, turn by turn through a call: (content, [(tool, arguments)]), and a
# second completion where the first only recorded something. The last one ends the call.
MODEL_TURNS = [
    [("Great. How many people are on your team?", [])],
    [
        (
            "Thanks. What do you use for scheduling today?",
            [("record_field", {"name": "team_size", "value": "about twenty"})],
        )
    ],
    [("Plans start at 49 dollars a month. What do you use today?", [])],
    [
        (None, [("record_field", {"name": "current_tool", "value": "spreadsheets"})]),
        ("Got it. What is the hardest part of it?", []),
    ],
    [("I see. Roughly what do you spend on it each month?", [])],
    [("That makes sense. When would a short demo suit you?", [("set_outcome", {"outcome": "interested"})])],
    [
        (
            "Perfect. Who else should be in that demo?",
            [("record_field", {"name": "budget", "value": "500 dollars a month"})],
        )
    ],
    [
        (
            None,
            [
                (
                    "end_call",
                    {"outcome": "interested", "final_words": "Thanks, we will send the invitation. Goodbye!"},
                )
            ],
        )
    ],
]
KNOWLEDGE_SECTIONS = 50
NUMBERS = itertools.count()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# --- measuring ------------------------------------------------------------------------


@dataclass
class Turn:
    """Seconds spent in each part of one turn (nested: model within engine)."""

    total: float = 0.0
    model: float = 0.0
    model_requests: int = 0
    exchange: float = 0.0  # within model: the HTTP exchange itself (httpx's send, a stream's chunks)
    retrieval: float = 0.0
    retrieval_sql: float = 0.0
    engine: float = 0.0
    client: float = 0.0
    sql: float = 0.0
    statements: int = 0
    commit: float = 0.0


@dataclass
class Probe:
    """The timers the instrumented functions add to; `turn` is the turn being measured."""

    turn: Turn = field(default_factory=Turn)


@contextlib.contextmanager
def instrumented(probe: Probe):
    """Time the model requests (the openai SDK, and within it the HTTP exchange), the knowledge
    retrieval, the engine's `respond`, the building of the LLM engine's openai client, every SQL
    statement and the COMMIT of a turn into `probe.turn`; everything is put back after."""
    from django.db import connections
    from openai import _base_client
    from openai.resources.chat.completions import Completions

    from campaigns.calls import services as calls
    from campaigns.conversation.engine.llm import LLMEngine

    connection = connections["default"]
    original_create = Completions.create
    original_passages_for = calls.passages_for
    original_engine_for = calls.engine_for
    original_client = LLMEngine.client
    original_commit = connection._commit
    # The httpx client class the SDK sends with (its own subclass: patched there, only there).
    http_client = getattr(_base_client, "SyncHttpxClientWrapper", None)
    original_send = http_client.send if http_client else None

    class TimedStream:
        """The SDK's stream, each wait for a chunk (and the closing) counted as model time."""

        def __init__(self, stream):
            self.stream = stream

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            started = time.perf_counter()
            try:
                return self.stream.__exit__(*exc)
            finally:
                probe.turn.model += time.perf_counter() - started

        def __iter__(self):
            chunks = iter(self.stream)
            while True:
                started = time.perf_counter()
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
                finally:
                    waited = time.perf_counter() - started
                    probe.turn.model += waited
                    probe.turn.exchange += waited
                yield chunk

    def create(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            result = original_create(self, *args, **kwargs)
        finally:
            probe.turn.model += time.perf_counter() - started
            probe.turn.model_requests += 1
        return TimedStream(result) if kwargs.get("stream") else result

    def send(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original_send(self, *args, **kwargs)
        finally:
            probe.turn.exchange += time.perf_counter() - started

    def passages_for(*args, **kwargs):
        started, sql_before = time.perf_counter(), probe.turn.sql
        try:
            return original_passages_for(*args, **kwargs)
        finally:
            probe.turn.retrieval += time.perf_counter() - started
            probe.turn.retrieval_sql += probe.turn.sql - sql_before

    def engine_for(agent):
        engine = original_engine_for(agent)
        respond = engine.respond

        def timed_respond(*args, **kwargs):
            started = time.perf_counter()
            try:
                return respond(*args, **kwargs)
            finally:
                probe.turn.engine += time.perf_counter() - started

        engine.respond = timed_respond
        return engine

    def client(engine):
        started = time.perf_counter()
        try:
            return original_client.fget(engine)
        finally:
            probe.turn.client += time.perf_counter() - started

    def commit():
        started = time.perf_counter()
        try:
            return original_commit()
        finally:
            probe.turn.commit += time.perf_counter() - started

    def statement(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            probe.turn.sql += time.perf_counter() - started
            probe.turn.statements += 1

    Completions.create = create
    calls.passages_for = passages_for
    calls.engine_for = engine_for
    LLMEngine.client = property(client)
    connection._commit = commit
    if http_client:
        http_client.send = send
    try:
        with connection.execute_wrapper(statement):
            yield
    finally:
        Completions.create = original_create
        calls.passages_for = original_passages_for
        calls.engine_for = original_engine_for
        LLMEngine.client = original_client
        del connection._commit  # the class's method again
        if http_client:
            http_client.send = original_send


# --- the calls ------------------------------------------------------------------------


class CallPool:
    """Answered calls of one agent, made a batch at a time as the benchmark uses them up."""

    def __init__(self, owner, agent, *, batch: int = 100):
        self.owner, self.agent, self.batch = owner, agent, batch
        self.ready: list[int] = []

    def take(self) -> int:
        if not self.ready:
            self.ready = answered_calls(self.owner, self.agent, self.batch)
        return self.ready.pop()


def answered_calls(owner, agent, count: int) -> list[int]:
    """`count` live calls, greeted by `agent` (call_answered): their ids."""
    from campaigns.calls.services import call_answered
    from campaigns.models import Call

    # A block of numbers of its own: seven digits after the area code, the first 2 to 9.
    start = 2_000_000 + next(NUMBERS) * 1000
    assert count <= 1000 and start < 9_999_000
    calls = running_campaign_calls(
        owner,
        agent,
        count,
        first_number=start,
        status=Call.Status.RINGING,
        call_sid=lambda contact: f"SMengine{contact.pk:026d}",
        time_limit_seconds=agent.max_call_seconds,
    )
    for call in calls:
        step = call_answered(call_id=call.pk, answered_by="human")
        assert step.then == "listen", step
    return [call.pk for call in calls]


def make_agents(owner, engine: str, passages: int) -> tuple:
    """The agent without a knowledge base, and its twin with `passages` passages."""
    from campaigns.tests.factories import make_agent

    script = {
        "questions": "\n".join(QUESTIONS),
        "answers": "price, cost | Plans start at 49 dollars a month.",
        "persona": "You are Sam from Acme, calling small teams about our scheduling tool. Be brief and warm.",
        "goal": "book a fifteen-minute demo",
        "max_call_seconds": 600,
        "engine": engine,
    }
    plain = make_agent(owner, name=f"{engine} plain", **script)
    knowledgeable = make_agent(owner, name=f"{engine} knowledge", **script)
    added = fill_knowledge_base(knowledgeable, passages)
    return plain, knowledgeable, added


def fill_knowledge_base(agent, passages: int) -> int:
    """About `passages` passages of product-handbook vocabulary (bench/turn_webhook.py's), one per
    section of ~150 words: most of them share words with most questions, the heavy case."""
    from bench.turn_webhook import HANDBOOK_WORDS
    from campaigns.conversation.knowledge import knowledge_add_text

    rng = random.Random(0)

    def sentence():
        words = [rng.choice(HANDBOOK_WORDS) for _ in range(rng.randint(8, 16))]
        return " ".join(words).capitalize() + "."

    part = 0
    while agent.knowledge_passages.count() < passages:
        part += 1
        count = min(KNOWLEDGE_SECTIONS, passages - agent.knowledge_passages.count())
        sections = [f"## {sentence()[:-1]}\n\n" + " ".join(sentence() for _ in range(12)) for _ in range(count)]
        knowledge_add_text(agent, f"Handbook, part {part}", "\n\n".join(sections))
    return agent.knowledge_passages.count()


# --- the runs -------------------------------------------------------------------------


class Player:
    """Takes one agent's turns through `call_turn`, back to back, a fresh answered call whenever
    one ends; it can stop after any turn and carry on in the next round."""

    def __init__(self, pool: CallPool, probe: Probe, fake=None):
        self.pool, self.probe, self.fake = pool, probe, fake
        self.call_id: int | None = None
        self.index = self.turn_number = 0
        self.turns: list[Turn] = []  # the measured ones
        self.played = self.calls_finished = self.model_requests = 0

    def play(self, count: int, *, measure: bool = True) -> None:
        from campaigns.calls.services import call_turn
        from telephony.providers.base import TurnInput

        for _ in range(count):
            if self.call_id is None:
                # The greeting (call_answered) was turn 0.
                self.call_id, self.index, self.turn_number = self.pool.take(), 0, 1
            if self.fake is not None:
                for content, tool_calls in MODEL_TURNS[self.index % len(MODEL_TURNS)]:
                    self.fake.reply(content, tools=tool_calls)
            speech = SPEECH[self.index % len(SPEECH)]
            turn = self.probe.turn = Turn()
            started = time.perf_counter()
            step = call_turn(turn=TurnInput(call_id=self.call_id, turn=self.turn_number, speech=speech))
            turn.total = time.perf_counter() - started
            self.probe.turn = Turn()  # what follows (a new call's greeting) counts nowhere
            assert not step.replayed and step.then in ("listen", "hangup"), step
            if self.fake is not None:
                assert not self.fake.queue, f"the engine left {len(self.fake.queue)} model answers unasked: {step}"
                self.fake.requests.clear()
            self.played += 1
            if measure:
                self.turns.append(turn)
                self.model_requests += turn.model_requests
            self.index += 1
            self.turn_number += 1
            if step.then == "hangup":
                self.calls_finished += measure
                self.call_id = None


def scripted_alone(agent, turns: int, warmup: int, *, with_knowledge: bool) -> list[float]:
    """`ScriptedEngine().respond` alone over the same conversation: seconds per turn."""
    from campaigns.conversation.engine import ConversationContext, ScriptedEngine
    from campaigns.conversation.knowledge import passages_for

    # Retrieved once per line beforehand: retrieval is not the engine's logic here.
    knowledge = {speech: passages_for(agent, speech) if with_knowledge else [] for speech in SPEECH}
    variables = {"first_name": "Sam", "last_name": "", "phone_number": "+13030000000", "company": "Co"}
    times: list[float] = []
    ctx, index = None, 0
    for n in range(warmup + turns):
        if ctx is None:
            ctx = ConversationContext(agent=agent, variables=variables, state={})
            ScriptedEngine().start(ctx)
            index = 0
        speech = SPEECH[index % len(SPEECH)]
        ctx.knowledge = knowledge[speech]
        started = time.perf_counter()
        reply = ScriptedEngine().respond(ctx, speech)
        elapsed = time.perf_counter() - started
        if n >= warmup:
            times.append(elapsed)
        index += 1
        if reply.end_call:
            ctx = None
    return times


def measure(args) -> tuple[list[str], list[str], dict]:
    from django.test import override_settings

    from accounts.models import User
    from campaigns.tests.fake_llm import FakeLLM

    owner = User.objects.create_user(email="bench-engine@example.com", password="x")
    print("Preparing the agents and their knowledge bases...", flush=True)
    scripted_plain, scripted_kb, passages = make_agents(owner, "scripted", args.passages)
    llm_plain, llm_kb, _ = make_agents(owner, "llm", args.passages)
    kb = f"knowledge base ({passages} passages)"
    rows: list[str] = []
    breakdown: list[str] = []
    notes: dict = {"passages": passages, "turns_played": 0, "load": []}

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.2f} ms"

    def row(label: str, values: list[float], speed: str) -> str:
        return f"| {label} | {speed} | {ms(percentile(values, 0.5))} | {ms(percentile(values, 0.99))} |"

    def report(label: str, player: Player, *, llm: bool) -> None:
        turns = player.turns
        n = len(turns)
        totals = [t.total for t in turns]
        rows.append(row(f"{label}: `call_turn`, {n:,} turns", totals, f"{n / sum(totals):,.0f} turns/s"))
        if llm:
            model = [t.model for t in turns]
            overhead = [t.total - t.model for t in turns]
            rows.append(
                row(
                    f"{label}: of which the model ({player.model_requests:,} requests to the fake server)",
                    model,
                    "",
                )
            )
            rows.append(
                row(
                    f"{label}: overhead (total − model)",
                    overhead,
                    f"{n / sum(overhead):,.0f} turns/s with an instant model",
                )
            )

        def mean(attr) -> float:
            return sum(attr(t) for t in turns) / n

        engine = mean(lambda t: t.engine - t.model)
        platform_ = mean(lambda t: t.total - t.engine - t.retrieval)
        platform_sql = mean(lambda t: t.sql - t.retrieval_sql)
        sdk = "—"
        if llm and any(t.exchange for t in turns):  # else the SDK's http client was not found to time
            sdk = ms(mean(lambda t: t.model - t.exchange))
        breakdown.append(
            f"| {label} | {ms(mean(lambda t: t.total))} | {ms(mean(lambda t: t.model)) if llm else '—'} | {sdk} "
            f"| {ms(mean(lambda t: t.retrieval))} | {ms(engine)} | {ms(mean(lambda t: t.client)) if llm else '—'} "
            f"| {ms(platform_)} | {ms(platform_sql)} | {ms(mean(lambda t: t.commit))} "
            f"| {mean(lambda t: t.statements):.1f} | {player.calls_finished:,} |"
        )

    probe = Probe()
    fake = FakeLLM().start()
    try:
        llm = {"LLM_BASE_URL": fake.base_url, "LLM_API_KEY": "bench-key", "LLM_MODEL": "fake-model"}
        # (label, agent, settings, the LLM engine?)
        configurations = [
            ("Scripted", scripted_plain, {}, False),
            (f"Scripted, {kb}", scripted_kb, {}, False),
            ("LLM, not streamed", llm_plain, {**llm, "LLM_STREAM": False}, True),
            (f"LLM, not streamed, {kb}", llm_kb, {**llm, "LLM_STREAM": False}, True),
            ("LLM, streamed", llm_plain, {**llm, "LLM_STREAM": True}, True),
            (f"LLM, streamed, {kb}", llm_kb, {**llm, "LLM_STREAM": True}, True),
        ]
        players = [
            Player(CallPool(owner, agent), probe, fake if is_llm else None) for _, agent, _, is_llm in configurations
        ]
        alone: dict[str, list[float]] = {label: [] for label, _, _, is_llm in configurations if not is_llm}
        per_round = -(-args.turns // args.rounds)
        with instrumented(probe):
            # The configurations take turns, a slice of the turns each per round, so that anything
            # else the machine does in the meantime weighs on all of them alike.
            for round_ in range(args.rounds + 1):  # round 0: the warm-up
                for (label, agent, overrides, is_llm), player in zip(configurations, players, strict=True):
                    with override_settings(**overrides):
                        if round_ == 0:
                            player.play(args.warmup, measure=False)
                            continue
                        player.play(min(per_round, args.turns - len(player.turns)))
                    if not is_llm:
                        alone[label] += scripted_alone(
                            agent, args.engine_turns // args.rounds, args.warmup, with_knowledge=agent is scripted_kb
                        )
                if round_:
                    notes["load"].append(os.getloadavg()[0])
                    print(f"Round {round_}/{args.rounds} done, load average {notes['load'][-1]:.2f}.", flush=True)
    finally:
        fake.stop()
    for (label, _, _, is_llm), player in zip(configurations, players, strict=True):
        notes["turns_played"] += player.played
        report(label, player, llm=is_llm)
        if not is_llm:
            times = alone[label]
            rows.append(
                row(
                    f"{label}: `ScriptedEngine().respond` alone, {len(times):,} turns",
                    times,
                    f"{len(times) / sum(times):,.0f} turns/s",
                )
            )
    return rows, breakdown, notes


def check_database(turns_played: int) -> None:
    """Every turn was taken as one: the callee's line stored once each, and each call's transcript
    numbered 1..n without gaps."""
    from django.db.models import Count, F, Max

    from campaigns.models import Call, CallTurn

    callee_lines = CallTurn.objects.filter(speaker=CallTurn.Speaker.CALLEE).count()
    assert callee_lines == turns_played, (callee_lines, turns_played)

    gaps = (
        Call.objects.annotate(lines=Count("turns"), last=Max("turns__sequence"))
        .filter(lines__gt=0)
        .exclude(last=F("lines"))
        .count()
    )
    assert gaps == 0, f"{gaps} calls with gaps in their transcripts"


# --- main -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=2000, help="measured turns per configuration (default 2000)")
    parser.add_argument(
        "--engine-turns", type=int, default=20000, help="turns of the scripted engine alone (default 20000)"
    )
    parser.add_argument("--rounds", type=int, default=4, help="the configurations take turns, in this many rounds")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured turns first, per configuration (default 50)")
    parser.add_argument("--passages", type=int, default=200, help="passages of the knowledge base (default 200)")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md alone")
    args = parser.parse_args()

    import logging

    logging.getLogger("paddle_billing").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # a line per model request (inside the SDK's time)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="No directory at")  # no collected static files here
    load_before = os.getloadavg()[0]
    with throwaway_database():
        rows, breakdown, notes = measure(args)
        check_database(notes["turns_played"])

    header = (
        machine_heading()
        + "Conversation engines' own time per turn (bench/engine_overhead.py): `call_turn` called in-process "
        "(no HTTP), one turn after another on one thread, PostgreSQL on 127.0.0.1; "
        f"{args.turns:,} turns per configuration after {args.warmup} unmeasured, the configurations taking turns "
        f"in {args.rounds} rounds, on calls of an agent with "
        f"{len(QUESTIONS)} questions (a fresh answered call whenever one ends). The LLM engine asks the tests' "
        "fake OpenAI-compatible server (campaigns/tests/fake_llm.py, in this process), which answers at once: "
        "plain answers, answers with record_field or set_outcome, a record_field alone (the engine asks a "
        "second time) and end_call. Model time is the time inside the openai SDK's `chat.completions.create` "
        "(for a stream, the reading of its chunks too): building the request, the round trip to the fake server "
        "and the SDK's parsing, so the overhead is if anything understated (the SDK's own share is in the second "
        "table). The knowledge base is "
        f"{notes['passages']} passages of ~150 words of product-handbook vocabulary (bench/turn_webhook.py's): "
        f"most passages share words with most questions, the heavy case. Load average {load_before:.2f} "
        f"before the run, then {', '.join(f'{load:.2f}' for load in notes['load'])} at the end of each round.\n\n"
        "| benchmark | speed | p50 | p99 |\n|---|---|---|---|\n"
    )
    table = (
        "\nWhere a turn's time goes (means per turn): the SDK's own work is the model time outside the HTTP "
        "exchange (httpx's `send`; a stream's chunks count as exchange), mostly the SDK preparing the request "
        "and parsing the answer; retrieval is `passages_for` (its SQL included); engine "
        "is the engine's `respond` without the model, including the building of the openai client, which the "
        "LLM engine does on every turn (`engine_for` makes a new `LLMEngine`, whose client is built on first "
        "use); platform is the rest of `call_turn` (row lock, transcript rows, state, step), with the time in "
        "its SQL statements and in the COMMIT; SQL statements counts those of retrieval too.\n\n"
        "| configuration | total | model | of which the SDK's own work | retrieval | engine "
        "| of which the openai client | platform | of which SQL | of which COMMIT | SQL statements "
        "| calls finished |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    out = header + "\n".join(rows) + "\n" + table + "\n".join(breakdown) + "\n"
    print(out)
    if not args.no_write:
        results_append(out)


if __name__ == "__main__":
    main()
