"""A fake carrier with fake callees, speaking Twilio's wire format to our own webhooks.

One RQ job plays one whole call, the way Twilio would: ring, then answer / no answer / busy /
voicemail / failure; fetch the answer URL; follow the TwiML it gets back (say, gather speech,
hang up); post each recognised reply to the gather action; and report status callbacks,
sometimes twice, as real carriers do. Every request is signed with Twilio's algorithm.

Callee behaviour is chosen from `SIMULATED_ODDS` by a random draw seeded with the call id.
Fictional numbers of the form +1 NXX 555-01XX (reserved for fiction) behave predictably, by their
last two digits, so demos and tests can ask for a given callee:

    00-19 interested      20-29 not interested   30-39 asks to be called later
    40-49 asks to stop    50-54 asks the price    55-59 asks for a person    60-69 voicemail
    70-79 no answer       80-89 busy              90-94 silent   95-99 carrier failure
"""

import logging
import math
import random
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import django_rq
import requests
from django.conf import settings
from twilio.request_validator import RequestValidator

logger = logging.getLogger(__name__)

FICTIONAL_NUMBER = re.compile(r"^\+1\d{3}5550(1\d\d)$")
WORDS_PER_SECOND = 2.5
MAX_TURNS = 30
HANGUP_KEY = "clozit:simulator:hangup:{sid}"
TRANSFER_KEY = "clozit:simulator:transfer:{sid}"
REDIRECT = "redirect:"
# How long the simulated colleague talks with a transferred callee.
TRANSFERRED_TALK_SECONDS = 30

PERSONA_ODDS = {
    "interested": 40,
    "not_interested": 20,
    "call_later": 15,
    "stop": 10,
    "curious": 8,
    "wants_person": 2,
    "silent": 5,
}

POSITIVE_ANSWERS = [
    "Yes, that sounds good.",
    "Sure, we have about twenty people on the team.",
    "Tuesday afternoon works for me.",
    "Our budget is around five hundred dollars a month.",
    "Yes, I'm the one who decides that.",
    "We use spreadsheets for it right now.",
]
LINES = {
    "not_interested": "No thanks, I'm not interested.",
    "call_later": "I'm in a meeting right now, can you call me back later?",
    "stop": "Please stop calling me and remove me from your list.",
    "curious": "Before that, how much does it cost?",
    "wants_person": "Can I speak to a real person, please?",
}


@dataclass
class Callee:
    fate: str  # answer, no_answer, busy, voicemail, failed
    persona: str = "interested"
    rng: random.Random = field(default_factory=random.Random)
    asked: bool = False

    def reply(self, heard: str) -> str:
        if self.persona == "silent":
            return ""
        if self.persona in ("not_interested", "call_later", "stop", "wants_person"):
            return LINES[self.persona]
        if self.persona == "curious" and not self.asked:
            self.asked = True
            return LINES["curious"]
        return self.rng.choice(POSITIVE_ANSWERS)


class TwimlRejected(Exception):
    """TwiML that Twilio would run only with a warning in its debugger. The simulated carrier
    refuses it outright: a warning on every call is a defect to fix, never noise to ignore."""


def _positive_int(value: str) -> bool:
    return value.isdigit() and int(value) > 0


def check_twiml(verb: ET.Element) -> None:
    """Refuse a verb's attributes the way Twilio's warnings do (https://www.twilio.com/docs/api/
    errors/<code>). Only <Gather>'s timing attributes are checked: the ones the platform sets."""
    if verb.tag != "Gather":
        return
    speech_timeout = verb.get("speechTimeout")
    if speech_timeout is not None and speech_timeout != "auto" and not _positive_int(speech_timeout):
        raise TwimlRejected(f"13327 Gather: Invalid speechTimeout value {speech_timeout!r}")
    if speech_timeout == "auto" and verb.get("speechModel") is not None:
        # "Use a positive integer for speechTimeout whenever you set speechModel on <Gather>."
        raise TwimlRejected(f"13335 Gather: speechTimeout auto cannot be used with model {verb.get('speechModel')}")
    timeout = verb.get("timeout")
    if timeout is not None and not _positive_int(timeout):
        raise TwimlRejected(f"13313 Gather: Invalid timeout value {timeout!r}")
    max_speech = verb.get("maxSpeechTime")
    if max_speech is not None and not (_positive_int(max_speech) and int(max_speech) <= 60):
        raise TwimlRejected(f"13328 Gather: Invalid maxSpeechTime value {max_speech!r}")


def _weighted(rng: random.Random, odds: dict) -> str:
    names = [name for name, weight in odds.items() if weight > 0]
    return rng.choices(names, weights=[odds[name] for name in names])[0]


def callee_for(*, sid: str, to: str) -> Callee:
    rng = random.Random(sid)
    match = FICTIONAL_NUMBER.match(to)
    if match:
        code = int(match.group(1)) - 100
        for upper, fate, persona in [
            (19, "answer", "interested"),
            (29, "answer", "not_interested"),
            (39, "answer", "call_later"),
            (49, "answer", "stop"),
            (54, "answer", "curious"),
            (59, "answer", "wants_person"),
            (69, "voicemail", ""),
            (79, "no_answer", ""),
            (89, "busy", ""),
            (94, "answer", "silent"),
            (99, "failed", ""),
        ]:
            if code <= upper:
                return Callee(fate=fate, persona=persona, rng=rng)
    fate = _weighted(rng, settings.SIMULATED_ODDS)
    persona = _weighted(rng, PERSONA_ODDS) if fate == "answer" else ""
    return Callee(fate=fate, persona=persona, rng=rng)


def speaking_seconds(text: str) -> float:
    return max(1.0, len(text.split()) / WORDS_PER_SECOND) if text else 0.0


def request_hangup(sid: str) -> None:
    django_rq.get_connection("simulator").set(HANGUP_KEY.format(sid=sid), 1, ex=3600)


def request_transfer(sid: str, to: str) -> None:
    django_rq.get_connection("simulator").set(TRANSFER_KEY.format(sid=sid), to, ex=3600)


class SimulatedCall:
    def __init__(
        self,
        *,
        sid,
        to,
        from_,
        answer_url,
        status_url,
        time_limit,
        detect_answering_machine,
        signing_secret=None,
        recording_url="",
    ):
        self.sid = sid
        self.to = to
        self.from_ = from_
        self.answer_url = answer_url
        self.status_url = status_url
        self.time_limit = time_limit
        self.detect_answering_machine = detect_answering_machine
        self.recording_url = recording_url
        self.connected_seconds = 0.0
        self.sequence = 0
        self.end_of_speech, self.no_speech = 1, 5  # the current <Gather>'s pauses, in seconds
        # The secret a real carrier would sign with: ours, or a fake Twilio's auth token in tests.
        self.validator = RequestValidator(signing_secret or settings.SIMULATED_SIGNING_SECRET)
        self.redis = django_rq.get_connection("simulator")

    # --- transport -------------------------------------------------------------
    def _post(self, url: str, params: dict) -> requests.Response | None:
        base = {
            "AccountSid": "ACsimulated",
            "CallSid": self.sid,
            "From": self.from_,
            "To": self.to,
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
        }
        body = {**base, **params}
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, body)}
        try:
            return requests.post(url, data=body, headers=headers, timeout=15)
        except requests.RequestException as exc:
            logger.warning("simulated carrier could not reach %s: %s", url, exc)
            return None

    def status(self, call_status: str, **params) -> None:
        self.sequence += 1
        body = {"CallStatus": call_status, "SequenceNumber": str(self.sequence), **params}
        self._post(self.status_url, body)
        final = call_status in ("completed", "busy", "no-answer", "failed", "canceled")
        if final and random.random() < settings.SIMULATED_DUPLICATE_EVENTS:
            self._post(self.status_url, body)  # carriers deliver at least once, sometimes twice

    # --- time ------------------------------------------------------------------
    def wait(self, seconds: float, *, connected: bool = True) -> None:
        if connected:
            self.connected_seconds += seconds
        if settings.SIMULATED_TIME_SCALE > 0:
            time.sleep(seconds * settings.SIMULATED_TIME_SCALE)

    def over_time(self) -> bool:
        return self.connected_seconds >= self.time_limit

    def hung_up_by_platform(self) -> bool:
        return bool(self.redis.get(HANGUP_KEY.format(sid=self.sid)))

    def transferred_by_platform(self) -> bool:
        return bool(self.redis.get(TRANSFER_KEY.format(sid=self.sid)))

    def talk_with_colleague(self) -> None:
        """A transferred callee talks with a person until the call's time limit at most."""
        self.wait(min(TRANSFERRED_TALK_SECONDS, max(self.time_limit - self.connected_seconds, 0)))

    # --- the call --------------------------------------------------------------
    def run(self) -> None:
        callee = callee_for(sid=self.sid, to=self.to)
        if callee.fate == "failed":
            self.status("failed", ErrorMessage="Number unreachable (simulated)", SipResponseCode="404")
            return
        self.status("ringing")
        if callee.fate in ("no_answer", "busy"):
            self.wait(callee.rng.uniform(3, 8) if callee.fate == "no_answer" else 1, connected=False)
            self.status("no-answer" if callee.fate == "no_answer" else "busy", CallDuration="0")
            return
        self.wait(callee.rng.uniform(2, 6), connected=False)
        answered_by = "human"
        if callee.fate == "voicemail":
            self.wait(8)  # the greeting plays before the beep
            answered_by = "machine_end_beep" if self.detect_answering_machine else "unknown"
        self.status("in-progress", AnsweredBy=answered_by)
        self.converse(callee, answered_by)
        duration = min(math.ceil(self.connected_seconds), self.time_limit)
        self.status("completed", CallDuration=str(duration), AnsweredBy=answered_by)
        if self.recording_url and duration > 0:
            # Like Twilio, the recording is announced after the call, by its own callback.
            recording_sid = "RE" + self.sid[2:]
            self._post(
                self.recording_url,
                {
                    "RecordingSid": recording_sid,
                    "RecordingStatus": "completed",
                    "RecordingDuration": str(duration),
                    "RecordingUrl": f"simulated://{recording_sid}?seconds={duration}",
                },
            )

    def run_inbound(self) -> None:
        """Play someone calling one of our numbers: Twilio asks the number's voice URL what to do."""
        caller = callee_for(sid=self.sid, to=self.from_)  # the caller behaves by their own number
        if caller.persona in ("", "stop"):
            caller.persona = "interested"
        response = self._post(self.answer_url, {"CallStatus": "ringing", "Direction": "inbound"})
        self.converse(caller, "human", response=response)
        duration = min(math.ceil(self.connected_seconds), self.time_limit)
        self.status("completed", CallDuration=str(duration), Direction="inbound")

    def converse(self, callee: Callee, answered_by: str, *, response=None) -> None:
        if response is None:
            response = self._post(self.answer_url, {"CallStatus": "in-progress", "AnsweredBy": answered_by})
        for _ in range(MAX_TURNS):
            if response is None or response.status_code != 200:
                return  # Twilio plays an application error and hangs up
            action, heard = self.follow(response.text)
            if self.transferred_by_platform():
                self.talk_with_colleague()
                return
            if action is None or self.over_time() or self.hung_up_by_platform():
                return
            if action.startswith(REDIRECT):  # Twilio fetches a <Redirect> at once, with no speech
                response = self._post(action[len(REDIRECT) :], {"CallStatus": "in-progress"})
                continue
            reply = callee.reply(heard) if answered_by == "human" else ""
            self.wait(speaking_seconds(reply) + (self.end_of_speech if reply else self.no_speech))
            if self.over_time() or self.hung_up_by_platform():
                return
            response = self._post(
                action, {"CallStatus": "in-progress", "SpeechResult": reply, "Confidence": "0.92" if reply else "0"}
            )

    def follow(self, twiml: str) -> tuple[str | None, str]:
        """Play the TwiML; return the gather action to post to (None when the call ends) and what was heard."""
        try:
            root = ET.fromstring(twiml)
        except ET.ParseError:
            logger.warning("simulated carrier got invalid TwiML: %r", twiml[:200])
            return None, ""
        heard = []
        for verb in root:
            if verb.tag == "Say":
                heard.append(verb.text or "")
                self.wait(speaking_seconds(verb.text or ""))
            elif verb.tag == "Pause":
                self.wait(float(verb.get("length", "1")))
            elif verb.tag == "Gather":
                check_twiml(verb)
                # Twilio posts the speech once the callee has been silent for speechTimeout
                # seconds ("auto": at the first pause), or nothing after `timeout` seconds.
                speech_timeout = verb.get("speechTimeout", "auto")
                self.end_of_speech = int(speech_timeout) if speech_timeout.isdigit() else 1
                self.no_speech = int(verb.get("timeout", "5"))
                for inner in verb:
                    if inner.tag == "Say":
                        heard.append(inner.text or "")
                        self.wait(speaking_seconds(inner.text or ""))
                return verb.get("action"), " ".join(heard)
            elif verb.tag == "Hangup":
                return None, " ".join(heard)
            elif verb.tag == "Redirect":
                return REDIRECT + (verb.text or ""), " ".join(heard)
            elif verb.tag == "Dial":
                self.talk_with_colleague()
                return None, " ".join(heard)
            if self.over_time():
                return None, ""
        return None, " ".join(heard)


def run_call(
    *, sid, to, from_, answer_url, status_url, time_limit, detect_answering_machine=True, recording_url=""
) -> None:
    """RQ job: play one simulated call from ringing to hang-up."""
    SimulatedCall(
        recording_url=recording_url,
        sid=sid,
        to=to,
        from_=from_,
        answer_url=answer_url,
        status_url=status_url,
        time_limit=time_limit,
        detect_answering_machine=detect_answering_machine,
    ).run()


def run_inbound_call(*, sid, to, from_, answer_url, status_url, time_limit=3600) -> None:
    """RQ job: play one simulated inbound call to one of our numbers."""
    SimulatedCall(
        sid=sid,
        to=to,
        from_=from_,
        answer_url=answer_url,
        status_url=status_url,
        time_limit=time_limit,
        detect_answering_machine=False,
    ).run_inbound()
