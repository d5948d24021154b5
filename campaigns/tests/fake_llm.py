"""A local stand-in for an OpenAI-compatible chat-completions server, scripted per test.

    def test_something(fake_llm):
        fake_llm.reply("Hello!")                                  # plain content
        fake_llm.reply(tools=[("record_field", {"name": "team", "value": "12"})])
        fake_llm.reply("late", delay=2)                           # slower than the client's timeout
        fake_llm.fail(500)                                        # an HTTP error
        fake_llm.reply("Hi", chunk_delay=0.2)                     # streamed: a pause before each chunk
        fake_llm.reply("Hi", stream_error=True)                   # streamed: an error event mid-stream
        fake_llm.reply("Hi there you", stall=3)                   # streamed: the first pieces, then 3 s of nothing
        fake_llm.reply("Hi", gate=event)                          # answers once the test sets `event`
        fake_llm.arrived.wait(2)                                  # a request has come in
        ...
        fake_llm.requests[0]["messages"][0]["content"]            # every request body, in order

A request with `"stream": true` is answered the way OpenAI streams: server-sent events, one
`chat.completion.chunk` per `data:` line, the text in a few pieces, each tool call announced
(index, id, name) and then its arguments split over several chunks, a last chunk with the
finish reason, and `data: [DONE]` (shapes: `llm_examples.py`, from the openai-python SDK's own
tests). `fake_llm.reply(chunks=[...])` streams the given chunks exactly as they are.

As strict as the real API: a request parameter Chat Completions does not have, a missing model or
messages, or `stream_options` without streaming, is refused with 400 `invalid_request_error` in
OpenAI's words, and nothing is queued for it.

Import the fixture into a test module with `from campaigns.tests.fake_llm import fake_llm_fixture`.
"""

import itertools
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

DEFAULT_CONTENT = "Okay."

# The request body parameters of POST /v1/chat/completions (OpenAI's API reference, and
# `openai.types.chat.CompletionCreateParams` in the SDK); anything else is refused.
KNOWN_PARAMETERS = frozenset(
    [
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "messages",
        "metadata",
        "modalities",
        "model",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    ]
)


def request_problem(body: dict) -> str | None:
    """Why the real API would refuse this request body (its own message), or None."""
    for name in body:
        if name not in KNOWN_PARAMETERS:
            return f"Unrecognized request argument supplied: {name}"
    if not body.get("model"):
        return "you must provide a model parameter"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "Missing required parameter: 'messages'."
    if "stream_options" in body and not body.get("stream"):
        return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    if "tool_choice" in body and not body.get("tools"):
        return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
    return None


class FakeLLM:
    def __init__(self):
        self.queue: deque[dict] = deque()
        self.requests: list[dict] = []
        # Why each refused request was refused (the API's own message).
        self.refused: list[str] = []
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.arrived = threading.Event()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    # --- scripting ---------------------------------------------------------------------
    def reply(
        self,
        content: str | None = None,
        *,
        tools=(),
        delay: float = 0,
        finish_reason: str | None = None,
        chunk_delay: float = 0,
        stream_error: bool = False,
        interleave: bool = False,
        stall: float = 0,
        gate: threading.Event | None = None,
        chunks: list[dict] | None = None,
    ):
        """Queue one completion: text and/or tool calls given as (name, arguments dict). When
        streamed: `chunk_delay` pauses before each chunk, `stream_error` breaks off with an error
        event after the first pieces, `stall` sends the first pieces and then nothing for that
        many seconds, `interleave` sends the tool calls' argument pieces in turns. `gate`: the
        answer waits until the test sets it (at most 30 s)."""
        self.queue.append(
            {
                "content": content,
                "tools": list(tools),
                "delay": delay,
                "status": 200,
                "finish_reason": finish_reason,
                "chunk_delay": chunk_delay,
                "stream_error": stream_error,
                "interleave": interleave,
                "stall": stall,
                "gate": gate,
                "chunks": chunks,
            }
        )
        return self

    def fail(self, status: int = 500, *, delay: float = 0):
        self.queue.append({"status": status, "delay": delay})
        return self

    @property
    def calls(self) -> int:
        return len(self.requests)

    # --- wire format -------------------------------------------------------------------
    def _next(self, body: dict) -> dict:
        with self.lock:
            self.requests.append(body)
            self.arrived.set()
            return self.queue.popleft() if self.queue else {"content": DEFAULT_CONTENT, "tools": [], "status": 200}

    def _completion(self, body: dict, spec: dict) -> dict:
        tool_calls = [
            {
                "id": f"call_{next(self.ids)}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for name, arguments in spec.get("tools", [])
        ]
        message = {"role": "assistant", "content": spec.get("content")}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {
            "id": f"chatcmpl-{next(self.ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": spec.get("finish_reason") or ("tool_calls" if tool_calls else "stop"),
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def _chunks(self, body: dict, spec: dict) -> list[dict]:
        """The completion as OpenAI streams it (without the final [DONE])."""
        completion_id, created, model = f"chatcmpl-{next(self.ids)}", int(time.time()), body.get("model", "fake")

        def chunk(delta: dict, finish_reason=None) -> dict:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }

        chunks = [chunk({"role": "assistant", "content": ""})]
        content = spec.get("content") or ""
        words = content.split(" ")
        for start in range(0, len(words), 3):  # a few words a chunk, spaces kept
            piece = " ".join(words[start : start + 3])
            chunks.append(chunk({"content": piece if start == 0 else " " + piece}))
        tools = spec.get("tools", [])
        pieces: list[list[dict]] = []
        for index, (name, arguments) in enumerate(tools):
            chunks.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": f"call_{next(self.ids)}",
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            text = json.dumps(arguments)
            size = max(1, len(text) // 3)  # arguments in three or four pieces
            pieces.append(
                [
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": text[i : i + size]}}]})
                    for i in range(0, len(text), size)
                ]
            )
        if spec.get("interleave"):
            for group in itertools.zip_longest(*pieces):
                chunks.extend(c for c in group if c is not None)
        else:
            for group in pieces:
                chunks.extend(group)
        chunks.append(chunk({}, spec.get("finish_reason") or ("tool_calls" if tools else "stop")))
        return chunks

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout) before the answer

            def _stream(self, body: dict, spec: dict):
                chunks = spec.get("chunks") or fake._chunks(body, spec)
                if spec.get("stream_error"):
                    chunks = chunks[:2] + [{"error": {"message": "the model broke off", "type": "server_error"}}]
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.end_headers()  # no length: HTTP/1.0, the end of the stream closes the connection
                    for number, payload in enumerate(chunks):
                        if spec.get("stall") and number == 2:
                            time.sleep(spec["stall"])
                        if spec.get("chunk_delay"):
                            time.sleep(spec["chunk_delay"])
                        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                        self.wfile.flush()
                    if not spec.get("stream_error"):
                        self.wfile.write(b"data: [DONE]\n\n")
                        self.wfile.flush()
                except OSError:
                    pass  # the client gave up

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                    return
                problem = request_problem(body)
                if problem:
                    with fake.lock:
                        fake.refused.append(problem)
                    self._send(
                        400,
                        {"error": {"message": problem, "type": "invalid_request_error", "param": None, "code": None}},
                    )
                    return
                spec = fake._next(body)
                if spec.get("gate") is not None:
                    spec["gate"].wait(30)
                if spec.get("delay"):
                    time.sleep(spec["delay"])
                if spec["status"] != 200:
                    self._send(spec["status"], {"error": {"message": "fake failure", "type": "server_error"}})
                    return
                if body.get("stream"):
                    self._stream(body, spec)
                else:
                    self._send(200, fake._completion(body, spec))

        return Handler

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="fake_llm")
def fake_llm_fixture(settings):
    """A running fake server, with the LLM engine configured to use it (and a short timeout)."""
    fake = FakeLLM().start()
    settings.LLM_BASE_URL = fake.base_url
    settings.LLM_API_KEY = "test-key"
    settings.LLM_MODEL = "fake-model"
    settings.LLM_TIMEOUT_SECONDS = 0.5
    yield fake
    fake.stop()
