"""gunicorn configuration for bench/relay_bench.py with RELAY_TIMING=<file>: where a relay reply's
own time goes, timed inside each server worker and written to <file>.<pid> as JSON (every few
seconds while replies finish: a uvicorn worker told to stop leaves no hook to write it then).

Nothing of the product is changed: its functions are wrapped in the worker after the fork.
- each database step of a session (`CallRelaySession.run`, by the function it runs): the wait for
  the session's thread (and close_old_connections), the step itself, and the way back to the loop;
- a reply's parts: prompt -> model request sent (`pre_model`), request -> first piece of the model
  (`model`), first piece -> first text frame sent (`post_model`).
"""

import asyncio
import json
import os
import time
from collections import defaultdict

TIMES: dict = defaultdict(list)
MARKS: dict = {}
WRITTEN = [0.0]


def post_worker_init(worker):
    from campaigns.calls.relay import CallRelaySession
    from campaigns.conversation.engine.llm import LLMEngine

    original_run = CallRelaySession.run
    original_finished = CallRelaySession.reply_finished
    original_astream = LLMEngine._astream

    async def run(self, function, *args, **kwargs):
        submitted = time.monotonic()
        box = {}
        name = getattr(function, "__name__", repr(function))

        def timed(*args, **kwargs):
            box["start"] = time.monotonic()
            try:
                return function(*args, **kwargs)
            finally:
                box["end"] = time.monotonic()

        try:
            return await original_run(self, timed, *args, **kwargs)
        finally:
            back = time.monotonic()
            if "end" in box:
                TIMES[f"run {name}: wait"].append((box["start"] - submitted) * 1000)
                TIMES[f"run {name}: step"].append((box["end"] - box["start"]) * 1000)
                TIMES[f"run {name}: back"].append((back - box["end"]) * 1000)

    def astream(self, *args, **kwargs):
        generator = original_astream(self, *args, **kwargs)

        async def timed():
            marks = MARKS.setdefault(asyncio.current_task(), {})
            marks.setdefault("request", time.monotonic())
            async for piece in generator:
                marks.setdefault("first_piece", time.monotonic())
                yield piece

        return timed()

    async def reply_finished(self, *, first_frame_ms, completed):
        marks = MARKS.pop(asyncio.current_task(), {})
        if first_frame_ms is not None and "request" in marks and "first_piece" in marks:
            TIMES["reply: pre_model"].append((marks["request"] - self.started) * 1000)
            TIMES["reply: model"].append((marks["first_piece"] - marks["request"]) * 1000)
            TIMES["reply: post_model"].append((self.started + first_frame_ms / 1000 - marks["first_piece"]) * 1000)
        if time.monotonic() - WRITTEN[0] > 2:
            WRITTEN[0] = time.monotonic()
            write_summary()
        return await original_finished(self, first_frame_ms=first_frame_ms, completed=completed)

    CallRelaySession.run = run
    CallRelaySession.reply_finished = reply_finished
    LLMEngine._astream = astream


def write_summary():
    path = os.environ.get("RELAY_TIMING")
    if not path or not TIMES:
        return
    summary = {}
    for name, values in sorted(TIMES.items()):
        ordered = sorted(values)
        summary[name] = {
            "n": len(ordered),
            "mean": sum(ordered) / len(ordered),
            "p50": ordered[len(ordered) // 2],
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        }
    with open(f"{path}.{os.getpid()}", "w") as f:
        json.dump(summary, f)
