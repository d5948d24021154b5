#!/usr/bin/env python
"""Benchmark: the telephony turn webhook under concurrent load, next to a trivial view on the same server.

    .venv/bin/python bench/turn_webhook.py [--clients 8] [--seconds 15] [--workers 2] [--threads 1]
        [--worker-class uvicorn|sync] [--no-knowledge] [--no-write]

Needs PostgreSQL and Redis on 127.0.0.1 (`scripts/ensure-services`). Creates a throwaway database
(the test settings, as bench/run.py does), starts gunicorn on it with the production settings
(bench/settings_bench.py: DEBUG off, the product's database connections, the simulated provider and
the scripted engine) with the product's uvicorn workers serving clozit.asgi (as docs/operations.md
runs it), or with sync workers (`--worker-class sync`), and loads it from client threads in this
process, each with its own HTTP connection, for a fixed time per target:

- GET /bench/noop/: a view that returns a constant through the full middleware stack (bench/urls.py),
  the baseline;
- GET /healthz: one database query and one Redis ping;
- POST /telephony/simulated/calls/<id>/turn/<n>/, a new turn each time: every client plays a live
  call the way the carrier does (signed Gather callback with the callee's speech, then the action
  URL of the TwiML it gets back) and takes a fresh answered call when the agent hangs up;
- the same webhook with a stale turn number, which only replays the last step;
- new turns again, of an agent whose knowledge base holds as many passages as an agent may have
  (where this version has knowledge bases).

The targets take turns in rounds (--rounds), so that whatever else runs on the machine weighs on
all of them alike. Reports requests/s and p50/p99 latency of each, and the turn webhook's ratio
to the trivial view, then appends them to docs/benchmarks.md (--no-write: print only). Stops
gunicorn and drops the database whatever happens. The load generator shares the machine's cores
with the server, so the ratios say more than the absolute figures.
"""

import argparse
import html
import http.client
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import deque
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from common import (  # importing it sets Django up
    ROOT,
    machine_heading,
    results_append,
    running_campaign_calls,
    throwaway_database,
)

GATHER_ACTION = re.compile(r'<Gather[^>]*\baction="([^"]+)"')
SPEECH = [
    "Yes, that sounds good.",
    "Sure, we have about twenty people on the team.",
    "Tuesday afternoon works for me.",
    "Our budget is around five hundred dollars a month.",
    "Yes, I'm the one who decides that.",
    "We use spreadsheets for it right now.",
]
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
NOOP = "Trivial view (GET /bench/noop/)"
NEW_TURN = "Turn webhook, a new turn each (the engine runs)"
KNOWLEDGE_TURN = "Turn webhook, a new turn each"
KNOWLEDGE_SECTIONS = 50
HANDBOOK = (
    "account admin agenda appointment assistant availability billing booking browser calendar call cancel "
    "change client colleague company confirm contract cost customer dashboard data day demo desk device "
    "email employee export feature file form free guest hour integration invoice invite job location login "
    "manager meeting member minute mobile month morning notification office online option order page partner "
    "password payment phone plan policy price process project refund reminder report request reschedule room "
    "schedule security service session setting shift slot staff support sync system task team time tool "
    "trial update user week workflow year the a and of to for with on in your our can will each every any "
    "when you we it is are be by from at or not all more new per up"
)
HANDBOOK_WORDS = HANDBOOK.split()


class PoolExhausted(RuntimeError):
    pass


# --- the server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def start_gunicorn(
    *, port: int, workers: int, threads: int, worker_class: str, db_pool_size: int | None, log
) -> subprocess.Popen:
    from django.conf import settings
    from django.db import connection

    # The product's database settings, not the test settings' (which turn the pool off).
    base = {name: value for name, value in os.environ.items() if name != "DB_POOL_SIZE"}
    if db_pool_size is not None:
        base["DB_POOL_SIZE"] = str(db_pool_size)
    env = {
        **base,
        "DJANGO_SETTINGS_MODULE": "bench.settings_bench",
        "DATABASE_URL": database_url(connection.settings_dict),  # the database setup_databases made
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
        "TELEPHONY_PROVIDER": "simulated",
        "SIMULATED_SIGNING_SECRET": settings.SIMULATED_SIGNING_SECRET,
        "LLM_MODEL": "",
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore:No directory at",  # no collected static files here
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "clozit.asgi:application" if worker_class == "uvicorn" else "clozit.wsgi:application",
        "--chdir",
        str(ROOT),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "30",
        "--backlog",
        "2048",
    ]
    if worker_class == "uvicorn":
        command += ["--worker-class", "clozit.workers.UvicornWorker"]
    elif threads > 1:
        command += ["--worker-class", "gthread", "--threads", str(threads)]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(proc: subprocess.Popen, port: int, log_path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{Path(log_path).read_text()[-4000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            body = response.read()
            conn.close()
            if response.status == 200:
                return
            last = f"{response.status} {body[:300]!r}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.3)
    log = Path(log_path).read_text()
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s ({last}):\n{log}")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # graceful: workers finish, close their database connections
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- the calls ------------------------------------------------------------------------


def answered_calls(owner, agent, count: int, *, first_number: int) -> deque:
    """`count` live calls `agent` has greeted: (CallSid, callee's number, the first turn's URL) each."""
    from campaigns.calls.services import call_answered
    from campaigns.models import Call

    calls = running_campaign_calls(
        owner,
        agent,
        count,
        first_number=first_number,
        status=Call.Status.RINGING,
        call_sid=lambda contact: f"SMbench{contact.pk:026d}",
        time_limit_seconds=agent.max_call_seconds,
    )
    pool = deque()
    for call in calls:
        step = call_answered(call_id=call.pk, answered_by="human")
        assert step.then == "listen" and step.next_turn_url, step
        pool.append((call.provider_call_id, call.to_number, step.next_turn_url))
    return pool


def fill_knowledge_base(agent) -> int:
    """Give `agent` as many knowledge passages as an agent may hold (sections of ~150 words of
    product-handbook vocabulary); returns how many it got, 0 where this version has no knowledge base."""
    import random

    try:
        from campaigns.conversation.knowledge import KnowledgeError, knowledge_add_text
    except ImportError:
        return 0
    rng = random.Random(0)

    def sentence():
        words = [rng.choice(HANDBOOK_WORDS) for _ in range(rng.randint(8, 16))]
        return " ".join(words).capitalize() + "."

    for part in range(1, 1000):
        sections = [
            f"## {sentence()[:-1]}\n\n" + " ".join(sentence() for _ in range(12)) for _ in range(KNOWLEDGE_SECTIONS)
        ]
        try:
            knowledge_add_text(agent, f"Handbook, part {part}", "\n\n".join(sections))
        except KnowledgeError:
            break  # full
    return agent.knowledge_passages.count()


def signed(url: str, sid: str, to: str, speech: str) -> tuple[str, dict]:
    """The form body and headers of a Gather callback, as Twilio (and our simulator) sends it."""
    from django.conf import settings
    from twilio.request_validator import RequestValidator

    params = {
        "AccountSid": "ACsimulated",
        "CallSid": sid,
        "From": "+12025550100",
        "To": to,
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
        "CallStatus": "in-progress",
        "SpeechResult": speech,
        "Confidence": "0.92",
    }
    signature = RequestValidator(settings.SIMULATED_SIGNING_SECRET).compute_signature(url, params)
    return urlencode(params), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }


# --- load -----------------------------------------------------------------------------


def exchange(conn: http.client.HTTPConnection, method: str, path: str, body=None, headers=None):
    """One request on the client's connection (reopened by http.client when the server closed it)."""
    started = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - started
    return response.status, data, elapsed


def get_client(path: str, expect: bytes):
    def make(conn):
        def step():
            status, data, elapsed = exchange(conn, "GET", path)
            if status != 200 or expect not in data:
                raise AssertionError(f"GET {path}: {status} {data[:300]!r}")
            return elapsed

        return step

    return make


def new_turn_client(pool: deque, counters: dict, lock: threading.Lock, *, option: str = "--calls"):
    """A carrier playing calls one after another: post the callee's answer, follow the TwiML."""

    def make(conn):
        state = {"call": None, "i": 0}

        def step():
            if state["call"] is None:
                try:
                    sid, to, url = pool.popleft()
                except IndexError:
                    raise PoolExhausted(f"Ran out of answered calls: raise {option}.") from None
                state["call"] = [sid, to, url]
            sid, to, url = state["call"]
            state["i"] += 1
            body, headers = signed(url, sid, to, SPEECH[state["i"] % len(SPEECH)])
            status, data, elapsed = exchange(conn, "POST", urlsplit(url).path, body, headers)
            text = data.decode()
            if status != 200:
                raise AssertionError(f"POST {url}: {status} {text[:300]!r}")
            action = GATHER_ACTION.search(text)
            if action:
                next_url = html.unescape(action.group(1))
                if next_url == url:
                    raise AssertionError(f"the turn was replayed, not taken: {url}")
                state["call"][2] = next_url
            elif "<Hangup" in text:
                state["call"] = None
                with lock:
                    counters["calls_finished"] += 1
            else:
                raise AssertionError(f"unexpected TwiML: {text[:300]!r}")
            with lock:
                counters["turns"] += 1
            return elapsed

        return step

    return make


def replay_client(calls: list):
    """A carrier re-sending an old turn (a retry): the webhook only replays the last step."""

    taken = itertools.count()

    def make(conn):
        sid, to, url = calls[next(taken) % len(calls)]  # one call per client

        def step():
            stale = re.sub(r"/turn/\d+/$", "/turn/0/", url)
            body, headers = signed(stale, sid, to, "Yes, that sounds good.")
            status, data, elapsed = exchange(conn, "POST", urlsplit(stale).path, body, headers)
            if status != 200 or b"<Gather" not in data:
                raise AssertionError(f"POST {stale}: {status} {data[:300]!r}")
            return elapsed

        return step

    return make


def run_load(port: int, clients: int, seconds: float, make_step) -> tuple[list[float], float]:
    """`clients` threads, released together, each repeating its step for `seconds`: every
    request's latency, and the seconds until the last thread finished."""
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = []

    def target(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        step = make_step(conn)
        try:
            barrier.wait()
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                latencies[i].append(step())
        except Exception as exc:  # reported below: a benchmark that failed measures nothing
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return [x for per in latencies for x in per], elapsed


def summary(latencies: list[float], elapsed: float) -> dict:
    merged = sorted(latencies)
    n = len(merged)
    return {
        "n": n,
        "rps": n / elapsed,
        "p50": merged[n // 2] * 1000,
        "p99": merged[min(n - 1, int(n * 0.99))] * 1000,
    }


def queries_per_request(url_new: str, sid: str, to: str) -> tuple[int, int]:
    """Database queries of one new turn and of one replay, counted in-process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    counts = []
    for url in (url_new, url_new):  # the second post of the same turn is a replay
        body, headers = signed(url, sid, to, "Yes, that sounds good.")
        with CaptureQueriesContext(connection) as queries:
            response = client.post(
                urlsplit(url).path,
                data=body,
                content_type=headers["Content-Type"],
                HTTP_X_TWILIO_SIGNATURE=headers["X-Twilio-Signature"],
            )
        assert response.status_code == 200, response.content
        counts.append(len(queries))
    return counts[0], counts[1]


# --- main -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds per target (default 15)")
    parser.add_argument("--rounds", type=int, default=5, help="the targets take turns, in this many rounds (default 5)")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds per target first (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker; >1 uses gthread (default 1)")
    parser.add_argument(
        "--worker-class",
        choices=["sync", "uvicorn"],
        default="uvicorn",
        help="the product's uvicorn workers (clozit.asgi, the default), or gunicorn's sync workers (clozit.wsgi)",
    )
    parser.add_argument("--no-knowledge", action="store_true", help="leave out the knowledge-base target")
    parser.add_argument(
        "--db-pool-size", type=int, default=None, help="the server's DB_POOL_SIZE (default: the product's; 0: no pool)"
    )
    parser.add_argument("--calls", type=int, default=1500, help="answered calls prepared for the turn webhook")
    parser.add_argument(
        "--knowledge-calls", type=int, default=300, help="answered calls prepared for the knowledge-base agent"
    )
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md alone")
    args = parser.parse_args()

    import logging

    from django.conf import settings

    logging.getLogger("paddle_billing").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="No directory at")  # no collected static files here
    load_before = os.getloadavg()[0]
    port = free_port()
    # Both processes must build the same URLs: the one the carrier signs is PUBLIC_BASE_URL + path.
    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{port}"
    with throwaway_database():
        results, counters, queries = measure(args, port)

    base = results[NOOP]
    turn = results[NEW_TURN]
    if args.worker_class == "uvicorn":
        workers = "`clozit.workers.UvicornWorker` (clozit.asgi)"
    else:
        workers = "sync" if args.threads == 1 else f"gthread ({args.threads} threads)"
    pool = "no connection pool" if args.db_pool_size == 0 else f"DB_POOL_SIZE={args.db_pool_size or 'default'}"
    lines = [
        f"| {label}, {r['n']:,} requests | {r['rps']:,.0f} req/s | {r['p50']:.1f} ms | {r['p99']:.1f} ms |"
        for label, r in results.items()
    ]
    header = (
        machine_heading()
        + f"Turn webhook under load (bench/turn_webhook.py): gunicorn with {args.workers} {workers} workers, "
        f"production settings, PostgreSQL ({pool}); {args.clients} client threads on the same machine, "
        f"{args.seconds:g} s per target in {args.rounds} interleaved rounds, after {args.warmup:g} s of warm-up; "
        f"load average {load_before:.2f} before the run.\n\n"
        "| benchmark | speed | p50 | p99 |\n|---|---|---|---|\n"
    )
    footer = (
        f"\nTurn webhook (new turns) against the trivial view: {turn['rps'] / base['rps']:.3f}× the "
        f"requests/s (1 in {base['rps'] / turn['rps']:.0f}), {turn['p50'] / base['p50']:.0f}× the p50 latency, "
        f"{turn['p99'] / base['p99']:.0f}× the p99."
    )
    knowledge = next((r for label, r in results.items() if label.startswith(f"{KNOWLEDGE_TURN},")), None)
    if knowledge:
        footer += (
            f" With the agent's knowledge base full, a new turn is {turn['rps'] / knowledge['rps']:.0f}× slower "
            f"again ({knowledge['p50'] / turn['p50']:.0f}× the p50)."
        )
    footer += (
        f" Database round trips per request, BEGIN and COMMIT included: {queries[0]} for a new turn, "
        f"{queries[1]} for a replay. {counters['turns']:,} turns were taken in all (warm-up included), and "
        f"{counters['calls_finished']:,} calls played to the end ({len(QUESTIONS)} questions each).\n"
    )
    out = header + "\n".join(lines) + "\n" + footer
    print(out)
    if not args.no_write:
        results_append(out)


def measure(args, port: int) -> tuple[dict, dict, tuple[int, int]]:
    """Prepare the calls, serve them from gunicorn, load each target; checks the database after."""
    from accounts.models import User
    from campaigns.models import Call, CallTurn
    from campaigns.tests.factories import make_agent

    owner = User.objects.create_user(email="bench-turns@example.com", password="x")
    script = {"questions": "\n".join(QUESTIONS), "max_call_seconds": 600}
    print(f"Preparing {args.calls:,} answered calls...", flush=True)
    pool = answered_calls(owner, make_agent(owner, **script), args.calls, first_number=3_000_000)
    replayed = [pool.pop() for _ in range(args.clients)]
    probe = pool.pop()
    queries = queries_per_request(probe[2], probe[0], probe[1])
    knowledge_agent = make_agent(owner, name="Knowledgeable", **script)
    passages = 0 if args.no_knowledge else fill_knowledge_base(knowledge_agent)
    if passages:
        print(f"Preparing {args.knowledge_calls:,} answered calls of an agent with {passages} passages...", flush=True)
        knowledge_pool = answered_calls(owner, knowledge_agent, args.knowledge_calls, first_number=5_000_000)

    counters = {"turns": 0, "calls_finished": 0}
    lock = threading.Lock()
    targets = [
        (NOOP, get_client("/bench/noop/", b"ok")),
        ("Health check (GET /healthz: 1 query, 1 Redis ping)", get_client("/healthz", b'"ok"')),
        (NEW_TURN, new_turn_client(pool, counters, lock)),
        ("Turn webhook, a stale turn (replays the last step)", replay_client(replayed)),
    ]
    if passages:
        label = f"{KNOWLEDGE_TURN}, the agent's knowledge base full ({passages} passages)"
        targets.append((label, new_turn_client(knowledge_pool, counters, lock, option="--knowledge-calls")))
    log = tempfile.NamedTemporaryFile("w+", prefix="bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    proc = None
    try:
        proc = start_gunicorn(
            port=port,
            workers=args.workers,
            threads=args.threads,
            worker_class=args.worker_class,
            db_pool_size=args.db_pool_size,
            log=log,
        )
        wait_until_up(proc, port, log.name)
        for label, make_step in targets:
            if args.warmup > 0:
                print(f"Warm-up, {args.warmup:g} s: {label}", flush=True)
                run_load(port, args.clients, args.warmup, make_step)
        # The targets take turns, a slice of the time each per round, so that anything else the
        # machine does in the meantime weighs on all of them alike.
        measured = {label: ([], 0.0) for label, _ in targets}
        for round_ in range(1, args.rounds + 1):
            for label, make_step in targets:
                latencies, elapsed = run_load(port, args.clients, args.seconds / args.rounds, make_step)
                measured[label][0].extend(latencies)
                measured[label] = (measured[label][0], measured[label][1] + elapsed)
                r = summary(latencies, elapsed)
                print(
                    f"Round {round_}/{args.rounds}: {r['rps']:,.0f} req/s, p50 {r['p50']:.1f} ms, "
                    f"p99 {r['p99']:.1f} ms: {label}",
                    flush=True,
                )
        results = {label: summary(*measured[label]) for label, _ in targets}
    except BaseException:
        print(Path(log.name).read_text()[-4000:], file=sys.stderr)
        raise
    finally:
        if proc is not None:
            stop_gunicorn(proc)
        log.close()
        server_log = Path(log.name).read_text()
        os.unlink(log.name)
    if "Traceback" in server_log or "[ERROR]" in server_log:
        print(server_log[-4000:], file=sys.stderr)
        raise SystemExit("gunicorn logged errors; nothing written.")
    # Every new-turn request was taken as one: the callee's line stored once each (+1: the query probe),
    # and every call the clients saw hang up is finished in the database.
    callee_lines = CallTurn.objects.filter(speaker=CallTurn.Speaker.CALLEE).count()
    assert callee_lines == counters["turns"] + 1, (callee_lines, counters)
    finished = Call.objects.filter(engine_state__last_step__then="hangup").count()
    assert finished == counters["calls_finished"], (finished, counters)
    return results, counters, queries


if __name__ == "__main__":
    main()
