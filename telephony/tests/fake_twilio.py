"""A local stand-in for Twilio's REST API (Calls), driven through the real `twilio` SDK.

Creating a call records the request and, like Twilio, starts calling back: a thread plays the
callee with the simulated carrier's callee logic, signing every webhook with the auth token,
so a campaign on TELEPHONY_PROVIDER=twilio runs through the real /telephony/twilio/ endpoints.
"""

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-twilio-auth-token"
INVALID_NUMBER = "+15005550001"  # Twilio's magic test number for an invalid "To"


@dataclass
class FakeTwilio:
    place_calls: bool = True
    requests: list = field(default_factory=list)
    fail_next_status: int | None = None
    always_fail_status: int | None = None

    def __post_init__(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - http.server's naming
                expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
                if self.headers.get("Authorization") != expected or not self.path.endswith(".mp3"):
                    self.send_response(401 if self.headers.get("Authorization") != expected else 404)
                    self.end_headers()
                    return
                data = b"ID3fake-mp3"
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                fake.requests.append((self.path, form))
                expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._reply(
                        401,
                        {
                            "code": 20003,
                            "message": "Authenticate",
                            "status": 401,
                            "more_info": "https://www.twilio.com/docs/errors/20003",
                        },
                    )
                if fake.fail_next_status or fake.always_fail_status:
                    status = fake.fail_next_status or fake.always_fail_status
                    fake.fail_next_status = None
                    return self._reply(status, {"code": 20500, "message": "Internal Server Error", "status": status})
                base = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls"
                if self.path == f"{base}.json":
                    return self._create(form)
                if self.path.startswith(base + "/") and self.path.endswith(".json"):
                    sid = self.path[len(base) + 1 : -len(".json")]
                    if form.get("Status") == "completed":
                        fake.hangups.append(sid)
                    return self._reply(200, fake.resource(sid, form.get("To", ""), form.get("Status", "completed")))
                return self._reply(404, {"code": 20404, "message": "Not found", "status": 404})

            def _create(self, form):
                if form.get("To") == INVALID_NUMBER:
                    return self._reply(
                        400,
                        {
                            "code": 21211,
                            "message": "The 'To' number is not a valid phone number.",
                            "status": 400,
                            "more_info": "https://www.twilio.com/docs/errors/21211",
                        },
                    )
                sid = "CA" + uuid.uuid4().hex
                if fake.place_calls:
                    threading.Thread(target=fake._play, args=(sid, form), daemon=True).start()
                return self._reply(201, fake.resource(sid, form["To"], "queued", form.get("From", "")))

        self.hangups: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def resource(self, sid, to, status, from_=""):
        return {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": to,
            "from": from_,
            "status": status,
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
        }

    def _play(self, sid, form):
        from django.db import connection

        from telephony.simulator import SimulatedCall

        try:
            SimulatedCall(
                sid=sid,
                to=form["To"],
                from_=form["From"],
                answer_url=form["Url"],
                status_url=form["StatusCallback"],
                time_limit=int(form.get("TimeLimit", 14400)),
                detect_answering_machine=form.get("MachineDetection") == "Enable",
                signing_secret=AUTH_TOKEN,
            ).run()
        finally:
            connection.close()

    def calls_created(self):
        return [form for path, form in self.requests if path.endswith("/Calls.json")]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_twilio(settings):
    fake = FakeTwilio()
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_API_BASE_URL = fake.base_url
    yield fake
    fake.stop()
