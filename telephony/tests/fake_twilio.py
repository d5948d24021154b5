"""A local stand-in for Twilio's REST API, driven through the real `twilio` SDK, and as strict
as Twilio: it takes only the parameters the SDK knows for each request (a misspelt name fails the
test instead of being dropped in silence), answers an unknown call sid with 404 (20404), refuses to
redirect a call that is not in progress (21220) and to end one that already has (20404), in the
error shapes kept in carrier_examples.py.

Calls: creating one records the request and, like Twilio, starts calling back: a thread plays
the callee with the simulated carrier's callee logic, signing every webhook with the auth token,
so a campaign on TELEPHONY_PROVIDER=twilio runs through the real /telephony/twilio/ endpoints.
Each call's status follows what the played call reports; updating a call ends it (Status) or
gives it new instructions (Twiml, a transfer).

Numbers: searching available local numbers, buying one (IncomingPhoneNumbers) and releasing it;
recordings can be deleted. Paths and wire format as in twilio/rest/api/v2010/account/.
"""

import base64
import inspect
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from twilio.rest.api.v2010.account.call import CallContext, CallList
from twilio.rest.api.v2010.account.incoming_phone_number import IncomingPhoneNumberList

from telephony.tests.carrier_examples import TWILIO_INVALID_PARAMETER, TWILIO_NOT_FOUND, TWILIO_NOT_IN_PROGRESS

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-twilio-auth-token"
INVALID_NUMBER = "+15005550001"  # Twilio's magic test number for an invalid "To"
UNAVAILABLE_NUMBER = "+15005550000"  # Twilio's magic test number that cannot be bought
NO_NUMBERS_AREA_CODE = "533"  # Twilio's magic test area code with no numbers available
API = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
AVAILABLE = re.compile(rf"^{API}/AvailablePhoneNumbers/(?P<country>[A-Z]{{2}})/Local\.json$")
INCOMING_NUMBER = re.compile(rf"^{API}/IncomingPhoneNumbers/(?P<sid>PN\w+)\.json$")
RECORDING = re.compile(rf"^{API}/Recordings/(?P<sid>RE\w+)\.json$")
CALL = re.compile(rf"^{API}/Calls/(?P<sid>CA\w+)\.json$")
ENDED = {"completed", "busy", "no-answer", "failed", "canceled"}


def _wire_names(method) -> set[str]:
    """The form names an SDK request method sends: its arguments in Twilio's CamelCase
    (`from_` -> From, `async_amd_status_callback` -> AsyncAmdStatusCallback)."""
    names = inspect.signature(method).parameters
    return {"".join(part.capitalize() for part in n.rstrip("_").split("_")) for n in names if n != "self"}


def _in_range(form, name, low, high) -> bool:
    value = form.get(name)
    return value is None or (value.isdigit() and low <= int(value) <= high)


def _detection_refusal(form) -> str:
    """Why Twilio's answering-machine detection cannot work as asked ("" when it can): the values
    and ranges of Twilio's Answering Machine Detection guide, AsyncAmd only with a detection mode
    and a callback for its verdict (else warning 21262), the callback only with AsyncAmd, and no
    SendDigits (which turns detection off)."""
    mode, asynchronous = form.get("MachineDetection"), form.get("AsyncAmd")
    if mode is not None and mode not in ("Enable", "DetectMessageEnd"):
        return "MachineDetection must be Enable or DetectMessageEnd"
    if asynchronous is not None and asynchronous not in ("true", "false"):
        return "AsyncAmd must be true or false"
    if asynchronous == "true" and mode is None:
        return "AsyncAmd needs MachineDetection"
    if asynchronous == "true" and not form.get("AsyncAmdStatusCallback"):
        return "AsyncAmd needs an AsyncAmdStatusCallback for the result (21262)"
    if form.get("AsyncAmdStatusCallback") and asynchronous != "true":
        return "AsyncAmdStatusCallback is only called with AsyncAmd=true"
    if form.get("AsyncAmdStatusCallbackMethod", "POST") != "POST":
        return "AsyncAmdStatusCallbackMethod must be POST"
    if mode is not None and form.get("SendDigits"):
        return "SendDigits turns MachineDetection off"
    for name, low, high in [
        ("MachineDetectionTimeout", 3, 59),
        ("MachineDetectionSpeechThreshold", 1000, 6000),
        ("MachineDetectionSpeechEndThreshold", 500, 5000),
        ("MachineDetectionSilenceTimeout", 2000, 10000),
    ]:
        if not _in_range(form, name, low, high):
            return f"{name} must be between {low} and {high}"
    return ""


CREATE_CALL = _wire_names(CallList._create)
UPDATE_CALL = _wire_names(CallContext._update)
BUY_NUMBER = _wire_names(IncomingPhoneNumberList._create)


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

            def _authorised(self) -> bool:
                expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
                return self.headers.get("Authorization") == expected

            def _refused(self) -> bool:
                """Answer wrong credentials, or a failure the test asked for, as Twilio would."""
                if not self._authorised():
                    self._reply(
                        401,
                        {
                            "code": 20003,
                            "message": "Authenticate",
                            "status": 401,
                            "more_info": "https://www.twilio.com/docs/errors/20003",
                        },
                    )
                    return True
                if fake.fail_next_status or fake.always_fail_status:
                    status = fake.fail_next_status or fake.always_fail_status
                    fake.fail_next_status = None
                    self._reply(status, {"code": 20500, "message": "Internal Server Error", "status": status})
                    return True
                return False

            def _not_found(self):
                return self._reply(
                    404, {**TWILIO_NOT_FOUND, "message": TWILIO_NOT_FOUND["message"].format(path=self.path)}
                )

            def _unknown_parameters(self, form, known) -> bool:
                unknown = sorted(set(form) - known)
                if unknown:
                    self._reply(400, {**TWILIO_INVALID_PARAMETER, "message": f"Invalid parameter: {unknown[0]}"})
                return bool(unknown)

            def do_GET(self):  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                if url.path.startswith(API + "/"):
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    fake.requests.append((url.path, query))
                    if self._refused():
                        return
                    if found := AVAILABLE.match(url.path):
                        return self._reply(200, fake.available_page(found["country"], query))
                    return self._not_found()
                # Anything else is recording media (fetched with a plain authenticated GET).
                if not self._authorised() or not self.path.endswith(".mp3"):
                    self.send_response(401 if not self._authorised() else 404)
                    self.end_headers()
                    return
                data = b"ID3fake-mp3"
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_DELETE(self):  # noqa: N802 - http.server's naming
                fake.requests.append((self.path, {}))
                if self._refused():
                    return
                if found := INCOMING_NUMBER.match(self.path):
                    if fake.numbers.pop(found["sid"], None) is None:
                        return self._not_found()
                    fake.released.append(found["sid"])
                    return self._no_content()
                if found := RECORDING.match(self.path):
                    if found["sid"] in fake.deleted_recordings:
                        return self._not_found()
                    fake.deleted_recordings.append(found["sid"])
                    return self._no_content()
                return self._not_found()

            def _no_content(self):
                self.send_response(204)
                self.end_headers()

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                fake.requests.append((self.path, form))
                if self._refused():
                    return
                if self.path == f"{API}/Calls.json":
                    if refusal := _detection_refusal(form):
                        return self._reply(400, {**TWILIO_INVALID_PARAMETER, "message": refusal})
                    return self._unknown_parameters(form, CREATE_CALL) or self._create(form)
                if found := CALL.match(self.path):
                    return self._unknown_parameters(form, UPDATE_CALL) or self._update(found["sid"], form)
                if self.path == f"{API}/IncomingPhoneNumbers.json":
                    return self._unknown_parameters(form, BUY_NUMBER) or self._buy(form)
                return self._not_found()

            def _update(self, sid, form):
                """Realtime call modification: Status=completed ends a call that has not ended,
                Status=canceled one still queued or ringing (an answered call carries on); new
                instructions (Twiml or Url) only reach a call in progress."""
                call = fake.calls.get(sid)
                if call is None:
                    return self._not_found()
                status = call["status"]
                if form.get("Status") == "completed":
                    if status in ENDED:
                        return self._not_found()
                    fake.hangups.append(sid)
                    fake.end_call(sid, "completed" if status == "in-progress" else "canceled")
                elif form.get("Status") == "canceled":
                    if status in ("queued", "ringing"):
                        fake.end_call(sid, "canceled")
                elif "Twiml" in form or "Url" in form:
                    if status != "in-progress":
                        return self._reply(400, TWILIO_NOT_IN_PROGRESS)
                    if "Twiml" in form:
                        fake.redirects.append((sid, form["Twiml"]))
                        if sid in fake.played:  # the played call drops what it does and follows it
                            from telephony import simulator

                            simulator.request_update(sid, form["Twiml"])
                return self._reply(200, fake.resource(sid, call["to"], call["status"], call["from"]))

            def _buy(self, form):
                number = form.get("PhoneNumber", "")
                if number == UNAVAILABLE_NUMBER or any(n["phone_number"] == number for n in fake.numbers.values()):
                    return self._reply(
                        400,
                        {
                            "code": 21422,
                            "message": "PhoneNumber requested is not available",
                            "status": 400,
                            "more_info": "https://www.twilio.com/docs/errors/21422",
                        },
                    )
                sid = "PN" + uuid.uuid4().hex
                fake.numbers[sid] = {
                    "sid": sid,
                    "account_sid": ACCOUNT_SID,
                    "phone_number": number,
                    "friendly_name": number,
                    "voice_url": form.get("VoiceUrl", ""),
                    "voice_method": form.get("VoiceMethod", "POST"),
                    "status_callback": form.get("StatusCallback", ""),
                    "status_callback_method": form.get("StatusCallbackMethod", "POST"),
                    "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
                    "status": "in-use",
                    "api_version": "2010-04-01",
                    "uri": f"{API}/IncomingPhoneNumbers/{sid}.json",
                }
                return self._reply(201, fake.numbers[sid])

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
                fake.calls[sid] = {"to": form["To"], "from": form.get("From", ""), "status": "queued", "form": form}
                if fake.place_calls:
                    threading.Thread(target=fake._play, args=(sid, form), daemon=True).start()
                return self._reply(201, fake.resource(sid, form["To"], "queued", form.get("From", "")))

        self.calls: dict[str, dict] = {}  # by sid: to, from, status (Twilio's CallStatus), form
        self.hangups: list[str] = []
        self.redirects: list[tuple[str, str]] = []  # (call sid, TwiML it was given)
        self.played: dict = {}  # call sid -> the SimulatedCall playing its callee
        self.numbers: dict[str, dict] = {}  # bought and not released, by sid
        self.released: list[str] = []
        self.deleted_recordings: list[str] = []
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

    def available_page(self, country, query):
        """One page of local numbers, as Twilio lists them: fictional 555-01XX numbers in NANP
        countries (none in Twilio's magic area code 533), none elsewhere."""
        area = query.get("AreaCode", "")
        found = []
        if country in ("US", "CA") and area != NO_NUMBERS_AREA_CODE:
            area = area or "415"
            taken = {n["phone_number"] for n in self.numbers.values()}
            candidates = [f"+1{area}55501{i:02d}" for i in range(int(query.get("PageSize", 50)))]
            found = [
                {
                    "friendly_name": f"({area}) 555-01{n[-2:]}",
                    "phone_number": n,
                    "lata": "722",
                    "locality": "San Francisco" if area == "415" else "Springfield",
                    "rate_center": "SNFC CA01",
                    "latitude": "37.77",
                    "longitude": "-122.41",
                    "region": "CA" if country == "US" else "ON",
                    "postal_code": None,
                    "iso_country": country,
                    "address_requirements": "none",
                    "beta": False,
                    "capabilities": {"voice": True, "SMS": True, "MMS": True},
                }
                for n in candidates
                if n not in taken
            ]
        uri = f"{API}/AvailablePhoneNumbers/{country}/Local.json"
        return {
            "available_phone_numbers": found,
            "uri": uri,
            "end": len(found) - 1,
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": len(found),
            "previous_page_uri": None,
            "start": 0,
        }

    def numbers_bought(self):
        return [form for path, form in self.requests if path.endswith("/IncomingPhoneNumbers.json")]

    def set_status(self, sid, status):
        """What Twilio knows of a call now (its status callback may still be on its way)."""
        self.calls[sid]["status"] = status

    def end_call(self, sid, status):
        """The platform ended a call: a played one is told, as its carrier would be."""
        from telephony import simulator

        self.calls[sid]["status"] = status
        simulator.request_hangup(sid)

    def _play(self, sid, form):
        from django.db import connection

        from telephony.simulator import SimulatedCall

        fake = self

        class PlayedCall(SimulatedCall):
            """The simulated callee, with Twilio's record of the call kept up to date."""

            def status(self, call_status, **params):
                if fake.calls[sid]["status"] not in ENDED:
                    fake.calls[sid]["status"] = call_status
                super().status(call_status, **params)

        played = PlayedCall(
            sid=sid,
            to=form["To"],
            from_=form["From"],
            answer_url=form["Url"],
            status_url=form["StatusCallback"],
            time_limit=int(form.get("TimeLimit", 14400)),
            machine_detection=form.get("MachineDetection", ""),
            async_amd=form.get("AsyncAmd") == "true",
            amd_status_url=form.get("AsyncAmdStatusCallback", ""),
            signing_secret=AUTH_TOKEN,
        )
        self.played[sid] = played
        try:
            played.run()
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
