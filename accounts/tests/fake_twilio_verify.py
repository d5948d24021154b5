"""A local stand-in for Twilio Verify v2, spoken to by the real `twilio` SDK over HTTP.

Only what Clozit uses, with Twilio's wire format: form-encoded POST bodies, Basic auth with the
account SID and auth token, JSON resources and Twilio's legacy error body
(`{"code", "message", "more_info", "status"}`) that the SDK turns into TwilioRestException.

    POST /v2/Services/{ServiceSid}/Verifications              To, Channel, CustomCode → 201 pending
    GET  /v2/Services/{ServiceSid}/Verifications/{Sid or To}                         → 200
    POST /v2/Services/{ServiceSid}/Verifications/{Sid or To}  Status=approved|canceled → 200
    POST /v2/Services/{ServiceSid}/VerificationCheck          To or VerificationSid, Code
                                                              → 200 approved, or 200 pending (wrong code)

As Twilio does: a verification leaves the pending set once approved or canceled (later look-ups
are 404, error 20404); a second create for a number with a pending verification reuses its SID;
an unknown service is 404/20404; bad credentials are 401/20003; an invalid `To` is 400/60200
(`+15005550001` is Twilio's magic "invalid number"; anything not in E.164 is refused too).

Every request is recorded (method, path, form fields, Basic auth) for tests to assert on, and
`fail_next()` makes the next request(s) answer with an error, e.g. a 503, and `delay_next()` holds
the next answer back (a Twilio that hangs).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token"
SERVICE_SID = "VA" + "fedcba9876543210" * 2

# Twilio's magic test number for "invalid phone number".
INVALID_NUMBER = "+15005550001"
CHANNELS = {"sms", "call", "email", "whatsapp", "sna"}
MAX_CHECK_ATTEMPTS = 5


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]
    auth: tuple[str, str] | None


@dataclass
class Verification:
    sid: str
    to: str
    channel: str
    code: str
    status: str = "pending"
    check_attempts: int = 0
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    attempts: list[dict] = field(default_factory=list)


class _Failure(Exception):
    def __init__(self, status: int, code: int, message: str):
        self.status, self.code, self.message = status, code, message


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeTwilioVerify:
    """The fake's state; `serve()` runs it on 127.0.0.1 in a thread."""

    def __init__(self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN, service_sid: str = SERVICE_SID):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.service_sid = service_sid
        self.requests: list[RecordedRequest] = []
        # Every verification ever created, by SID (approved and canceled ones included).
        self.verifications: dict[str, Verification] = {}
        self._failures: list[tuple[int, int, str]] = []
        self._delays: list[float] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- for tests ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "not serving"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, status: int = 503, *, code: int | None = None, message: str = "", times: int = 1) -> None:
        """The next `times` requests get this error instead of an answer."""
        code = code if code is not None else 20000 + status
        message = message or {500: "An internal server error has occurred", 503: "Service unavailable"}.get(
            status, "Error"
        )
        with self._lock:
            self._failures.extend([(status, code, message)] * times)

    def delay_next(self, seconds: float) -> None:
        """The next request is answered only after `seconds` (a Twilio that hangs)."""
        with self._lock:
            self._delays.append(seconds)

    def created(self) -> list[RecordedRequest]:
        """The verification create requests received, oldest first."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Verifications")]

    def approvals(self) -> list[RecordedRequest]:
        """Requests that reported a verification approved, oldest first."""
        return [r for r in self.requests if "/Verifications/" in r.path and r.form.get("Status") == "approved"]

    def pending_for(self, to: str) -> Verification | None:
        with self._lock:
            return self._pending(to)

    # --- serving ------------------------------------------------------------------------
    def serve(self) -> FakeTwilioVerify:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 5  # idle keep-alive connections end instead of holding a thread

            def do_GET(self):
                fake._handle(self)

            def do_POST(self):
                fake._handle(self)

            def do_DELETE(self):
                fake._handle(self)

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio-verify", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    # --- the API ------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        path = urlsplit(handler.path).path
        form = {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}
        auth = _basic_auth(handler.headers.get("Authorization", ""))
        with self._lock:
            self.requests.append(RecordedRequest(method=handler.command, path=path, form=form, auth=auth))
            delay = self._delays.pop(0) if self._delays else 0
        if delay:
            time.sleep(delay)
        with self._lock:
            try:
                status, payload = self._route(handler.command, path, form, auth)
            except _Failure as failure:
                status, payload = failure.status, self._error(failure)
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up waiting

    def _route(self, method: str, path: str, form: dict, auth) -> tuple[int, dict]:
        if self._failures:
            raise _Failure(*self._failures.pop(0))
        if auth != (self.account_sid, self.auth_token):
            raise _Failure(401, 20003, "Authenticate")
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if len(parts) < 4 or parts[:2] != ["v2", "Services"] or parts[2] != self.service_sid:
            raise self._not_found(path)
        rest = parts[3:]
        if rest == ["Verifications"] and method == "POST":
            return 201, self._create(form)
        if rest == ["VerificationCheck"] and method == "POST":
            return 200, self._check(form)
        if len(rest) == 2 and rest[0] == "Verifications":
            # By SID or by the number; Twilio forgets a verification once approved or canceled.
            verification = self.verifications.get(rest[1]) or self._pending(rest[1])
            if verification is None or verification.status != "pending":
                raise self._not_found(path)
            if method == "GET":
                return 200, self._resource(verification)
            if method == "POST":
                return 200, self._update(verification, form)
        raise self._not_found(path)

    def _create(self, form: dict) -> dict:
        to, channel, custom_code = form.get("To", ""), form.get("Channel", ""), form.get("CustomCode")
        if not to:
            raise _Failure(400, 20001, "Missing required parameter To in the post body")
        if not channel:
            raise _Failure(400, 20001, "Missing required parameter Channel in the post body")
        if to == INVALID_NUMBER or not (to.startswith("+") and to[1:].isdigit() and 8 <= len(to) <= 16):
            raise _Failure(400, 60200, f"Invalid parameter `To`: {to}")
        if channel not in CHANNELS:
            raise _Failure(400, 60200, f"Invalid parameter `Channel`: {channel}")
        if custom_code is not None and not 4 <= len(custom_code) <= 10:
            raise _Failure(400, 60200, "Invalid parameter `CustomCode`")
        verification = self._pending(to)
        now = datetime.now(UTC)
        if verification is None:
            verification = Verification(sid=_sid("VE"), to=to, channel=channel, code=custom_code or "")
            self.verifications[verification.sid] = verification
        else:
            verification.channel = channel
            verification.code = custom_code or verification.code
            verification.updated = now
        verification.attempts.append({"attempt_sid": _sid("VL"), "channel": channel, "time": _stamp(now)})
        return self._resource(verification)

    def _update(self, verification: Verification, form: dict) -> dict:
        status = form.get("Status")
        if status not in {"approved", "canceled"}:
            raise _Failure(400, 60200, f"Invalid parameter `Status`: {status}")
        verification.status = status
        verification.updated = datetime.now(UTC)
        return self._resource(verification)

    def _check(self, form: dict) -> dict:
        code = form.get("Code")
        if not code:
            raise _Failure(400, 20001, "Missing required parameter Code in the post body")
        if form.get("VerificationSid"):
            verification = self.verifications.get(form["VerificationSid"])
        else:
            verification = self._pending(form.get("To", ""))
        if verification is None or verification.status != "pending":
            raise self._not_found(f"/v2/Services/{self.service_sid}/VerificationCheck")
        if verification.check_attempts >= MAX_CHECK_ATTEMPTS:
            raise _Failure(429, 60202, "Max check attempts reached")
        verification.check_attempts += 1
        if code == verification.code:
            verification.status = "approved"
        verification.updated = datetime.now(UTC)
        resource = self._resource(verification)
        resource.pop("url")
        resource.pop("lookup")
        resource.pop("send_code_attempts")
        resource.pop("sna")
        resource["sna_attempts_error_codes"] = []
        return resource

    # --- helpers --------------------------------------------------------------------------
    def _pending(self, to: str) -> Verification | None:
        for verification in self.verifications.values():
            if verification.to == to and verification.status == "pending":
                return verification
        return None

    def _resource(self, verification: Verification) -> dict:
        return {
            "sid": verification.sid,
            "service_sid": self.service_sid,
            "account_sid": self.account_sid,
            "to": verification.to,
            "channel": verification.channel,
            "status": verification.status,
            "valid": verification.status == "approved",
            "lookup": {"carrier": None},
            "amount": None,
            "payee": None,
            "send_code_attempts": list(verification.attempts),
            "date_created": _stamp(verification.created),
            "date_updated": _stamp(verification.updated),
            "sna": None,
            "url": f"{self.base_url}/v2/Services/{self.service_sid}/Verifications/{verification.sid}",
        }

    def _not_found(self, path: str) -> _Failure:
        resource = path.removeprefix("/v2")
        return _Failure(404, 20404, f"The requested resource {resource} was not found")

    def _error(self, failure: _Failure) -> dict:
        return {
            "code": failure.code,
            "message": failure.message,
            "more_info": f"https://www.twilio.com/docs/errors/{failure.code}",
            "status": failure.status,
        }


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _, password = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return None
    return username, password


@pytest.fixture
def fake_twilio():
    """A running fake Twilio Verify; `fake_twilio.base_url` is its address."""
    fake = FakeTwilioVerify().serve()
    yield fake
    fake.close()
