#!/usr/bin/env python
"""Benchmark: real-time conversations over ConversationRelay, next to the Gather path, on one machine.

    .venv/bin/python bench/relay_bench.py [--quick] [--no-write]

Needs PostgreSQL and Redis on 127.0.0.1 (`scripts/ensure-services`). Creates a throwaway database
(the test settings, as the other bench scripts do), and runs three processes besides this one:

- a fake OpenAI-compatible model (an aiohttp server, `relay_bench.py model`): as strict about the
  request as the tests' (campaigns/tests/fake_llm.py `request_problem`), answering every completion
  after a fixed time to first token (--ttft, 300 ms) with a few streamed chunks (or, not streamed,
  the whole completion after the same wait), over HTTP/1.1 keep-alive as the real API does;
- the product as scripts/run.py serves it: gunicorn with 2 `clozit.workers.UvicornWorker` workers
  serving clozit.asgi (HTTP and the relay sockets), production settings (DEBUG off), PostgreSQL
  and Redis;
- a load generator (`relay_bench.py load`), asyncio in a process of its own: the carrier of N live
  calls. On the relay path each call's socket is opened with Twilio's handshake signature, sent
  Twilio's `setup`, then a final `prompt` every --period seconds (the calls staggered over the
  period), and the reply read to its last text frame; on the Gather path each caller posts the
  signed turn webhook (speech result) every --period seconds and follows the TwiML's next action.

The calls are real ones: contacts imported, a running campaign, a credit hold placed per call as
the dialer does, and the signed answer webhook posted to the server (which connects a person on a
real-time agent to its relay socket, or starts the Gather conversation). The agent is an LLM agent
(relay: transport "relay"); the replies never end the call.

Measured:
1. Clozit's own latency per turn at light load (--light-calls conversations, a prompt each
   --light-period seconds): prompt sent -> first text frame received, minus the model's fixed
   time to first token; and the session's own figures stored on each agent line (CallTurn
   first_frame_ms - model_first_token_ms). The same for the Gather path (response time - the
   model's time). With and without a knowledge base of 500 passages (the callee's words then
   always search it).
2. Live conversations: N stepped up (--steps) until Clozit's own p99 passes --limit-ms (100 ms)
   or errors appear; the largest N that met it, for each path. RSS of the server's processes
   (master and workers) with N calls open, against before the first step: memory per call.
   The server's PostgreSQL connections with N calls open.

Writes a section to docs/benchmarks.md (--no-write: print only). Stops everything it started and
drops the database whatever happens. `RELAY_TIMING=/tmp/timing.jsonl` has each server worker time
the parts of a relay reply (bench/relay_timing.py) and append them to that file when it exits.
"""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-relay-signing-secret"
MODEL_REPLY = "Thanks, that helps. How many people on your team book meetings each week, roughly?"
# What the callees say: words the knowledge base's handbook vocabulary shares, so that an agent
# with passages searches them on every prompt.
SPEECH = [
    "How do I reschedule a meeting when a colleague cancels?",
    "Can the calendar sync with our team's booking page?",
    "What does the plan cost per user each month?",
    "We book about forty appointments a week for clients.",
    "Does the reminder email go to every guest of the meeting?",
]
HANDBOOK = (
    "account admin agenda appointment assistant availability billing booking browser calendar call cancel "
    "change client colleague company confirm contract cost customer dashboard data day demo desk device "
    "email employee export feature file form free guest hour integration invoice invite job location login "
    "manager meeting member minute mobile month morning notification office online option order page partner "
    "password payment phone plan policy price process project refund reminder report request reschedule room "
    "schedule security service session setting shift slot staff support sync system task team time tool "
    "trial update user week workflow year the a and of to for with on in your our can will each every any"
)
PERSONA = "You are Sam from Acme Scheduling. Be brief and friendly; ask one question at a time."


# --- the database and the heading: bench/common.py's ------------------------------------------------


@contextlib.contextmanager
def bench_database():
    """bench/common.py's throwaway database (imported here: importing it sets Django up, which the
    load generator's process does not need)."""
    from common import throwaway_database
    from django.db import connections

    with throwaway_database():
        try:
            yield
        finally:
            connections.close_all()


def machine_heading(title: str, load_before: tuple[float, float, float]) -> str:
    from common import machine_heading as heading

    one, five, fifteen = load_before
    return (
        heading().rstrip("\n").replace(" — ", f" — {title}: ", 1)
        + f"\n\nLoad average before the run (1, 5, 15 min): {one:.2f}, {five:.2f}, {fifteen:.2f}.\n"
    )


# --- small helpers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def database_url(settings_dict: dict) -> str:
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
    return found


def rss_kib(pid: int) -> int:
    """Resident memory of `pid` and all its descendants, KiB."""
    total = 0
    for current in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """Processor time (user + system) used so far by `pid` and its living descendants."""
    ticks = 0
    for current in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


# --- the fake model (its own process) ---------------------------------------------------------------


def serve_model(port: int, ttft: float, chunk_gap: float) -> None:
    """An OpenAI-compatible chat-completions server: refuses what the API refuses, answers after
    `ttft` seconds; streamed, the text in pieces of three words `chunk_gap` apart (chunk shapes as
    campaigns/tests/fake_llm.py streams them, from the openai-python SDK's tests)."""
    from aiohttp import web

    from campaigns.tests.fake_llm import request_problem

    counter = iter(range(1, 1 << 62))

    def chunk(cid: str, created: int, model: str, delta: dict, finish=None) -> bytes:
        payload = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(payload)}\n\n".encode()

    async def completions(request):
        body = await request.json()
        problem = request_problem(body)
        if problem:
            error = {"message": problem, "type": "invalid_request_error", "param": None, "code": None}
            return web.json_response({"error": error}, status=400)
        await asyncio.sleep(ttft)
        cid, created, model = f"chatcmpl-{next(counter)}", int(time.time()), body["model"]
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": MODEL_REPLY},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 17, "total_tokens": 27},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        words = MODEL_REPLY.split(" ")
        pieces = [" ".join(words[i : i + 3]) for i in range(0, len(words), 3)]
        await response.write(chunk(cid, created, model, {"role": "assistant", "content": ""}))
        for number, piece in enumerate(pieces):
            if number:
                await asyncio.sleep(chunk_gap)
            await response.write(chunk(cid, created, model, {"content": piece if number == 0 else " " + piece}))
        await response.write(chunk(cid, created, model, {}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- the load generator (its own process) -----------------------------------------------------------


def run_load(plan: dict) -> None:
    """Play the carrier of every call in `plan` (read as JSON); print the result as one JSON line,
    then (the sockets still open) "holding", and close them when a line arrives on stdin."""
    asyncio.run(_load(plan))


async def _load(plan: dict) -> None:
    period, prompts = plan["period"], plan["prompts"]
    calls = plan["calls"]
    stats = {"latencies": [], "errors": [], "late": 0, "frames_checked": 0}
    closers = []
    if plan["path"] == "relay":
        connections = await _open_sockets(calls, stats)
        if stats["errors"]:
            return await _finish(stats, closers=[ws.close for ws in connections if ws is not None])
        closers = [ws.close for ws in connections]
        start = time.perf_counter() + 0.5
        await asyncio.gather(
            *(
                _relay_caller(ws, start + period * i / len(calls), period, prompts, i, stats)
                for i, ws in enumerate(connections)
            )
        )
        return await _finish(stats, closers=closers)
    import aiohttp

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=False), timeout=aiohttp.ClientTimeout(total=30)
    )
    start = time.perf_counter() + 0.5
    await asyncio.gather(
        *(
            _gather_caller(session, call, start + period * i / len(calls), period, prompts, i, stats)
            for i, call in enumerate(calls)
        )
    )
    return await _finish(stats, closers=[session.close])


async def _finish(stats: dict, *, closers) -> None:
    print(json.dumps(stats), flush=True)
    print("holding", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for close in closers:
        with contextlib.suppress(Exception):
            await close()


async def _open_sockets(calls: list, stats: dict) -> list:
    from twilio.request_validator import RequestValidator
    from websockets.asyncio.client import connect

    from campaigns.tests.relay_examples import TWILIO_SETUP

    validator = RequestValidator(SECRET)
    gate = asyncio.Semaphore(25)  # the carrier opens them a few at a time, not all in one instant

    async def open_one(call):
        parts = urlsplit(call["url"])
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        signature = validator.compute_signature(f"{parts.scheme}://{parts.netloc}{parts.path}", query)
        async with gate:
            try:
                ws = await connect(
                    call["url"], additional_headers={"X-Twilio-Signature": signature}, open_timeout=30, max_queue=None
                )
            except Exception as exc:
                stats["errors"].append(f"socket of call {call['id']} not opened: {exc!r}")
                return None
        await ws.send(json.dumps({**TWILIO_SETUP, "callSid": call["sid"], "to": call["to"]}))
        return ws

    return await asyncio.gather(*(open_one(call) for call in calls))


async def _sleep_until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def _relay_caller(ws, first_at: float, period: float, prompts: int, i: int, stats: dict) -> None:
    """One callee: a final prompt every `period` seconds; the first reply is a warm-up, unmeasured."""
    from campaigns.tests.relay_examples import twilio_prompt
    from telephony.relay import outgoing_problem

    moment = first_at
    for number in range(prompts + 1):
        await _sleep_until(moment)
        if time.perf_counter() - moment > 0.05:
            stats["late"] += 1
        sent = time.perf_counter()
        first = None
        try:
            await ws.send(json.dumps(twilio_prompt(SPEECH[(i + number) % len(SPEECH)])))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                problem = outgoing_problem(frame)
                stats["frames_checked"] += 1
                if problem:
                    raise AssertionError(f"a frame the carrier refuses: {problem}: {frame}")
                if frame["type"] != "text":
                    raise AssertionError(f"not a text frame: {frame}")
                if first is None and frame["token"]:
                    first = time.perf_counter()
                if frame.get("last"):
                    break
            if first is None:
                raise AssertionError("a reply without words")
        except Exception as exc:
            stats["errors"].append(f"relay call {i}, prompt {number}: {exc!r}")
            return
        if number:
            stats["latencies"].append((first - sent) * 1000)
        moment += period


async def _gather_caller(session, call: dict, first_at: float, period: float, prompts: int, i: int, stats) -> None:
    """One caller on the Gather path: the signed Gather callback every `period` seconds."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(SECRET)
    url = call["url"]
    moment = first_at
    for number in range(prompts + 1):
        await _sleep_until(moment)
        if time.perf_counter() - moment > 0.05:
            stats["late"] += 1
        params = {
            "AccountSid": "ACsimulated",
            "CallSid": call["sid"],
            "From": "+12025550100",
            "To": call["to"],
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
            "CallStatus": "in-progress",
            "SpeechResult": SPEECH[(i + number) % len(SPEECH)],
            "Confidence": "0.92",
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(url, params),
        }
        sent = time.perf_counter()
        try:
            async with session.post(url, data=urlencode(params), headers=headers) as response:
                text = await response.text()
            elapsed = time.perf_counter() - sent
            if response.status != 200:
                raise AssertionError(f"{response.status} {text[:200]!r}")
            gather = ET.fromstring(text).find("Gather")
            if gather is None or not gather.get("action"):
                raise AssertionError(f"no next turn: {text[:300]!r}")
            url = gather.get("action")
        except Exception as exc:
            stats["errors"].append(f"gather call {i}, turn {number}: {exc!r}")
            return
        if number:
            stats["latencies"].append(elapsed * 1000)
        moment += period


# --- the orchestra (this process) -------------------------------------------------------------------


class Server:
    """gunicorn + uvicorn workers on the throwaway database, as scripts/run.py runs them."""

    def __init__(self, *, port: int, model_url: str, workers: int, extra_env: dict):
        from django.conf import settings
        from django.db import connection

        self.port = port
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bench-relay-", suffix=".log", delete=False)  # noqa: SIM115
        env = {
            # The product's database settings, not the test settings' (which turn the pool off).
            **{name: value for name, value in os.environ.items() if name != "DB_POOL_SIZE"},
            "DJANGO_SETTINGS_MODULE": "bench.settings_bench",
            "DATABASE_URL": database_url(connection.settings_dict),
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
            "TELEPHONY_PROVIDER": "simulated",
            "SIMULATED_SIGNING_SECRET": SECRET,
            "LLM_BASE_URL": model_url,
            "LLM_API_KEY": "bench-key",
            "LLM_MODEL": "bench-model",
            "LLM_STREAM": "false",  # the Gather path as shipped; the relay streams whatever this says
            "ASGI_THREADS": "16",  # as scripts/run.py
            "LOG_LEVEL": "WARNING",
            "PYTHONWARNINGS": "ignore:No directory at",
            **extra_env,
        }
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "clozit.asgi:application",
            "--worker-class",
            "clozit.workers.UvicornWorker",
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "60",
            "--backlog",
            "4096",
        ]
        if os.environ.get("RELAY_TIMING"):
            command += ["--config", str(ROOT / "bench" / "relay_timing.py")]
        self.proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_up()

    def _wait_up(self, timeout: float = 60) -> None:
        import http.client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.text()[-4000:]}")
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    time.sleep(1)  # every worker up
                    return
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer /healthz:\n{self.text()[-4000:]}")

    def text(self) -> str:
        return Path(self.log.name).read_text()

    def rss_kib(self) -> int:
        return rss_kib(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def signed_post(base: str, path: str, body: dict, conn) -> tuple[int, str]:
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(SECRET).compute_signature(base + path, body)
    conn.request(
        "POST",
        path,
        body=urlencode(body),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    response = conn.getresponse()
    return response.status, response.read().decode()


class Calls:
    """Answered live calls, made the way the product makes them."""

    def __init__(self, owner, port: int):
        self.owner = owner
        self.port = port
        self.numbers = iter(range(3_000_000, 9_000_000))  # valid US numbers: +1 202 3xx…

    def answered(self, agent, count: int) -> list[dict]:
        """`count` calls of `agent`, dialled (a credit hold each), answered by a person through the
        signed answer webhook: for each, the relay socket URL or the first turn's URL."""
        import http.client
        from datetime import timedelta
        from decimal import Decimal

        from common import running_campaign_calls
        from django.conf import settings
        from django.urls import reverse

        from billing import ledger
        from campaigns.models import Call

        first = next(self.numbers)
        for _ in range(count - 1):
            next(self.numbers)
        calls = running_campaign_calls(
            self.owner,
            agent,
            count,
            first_number=first,
            status=Call.Status.DIALING,
            call_sid=lambda contact: f"CA{contact.pk:032x}",
        )
        for call in calls:  # as the dialer does before dialling
            hold = ledger.hold_place(
                workspace=self.owner.personal_workspace,
                reference=f"call:{call.pk}",
                max_amount=ledger.call_cost(seconds=agent.max_call_seconds),
                min_amount=Decimal(10),
                lifetime=timedelta(seconds=agent.max_call_seconds + 120),
            )
            call.hold_reference = hold.reference
            call.time_limit_seconds = int(hold.amount)
        Call.objects.bulk_update(calls, ["hold_reference", "time_limit_seconds"])
        answered = []
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            for call in calls:
                path = reverse("telephony_answer", kwargs={"provider": "simulated", "call_id": call.pk})
                status, text = signed_post(
                    settings.PUBLIC_BASE_URL,
                    path,
                    {
                        "AccountSid": "ACsimulated",
                        "CallSid": call.provider_call_id,
                        "From": call.from_number,
                        "To": call.to_number,
                        "Direction": "outbound-api",
                        "ApiVersion": "2010-04-01",
                        "CallStatus": "in-progress",
                        "AnsweredBy": "human",
                    },
                    conn,
                )
                if status != 200:
                    raise RuntimeError(f"answer webhook: {status} {text[:300]}")
                root = ET.fromstring(text)
                relay = root.find("Connect/ConversationRelay")
                gather = root.find("Gather")
                url = relay.get("url") if relay is not None else gather.get("action") if gather is not None else None
                if url is None:
                    raise RuntimeError(f"the answer neither connects nor gathers: {text[:300]}")
                answered.append({"id": call.pk, "sid": call.provider_call_id, "to": call.to_number, "url": url})
        finally:
            conn.close()
        return answered


def fill_knowledge_base(agent, passages: int) -> int:
    """`passages` passages of product-handbook vocabulary, added as a user adds text."""
    import random

    from campaigns.conversation.knowledge import knowledge_add_text

    rng = random.Random(0)
    words = HANDBOOK.split()

    def sentence():
        return " ".join(rng.choice(words) for _ in range(rng.randint(8, 16))).capitalize() + "."

    sections_per_source = 50
    for part in range(passages // sections_per_source):
        sections = [
            f"## {sentence()[:-1]}\n\n" + " ".join(sentence() for _ in range(12)) for _ in range(sections_per_source)
        ]
        knowledge_add_text(agent, f"Handbook, part {part + 1}", "\n\n".join(sections))
    with contextlib.suppress(Exception):  # as autovacuum would, before the agent is used
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return agent.knowledge_passages.count()


def server_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


class ConnectionWatch:
    """The server's connections to the benchmark's database, read twice a second during a load:
    the peak, and the load stopped (`tripped`) past `cap`, before PostgreSQL's max_connections
    (100 by default) turns away everyone else's connections on the machine."""

    def __init__(self, cap: int, on_trip):
        import threading

        from django.db import connection

        self.cap, self.on_trip = cap, on_trip
        self.peak, self.tripped = 0, False
        self.url = database_url(connection.settings_dict)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.done.wait(0.5):
                count = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                ).fetchone()[0]
                self.peak = max(self.peak, count)
                if count > self.cap and not self.tripped:
                    self.tripped = True
                    self.on_trip()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def run_step(*, path: str, calls: list[dict], period: float, prompts: int, server: Server, cap: int) -> dict:
    """One load: the load generator plays every call; RSS and database connections are read while
    all of them are still open."""
    from django.db import connections

    plan = {"path": path, "calls": calls, "period": period, "prompts": prompts}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(plan, f)
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "load", f.name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings_bench"},
    )
    connections.close_all()  # the benchmark's own connection is not counted
    watch = ConnectionWatch(cap, proc.kill)
    cpu_before = cpu_seconds(server.proc.pid)
    try:
        stats = json.loads(proc.stdout.readline() or "null")
        if stats is None and watch.tripped:
            watch.stop()
            return {
                "latencies": [],
                "errors": [f"stopped: the server held more than {cap} database connections"],
                "late": 0,
                "rss_kib": server.rss_kib(),
                "db_connections": watch.peak,
                "db_peak": watch.peak,
            }
        if stats is None:
            raise RuntimeError(f"the load generator failed ({proc.wait()})")
        assert proc.stdout.readline().strip() == "holding"
        stats["server_cpu_s"] = cpu_seconds(server.proc.pid) - cpu_before
        stats["rss_kib"] = server.rss_kib()
        stats["db_connections"] = server_connections()
        connections.close_all()
        proc.stdin.write("close\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
    finally:
        watch.stop()
        if proc.poll() is None:
            proc.kill()
        os.unlink(f.name)
    stats["db_peak"] = watch.peak
    stats["started"] = started
    return stats


def server_side(call_ids: list[int]) -> dict:
    """The session's own figures on the agent lines of these calls, each call's first reply (the
    load generator's warm-up) left out."""
    from campaigns.models import CallTurn

    lines = CallTurn.objects.filter(
        call_id__in=call_ids,
        speaker=CallTurn.Speaker.AGENT,
        first_frame_ms__isnull=False,
        model_first_token_ms__isnull=False,
    ).order_by("call_id", "sequence")
    rows, seen = [], set()
    for call_id, first, model in lines.values_list("call_id", "first_frame_ms", "model_first_token_ms"):
        if call_id in seen:
            rows.append((first, model))
        seen.add(call_id)
    own = [first - model for first, model in rows]
    return {
        "n": len(rows),
        "own_p50": percentile(own, 0.5),
        "own_p99": percentile(own, 0.99),
        "first_p50": percentile([r[0] for r in rows], 0.5),
        "model_p50": percentile([r[1] for r in rows], 0.5),
    }


def own(latencies: list[float], ttft_ms: float) -> dict:
    values = [x - ttft_ms for x in latencies]
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p99": percentile(values, 0.99),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small version, a minute or two (smoke check)")
    parser.add_argument("--ttft", type=float, default=0.3, help="the fake model's time to first token, s")
    parser.add_argument("--chunk-gap", type=float, default=0.02, help="seconds between the model's chunks")
    parser.add_argument("--period", type=float, default=5.0, help="seconds between a call's prompts")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per step (after a warm-up)")
    parser.add_argument("--steps", default="25,50,100,200,300,500,750,1000", help="the N to step through")
    parser.add_argument("--limit-ms", type=float, default=100.0, help="Clozit's own p99 a step must keep to")
    parser.add_argument("--keep-going", action="store_true", help="step on past the limit (until an error)")
    parser.add_argument("--light-calls", type=int, default=10, help="conversations for the per-turn latency")
    parser.add_argument("--light-period", type=float, default=1.0, help="seconds between their prompts")
    parser.add_argument("--light-seconds", type=float, default=40.0, help="measured seconds per configuration")
    parser.add_argument("--passages", type=int, default=500, help="passages of the knowledge-base agent")
    parser.add_argument(
        "--db-cap", type=int, default=70, help="stop a load whose server holds more database connections than this"
    )
    parser.add_argument(
        "--gather-conn-max-age",
        type=int,
        default=0,
        help="DB_CONN_MAX_AGE of the Gather path's server (default 0; the product's default, 60, piles up connections)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2, for 2 cores)")
    parser.add_argument(
        "--db-pool-size", type=int, default=None, help="the servers' DB_POOL_SIZE (default: the product's; 0: no pool)"
    )
    parser.add_argument("--paths", default="relay,gather", help="which paths to step through")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.seconds = "10,25", 10.0
        args.light_calls, args.light_seconds = 5, 10.0

    load_before = os.getloadavg()
    with bench_database():
        out = measure(args, load_before)
    print(out)
    if not args.no_write:
        with (ROOT / "docs" / "benchmarks.md").open("a") as f:
            f.write(out)


def measure(args, load_before) -> str:
    import logging
    import warnings

    from django.conf import settings

    from accounts.models import User
    from billing import ledger
    from campaigns.tests.factories import make_agent

    logging.getLogger("paddle_billing").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="No directory at")
    port, model_port = free_port(), free_port()
    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{port}"  # both processes sign and build the same URLs
    ttft_ms = args.ttft * 1000
    model = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "model", str(model_port), str(args.ttft), str(args.chunk_gap)],
        cwd=ROOT,
    )
    try:
        _wait_for_port(model_port)
        owner = User.objects.create_user(email="bench-relay@example.com", password="x")
        from decimal import Decimal

        ledger.credit_adjust(
            workspace=owner.personal_workspace, amount=Decimal(10_000_000), memo="benchmark credits", by=owner
        )
        script = {"engine": "llm", "persona": PERSONA, "max_call_seconds": 3600}
        agents = {
            ("relay", False): make_agent(owner, name="Relay", transport="relay", **script),
            ("gather", False): make_agent(owner, name="Gather", transport="gather", **script),
            ("relay", True): make_agent(owner, name="Relay with knowledge", transport="relay", **script),
            ("gather", True): make_agent(owner, name="Gather with knowledge", transport="gather", **script),
        }
        print(f"Filling two knowledge bases with {args.passages} passages...", flush=True)
        passages = fill_knowledge_base(agents[("relay", True)], args.passages)
        fill_knowledge_base(agents[("gather", True)], args.passages)
        calls = Calls(owner, port)
        light, stepping, rss_zero, logs = {}, {}, {}, []
        for path in args.paths.split(","):
            # The Gather path's server closes its connections after each request: Django serves
            # each request of an ASGI server on a thread of its own, so a connection kept for reuse
            # (DB_CONN_MAX_AGE) is never reused and lingers until garbage collection.
            extra_env = {"DB_CONN_MAX_AGE": str(args.gather_conn_max_age)} if path == "gather" else {}
            if args.db_pool_size is not None:
                extra_env["DB_POOL_SIZE"] = str(args.db_pool_size)
            server = Server(
                port=port, model_url=f"http://127.0.0.1:{model_port}/v1", workers=args.workers, extra_env=extra_env
            )
            try:
                light_prompts = max(1, int(args.light_seconds / args.light_period))
                for knowledge in (False, True):
                    label = f"{path}, " + (
                        f"a knowledge base of {passages} passages" if knowledge else "no knowledge base"
                    )
                    print(f"Per-turn latency: {label}...", flush=True)
                    answered = calls.answered(agents[(path, knowledge)], args.light_calls)
                    stats = run_step(
                        path=path,
                        calls=answered,
                        period=args.light_period,
                        prompts=light_prompts,
                        server=server,
                        cap=args.db_cap,
                    )
                    light[(path, knowledge)] = {
                        "client": own(stats["latencies"], ttft_ms),
                        "server": server_side([c["id"] for c in answered]) if path == "relay" else None,
                        "errors": stats["errors"],
                        "db_peak": stats["db_peak"],
                    }
                    print(f"    {light[(path, knowledge)]}", flush=True)
                rss_zero[path] = server.rss_kib()
                stepping[path] = step_up(args, path, agents[(path, False)], calls, server, rss_zero[path], ttft_ms)
            finally:
                server.stop()
                logs.append(server.text())
                if not os.environ.get("RELAY_TIMING"):
                    os.unlink(server.log.name)
                else:
                    print(f"The server's log: {server.log.name}", flush=True)
    finally:
        model.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            model.wait(timeout=10)
        if model.poll() is None:
            model.kill()
    failed = [log for log in logs if "Traceback" in log]
    for log in failed:
        print(log[-6000:], file=sys.stderr)
    return report(args, load_before, light, stepping, rss_zero, passages, traceback_in_log=bool(failed))


def step_up(args, path: str, agent, calls, server, rss_zero: int, ttft_ms: float) -> list[dict]:
    """N live calls, N stepped up until Clozit's own p99 passes the limit or an error appears."""
    rows = []
    prompts = max(1, int(args.seconds / args.period))
    for n in [int(x) for x in args.steps.split(",")]:
        print(f"{path}: preparing {n} answered calls...", flush=True)
        answered = calls.answered(agent, n)
        print(f"{path}: {n} live calls, a prompt every {args.period:g} s each...", flush=True)
        stats = run_step(path=path, calls=answered, period=args.period, prompts=prompts, server=server, cap=args.db_cap)
        row = {
            "n": n,
            "client": own(stats["latencies"], ttft_ms),
            "server": server_side([c["id"] for c in answered]) if path == "relay" else None,
            "errors": stats["errors"],
            "late": stats["late"],
            "rss_mib": stats["rss_kib"] / 1024,
            "per_call_kib": (stats["rss_kib"] - rss_zero) / n,
            "db_connections": stats["db_connections"],
            "db_peak": stats["db_peak"],
            # the server's processor time per measured turn (the warm-up turns' share taken out)
            "cpu_ms": stats.get("server_cpu_s", 0) * 1000 / max(1, n * (prompts + 1)),
        }
        rows.append(row)
        c = row["client"]
        print(
            f"    own p50 {c['p50']:.1f} ms, p99 {c['p99']:.1f} ms over {c['n']} turns; "
            f"{len(row['errors'])} errors, {row['late']} late; RSS {row['rss_mib']:.0f} MiB, "
            f"{row['db_connections']} database connections ({row['db_peak']} at the peak); "
            f"server CPU {row['cpu_ms']:.1f} ms a turn",
            flush=True,
        )
        for error in row["errors"][:5]:
            print(f"    error: {error}", flush=True)
        if row["errors"] or (c["p99"] > args.limit_ms and not args.keep_going):
            break
    return rows


def _wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def report(args, load_before, light, stepping, rss_zero, passages, *, traceback_in_log: bool) -> str:
    load_after = os.getloadavg()
    pool = (
        "DB_CONN_MAX_AGE 0, no connection pool"
        if args.db_pool_size == 0
        else f"DB_CONN_MAX_AGE 0, a connection pool of DB_POOL_SIZE={args.db_pool_size or 'default'} per process"
    )
    lines = [machine_heading("ConversationRelay next to the Gather path (bench/relay_bench.py)", load_before)]
    lines.append(
        f"Load average after it: {load_after[0]:.2f}, {load_after[1]:.2f}, {load_after[2]:.2f}. Command: "
        f"`.venv/bin/python bench/relay_bench.py{' --quick' if args.quick else ''}` (`make bench-relay`). "
        f"gunicorn with {args.workers} `clozit.workers.UvicornWorker` workers, production settings, PostgreSQL, "
        f"Redis; the fake model answers after {args.ttft * 1000:.0f} ms (time to first token), then "
        f"{len(MODEL_REPLY.split()) // 3 + 1} chunks {args.chunk_gap * 1000:.0f} ms apart; the load generator "
        "is a process of its own on the same cores. A server per path: the relay's with the product's "
        f"database settings ({pool}), the Gather path's with DB_CONN_MAX_AGE={args.gather_conn_max_age}.\n"
    )
    lines.append(
        f"\n**Own latency per turn** ({args.light_calls} conversations, a prompt every {args.light_period:g} s each, "
        f"{args.light_seconds:g} s; the first reply of each call unmeasured). Relay: prompt sent -> first text "
        f"frame received, minus the model's {args.ttft * 1000:.0f} ms; stored by the session: first_frame_ms - "
        "model_first_token_ms. Gather: the turn webhook's response time minus the model's "
        f"{args.ttft * 1000:.0f} ms (the whole completion).\n\n"
        "| path | knowledge base | turns | own p50 | own p99 | stored own p50 | stored own p99 "
        "| stored first frame p50 | stored model p50 | DB connections (peak) | errors |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    for (path, knowledge), row in light.items():
        c, s = row["client"], row["server"]
        stored = (
            f"{s['own_p50']:.0f} ms | {s['own_p99']:.0f} ms | {s['first_p50']:.0f} ms | {s['model_p50']:.0f} ms"
            if s
            else "— | — | — | —"
        )
        lines.append(
            f"| {path} | {f'{passages} passages' if knowledge else 'none'} | {c['n']} | {c['p50']:.1f} ms | "
            f"{c['p99']:.1f} ms | {stored} | {row['db_peak']} | {'; '.join(row['errors'][:2]) or 0} |\n"
        )
    lines.append(
        f"\n**Live conversations** (N calls, a prompt every {args.period:g} s each, staggered; {args.seconds:g} s "
        f"measured after one unmeasured prompt per call; stepped until own p99 > {args.limit_ms:.0f} ms or an "
        "error). Memory per call: (RSS of the server's processes with N calls open - RSS before the first step: "
        + ", ".join(f"{kib / 1024:.0f} MiB for {path}" for path, kib in rss_zero.items())
        + ") / N.\n\n"
        "| path | N | turns | own p50 | own p99 | stored own p99 | errors | late prompts | server RSS | per call "
        "| DB connections at the end (peak) | server CPU a turn |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    best = {}
    for path, rows in stepping.items():
        for row in rows:
            c, s = row["client"], row["server"]
            ok = not row["errors"] and c["p99"] <= args.limit_ms
            if ok:
                best[path] = row["n"]
            stored = f"{s['own_p99']:.0f} ms" if s else "—"
            lines.append(
                f"| {path} | {row['n']} | {c['n']} | {c['p50']:.1f} ms | {c['p99']:.1f} ms | "
                f"{stored} | {len(row['errors'])} | {row['late']} | "
                f"{row['rss_mib']:.0f} MiB | {row['per_call_kib']:.0f} KiB | "
                f"{row['db_connections']} ({row['db_peak']}) | {row['cpu_ms']:.1f} ms |\n"
            )
    lines.append("\n")
    for path in stepping:
        for error in stepping[path][-1]["errors"][:3]:
            lines.append(f"An error of the last {path} step: {error}\n\n")
        lines.append(
            f"Largest N with own p99 ≤ {args.limit_ms:.0f} ms, {path}: "
            f"{best.get(path, 'none of the steps')}"
            f"{' (the last step tried)' if best.get(path) == stepping[path][-1]['n'] else ''}.\n"
        )
    if traceback_in_log:
        lines.append("\nThe server logged tracebacks during the run (see the run's stderr).\n")
    return "".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "model":
        serve_model(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "load":
        run_load(json.loads(Path(sys.argv[2]).read_text()))
    else:
        main()
