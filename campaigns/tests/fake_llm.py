"""A local stand-in for an OpenAI-compatible chat-completions server, scripted per test.

    def test_something(fake_llm):
        fake_llm.reply("Hello!")                                  # plain content
        fake_llm.reply(tools=[("record_field", {"name": "team", "value": "12"})])
        fake_llm.reply("late", delay=2)                           # slower than the client's timeout
        fake_llm.fail(500)                                        # an HTTP error
        ...
        fake_llm.requests[0]["messages"][0]["content"]            # every request body, in order

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


class FakeLLM:
    def __init__(self):
        self.queue: deque[dict] = deque()
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    # --- scripting ---------------------------------------------------------------------
    def reply(self, content: str | None = None, *, tools=(), delay: float = 0, finish_reason: str | None = None):
        """Queue one completion: text and/or tool calls given as (name, arguments dict)."""
        self.queue.append(
            {"content": content, "tools": list(tools), "delay": delay, "status": 200, "finish_reason": finish_reason}
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

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                    return
                spec = fake._next(body)
                if spec.get("delay"):
                    time.sleep(spec["delay"])
                if spec["status"] != 200:
                    self._send(spec["status"], {"error": {"message": "fake failure", "type": "server_error"}})
                    return
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
