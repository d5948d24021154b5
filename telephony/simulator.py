"""A fake carrier with fake callees, speaking Twilio's wire format to our own webhooks.

One RQ job plays one whole call, the way Twilio would: ring, then answer / no answer / busy /
voicemail / failure; fetch the answer URL; follow the TwiML it gets back (say, gather speech,
hang up); post each recognised reply to the gather action; and report status callbacks,
sometimes twice, as real carriers do. Every request is signed with Twilio's algorithm.

Answering-machine detection behaves as Twilio's does in each mode. Without it the answer URL is
fetched at once and carries no AnsweredBy. `Enable` reports `machine_start` as soon as a machine
is recognised, while its greeting still plays; `DetectMessageEnd` reports `machine_end_beep`
after the greeting. Synchronously the answer URL waits for the verdict (a person hears silence
meanwhile); with `AsyncAmd` the answer URL is fetched at once and the verdict is posted to the
AsyncAmdStatusCallback when it is known. The platform may then redirect the live call with new
TwiML (request_update), which the carrier follows at once, dropping what it was doing. A machine
records what is said after its beep (`SimulatedCall.recorded`); everything the callee heard is in
`SimulatedCall.heard`, with the second of the call it started at.

Callee behaviour is chosen from `SIMULATED_ODDS` by a random draw seeded with the call id.
Fictional numbers of the form +1 NXX 555-01XX (reserved for fiction) behave predictably, by their
last two digits, so demos and tests can ask for a given callee:

    00-09 interested      10-14 interested, asks a question of their own before the 2nd answer
          (on a relay call: 05-07 speak over its first reply after the greeting, 08-09 press a key at turn 2)
    15-19 interested, keeps the 2nd answer to themselves ("I'd rather not say")
    20-29 not interested  30-39 asks to be called later   40-49 asks to stop
    50-54 asks the price, then answers                    55-59 asks for a person
    60-69 voicemail       70-79 no answer   80-89 busy    90-94 silent   95-99 carrier failure

Callees answer the question they last heard, the way a person would (`ANSWERS`: a few plausible
answers per kind of question, picked by the question's words), in English whatever the agent's
language. A callee drawn at random now and then asks a question of their own or declines one
answer, and on a relay call (simulator_relay.py) speaks over the agent or presses a key. The
words, like the fate, are drawn from the call id's seed: a call always goes the same
way for the same id and the same agent.

Why one module of about 600 lines: it is one fake carrier, and the call it plays is one script
from the first ring to the last status callback; split, the carrier's timing would be scattered.
"""

import logging
import math
import random
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import requests
from django.conf import settings
from twilio.request_validator import RequestValidator

from .simulator_line import (  # noqa: F401 - request_hangup, request_update, call_state: the carrier's controls
    GREETING,
    HANGUP_KEY,
    STATE_KEY,
    UPDATE_KEY,
    Redirected,
    _connection,
    call_state,
    request_hangup,
    request_update,
    speaking_seconds,
)
from .simulator_relay import RelayRejected, RelaySession, check_connect

logger = logging.getLogger(__name__)

FICTIONAL_NUMBER = re.compile(r"^\+1\d{3}5550(1\d\d)$")
MAX_TURNS = 30
REDIRECT = "redirect:"
CONNECT = "connect:"  # a <Connect><ConversationRelay>: the session is played by simulator_relay
# How long the simulated colleague talks with a transferred callee.
TRANSFERRED_TALK_SECONDS = 30
# Answering-machine detection, in seconds after the answer: a person's short "hello?" followed by
# silence; a machine's greeting running past Twilio's speech threshold; the greeting, then the beep.
HUMAN_DETECTED_AFTER = 2.5
MACHINE_DETECTED_AFTER = 4.0
GREETING_SECONDS = 12.0
MACHINE_DETECTION_MODES = ("", "Enable", "DetectMessageEnd")

PERSONA_ODDS = {
    "interested": 40,
    "not_interested": 20,
    "call_later": 15,
    "stop": 10,
    "curious": 8,
    "wants_person": 2,
    "silent": 5,
}
# A callee drawn as "interested" (not a fictional number) now and then asks a question of their
# own before an answer, or keeps an answer to themselves: at most once each per call.
ASK_BACK_CHANCE = 0.12
DECLINE_CHANCE = 0.08

# What a person says to the agent's question, by the question's words: the first rule whose
# pattern the question matches gives the answers one is picked from. Every answer is an answer
# (no refusal or request the engines act on: see the tests).
ANSWERS: list[tuple[re.Pattern, list[str]]] = [
    (
        re.compile(r"still there|can you hear|are you there"),
        ["Yes, I'm here.", "Yes, sorry, go ahead.", "I'm still here."],
    ),
    (
        re.compile(r"\b(mornings?|afternoons?|evenings?)\b"),
        ["Mornings are better for me.", "Afternoons suit me best.", "Late afternoon, if possible."],
    ),
    (
        re.compile(r"\b(when|what time|which day|what day|good time|best time|available|convenient)\b"),
        ["Tuesday afternoon works for me.", "Weekdays after three work for me.", "Thursday morning would be best."],
    ),
    (
        re.compile(r"\bhow many\b|\b(team|staff|employees|colleagues)\b"),
        ["About twenty people.", "There are twelve of us.", "Just five at the moment."],
    ),
    (
        re.compile(r"\b(bill|bills|budget|spend|spending|pay|paying|cost|costs|price|how much)\b"),
        ["About 180 dollars a month.", "Around five hundred dollars a month.", "Maybe two hundred a month, roughly."],
    ),
    (
        re.compile(r"\b(own|rent|renting)\b"),
        ["Yes, we own it.", "Yes, I've owned it for ten years.", "We rent, actually."],
    ),
    (
        re.compile(r"\b(decide|decides|decision|decisions|in charge|responsible|handles?|look after|the person)\b"),
        ["Yes, that's me.", "Yes, I look after that.", "My partner and I decide together."],
    ),
    (
        re.compile(r"\b(use|using|currently|at the moment|right now|system|software|tool)\b"),
        ["We use spreadsheets right now.", "A paper diary, honestly.", "An old booking system we don't like much."],
    ),
    (
        re.compile(r"\b(email|e-mail|address)\b"),
        ["The one you have on file is fine.", "Use my work email, the one on your list."],
    ),
    (
        re.compile(r"^(would|will|do|does|did|are|is|can|could|have|has|should|may)\b|\b(interested|like to)\b"),
        ["Yes, please.", "Yes, that would be great.", "Sure, why not.", "Yes, I think so."],
    ),
]
OPEN_ANSWERS = ["Hmm, I'd say yes, mostly.", "Good question. Probably the first option.", "I'm not sure, honestly."]
# Said to a line that asks nothing (an answer the agent gave, a statement).
ACKNOWLEDGEMENTS = ["Okay.", "Alright, thanks.", "I see."]
# A person's own questions: some an agent's FAQ or knowledge base answers, some nobody can.
QUESTIONS_BACK = [
    "Sorry, who am I speaking with?",
    "Where are you based?",
    "How did you get my number?",
    "Is there a contract?",
]
DECLINES = ["I'd rather not say.", "I'd prefer to keep that to myself."]
PRICE_QUESTION = "Before that, how much does it cost?"
LINES = {
    "not_interested": ["No thanks, I'm not interested.", "Sorry, I'm not interested.", "Thanks, but it's not for me."],
    "call_later": [
        "I'm in a meeting right now, can you call me back later?",
        "This is a bad time, can you call me tomorrow?",
        "I'm busy right now, please call me back later.",
    ],
    "stop": [
        "Please stop calling me and remove me from your list.",
        "Take me off your list, please.",
        "Don't call this number again.",
    ],
    "wants_person": ["Can I speak to a real person, please?", "I'd like to talk to a human, please."],
}
_SENTENCE = re.compile(r"[^.!?]*[.!?]+|[^.!?]+$")


def question_in(heard: str) -> str:
    """The last question the callee heard (lower case), or "" when nothing was asked."""
    questions = [part.strip() for part in _SENTENCE.findall(heard or "") if part.strip().endswith("?")]
    return questions[-1].lower() if questions else ""


def answer_to(question: str, rng: random.Random) -> str:
    """A plausible answer to `question`, by its words (see ANSWERS)."""
    for pattern, answers in ANSWERS:
        if pattern.search(question):
            return rng.choice(answers)
    return rng.choice(OPEN_ANSWERS)


@dataclass
class Callee:
    """Someone who picks up (or not). `persona` says how the conversation goes; the words are
    drawn from `rng`, seeded with the call id, so one call always goes the same way."""

    fate: str  # answer, no_answer, busy, voicemail, failed
    persona: str = "interested"
    rng: random.Random = field(default_factory=random.Random)
    asked: bool = False
    # Interested callees: "asks_back" asks a question of their own before the second answer,
    # "declines" keeps the second answer to themselves; "random" may do either, by chance.
    manner: str = "plain"
    answers: int = 0
    asked_back: bool = False
    declined: bool = False
    # On a relay call: "interrupts" speaks over the agent's second reply, "presses" presses a key
    # at the second turn, "random" may do either now and then (simulator_relay.py).
    relay_manner: str = "plain"

    def reply(self, heard: str) -> str:
        if self.persona == "silent":
            return ""
        if self.persona in LINES:
            return self.rng.choice(LINES[self.persona])
        if self.persona == "curious" and not self.asked:
            self.asked = True
            return PRICE_QUESTION
        question = question_in(heard)
        if not question:
            return self.rng.choice(ACKNOWLEDGEMENTS)
        if not self.asked_back and self._now("asks_back", ASK_BACK_CHANCE):
            self.asked_back = True
            return self.rng.choice(QUESTIONS_BACK)
        declines = not self.declined and self._now("declines", DECLINE_CHANCE)
        self.answers += 1
        if declines:
            self.declined = True
            return self.rng.choice(DECLINES)
        return answer_to(question, self.rng)

    def _now(self, manner: str, chance: float) -> bool:
        """Whether this callee does `manner` now: a fictional number's callee at its second
        answer, a randomly drawn one by chance."""
        if self.manner == manner:
            return self.answers == 1
        return self.manner == "random" and self.rng.random() < chance


class TwimlRejected(Exception):
    """TwiML that Twilio would run only with a warning in its debugger. The simulated carrier
    refuses it outright: a warning on every call is a defect to fix, never noise to ignore."""


def _positive_int(value: str) -> bool:
    return value.isdigit() and int(value) > 0


def check_twiml(verb: ET.Element) -> None:
    """Refuse a verb's attributes the way Twilio's warnings do (https://www.twilio.com/docs/api/
    errors/<code>). <Gather>'s timing attributes are checked (the ones the platform sets), and a
    <Connect> to ConversationRelay whole (simulator_relay.check_connect)."""
    if verb.tag == "Connect":
        try:
            check_connect(verb)
        except RelayRejected as exc:
            raise TwimlRejected(str(exc)) from exc
        return
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
        manner = "asks_back" if 10 <= code <= 14 else "declines" if 15 <= code <= 19 else "plain"
        relay_manner = "interrupts" if 5 <= code <= 7 else "presses" if 8 <= code <= 9 else "plain"
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
                return Callee(fate=fate, persona=persona, rng=rng, manner=manner, relay_manner=relay_manner)
    fate = _weighted(rng, settings.SIMULATED_ODDS)
    persona = _weighted(rng, PERSONA_ODDS) if fate == "answer" else ""
    return Callee(fate=fate, persona=persona, rng=rng, manner="random", relay_manner="random")


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
        machine_detection="",
        async_amd=False,
        amd_status_url="",
        signing_secret=None,
        recording_url="",
    ):
        if machine_detection not in MACHINE_DETECTION_MODES:
            raise ValueError(f"unknown MachineDetection {machine_detection!r}")
        if async_amd and not (machine_detection and amd_status_url):
            raise ValueError("AsyncAmd needs MachineDetection and an AsyncAmdStatusCallback")
        self.sid = sid
        self.to = to
        self.from_ = from_
        self.answer_url = answer_url
        self.status_url = status_url
        self.time_limit = time_limit
        self.machine_detection = machine_detection
        self.async_amd = async_amd
        self.amd_status_url = amd_status_url
        self.recording_url = recording_url
        self.connected_seconds = 0.0
        self.sequence = 0
        self.end_of_speech, self.no_speech = 1, 5  # the current <Gather>'s pauses, in seconds
        self.beep_at: float | None = None  # a machine's: when its greeting ends and it records
        self.verdict = ""  # the detection's AnsweredBy, once known
        self.pending_verdict: tuple[float, str] | None = None  # asynchronous: (when, AnsweredBy)
        self.heard: list[tuple[float, str]] = []  # (second of the call, what the callee heard)
        self.connect_verb: ET.Element | None = None  # the <Connect> being played
        self.relay_session = None  # the last ConversationRelay session (simulator_relay.RelaySession)
        self.recorded_words: list[str] = []
        # The secret a real carrier would sign with: ours, or a fake Twilio's auth token in tests.
        self.validator = RequestValidator(signing_secret or settings.SIMULATED_SIGNING_SECRET)
        self.redis = _connection()

    @property
    def recorded(self) -> str:
        """What an answering machine recorded: the words said after its beep."""
        return " ".join(self.recorded_words)

    # --- transport -------------------------------------------------------------
    def _post(self, url: str, params: dict, *, call: bool = True) -> requests.Response | None:
        base = {"AccountSid": "ACsimulated", "CallSid": self.sid}
        if call:  # every voice and status request describes the call; the AMD callback does not
            base.update(From=self.from_, To=self.to, Direction="outbound-api", ApiVersion="2010-04-01")
        body = {**base, **params}
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, body)}
        try:
            return requests.post(url, data=body, headers=headers, timeout=15)
        except requests.RequestException as exc:
            logger.warning("simulated carrier could not reach %s: %s", url, exc)
            return None

    def status(self, call_status: str, **params) -> None:
        self.redis.set(STATE_KEY.format(sid=self.sid), call_status, ex=6 * 3600)
        self.sequence += 1
        body = {"CallStatus": call_status, "SequenceNumber": str(self.sequence), **params}
        self._post(self.status_url, body)
        final = call_status in ("completed", "busy", "no-answer", "failed", "canceled")
        if final and random.random() < settings.SIMULATED_DUPLICATE_EVENTS:
            self._post(self.status_url, body)  # carriers deliver at least once, sometimes twice

    # --- time ------------------------------------------------------------------
    def _advance(self, seconds: float) -> None:
        self.connected_seconds += max(seconds, 0)
        if settings.SIMULATED_TIME_SCALE > 0 and seconds > 0:
            time.sleep(seconds * settings.SIMULATED_TIME_SCALE)

    def wait(self, seconds: float, *, connected: bool = True) -> None:
        """Let time pass. On a connected call, an asynchronous detection verdict falling due is
        posted then, and new TwiML from the platform interrupts the wait (Redirected)."""
        if not connected:
            if settings.SIMULATED_TIME_SCALE > 0:
                time.sleep(seconds * settings.SIMULATED_TIME_SCALE)
            return
        end = self.connected_seconds + seconds
        if self.pending_verdict is not None and self.pending_verdict[0] <= end:
            at, answered_by = self.pending_verdict
            self.pending_verdict = None
            self._advance(at - self.connected_seconds)
            self.verdict = answered_by
            self._post(
                self.amd_status_url,
                {"AnsweredBy": answered_by, "MachineDetectionDuration": str(int(at * 1000))},
                call=False,
            )
            self._follow_updates()
        self._advance(end - self.connected_seconds)
        self._follow_updates()

    def _follow_updates(self) -> None:
        key = UPDATE_KEY.format(sid=self.sid)
        twiml, _ = self.redis.pipeline().get(key).delete(key).execute()  # taken once (GETDEL needs Redis 6.2)
        if twiml:
            raise Redirected(twiml.decode())

    def over_time(self) -> bool:
        return self.connected_seconds >= self.time_limit

    def hung_up_by_platform(self) -> bool:
        return bool(self.redis.get(HANGUP_KEY.format(sid=self.sid)))

    def talk_with_colleague(self) -> None:
        """A transferred callee talks with a person until the call's time limit at most."""
        self.wait(min(TRANSFERRED_TALK_SECONDS, max(self.time_limit - self.connected_seconds, 0)))

    def say(self, text: str) -> None:
        """The callee hears `text`; a machine records the words spoken after its beep."""
        start = self.connected_seconds
        self.heard.append((start, text))
        try:
            self.wait(speaking_seconds(text))
        finally:  # interrupted or not: what was said by now was said
            words = text.split()
            per_word = speaking_seconds(text) / len(words) if words else 0
            for n, word in enumerate(words):
                spoken_at = start + n * per_word
                if spoken_at >= self.connected_seconds:
                    break
                if self.beep_at is not None and spoken_at >= self.beep_at:
                    self.recorded_words.append(word)

    # --- the call --------------------------------------------------------------
    def run(self) -> None:
        callee = callee_for(sid=self.sid, to=self.to)
        if callee.fate == "failed":
            self.status("failed", ErrorMessage="Number unreachable (simulated)", SipResponseCode="404")
            return
        self.status("ringing")
        if callee.fate in ("no_answer", "busy"):
            self.wait(callee.rng.uniform(3, 8) if callee.fate == "no_answer" else 1, connected=False)
            if callee.fate == "no_answer":
                self.status("no-answer", CallDuration="0", SipResponseCode="487")
            else:
                self.status("busy", CallDuration="0", SipResponseCode="486")
            return
        self.wait(callee.rng.uniform(2, 6), connected=False)
        machine = callee.fate == "voicemail"
        if machine:
            self.beep_at = GREETING_SECONDS
        self.status("in-progress")
        answer = {}
        if self.machine_detection:
            if not machine:
                verdict = (HUMAN_DETECTED_AFTER, "human")
            elif self.machine_detection == "Enable":
                verdict = (MACHINE_DETECTED_AFTER, "machine_start")
            else:
                verdict = (GREETING_SECONDS, "machine_end_beep")
            if self.async_amd:
                self.pending_verdict = verdict  # posted when its time comes, the call going on
            else:
                self.wait(verdict[0])  # the answer URL waits for the verdict, the line silent
                self.verdict = verdict[1]
                answer = {"AnsweredBy": verdict[1]}
        self.converse(callee, human=not machine, answer=answer)
        duration = min(math.ceil(self.connected_seconds), self.time_limit)
        self.status("completed", CallDuration=str(duration), **({"AnsweredBy": self.verdict} if self.verdict else {}))
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
        self.redis.set(STATE_KEY.format(sid=self.sid), "in-progress", ex=6 * 3600)
        response = self._post(self.answer_url, {"CallStatus": "ringing", "Direction": "inbound"})
        self.converse(caller, human=True, response=response)
        duration = min(math.ceil(self.connected_seconds), self.time_limit)
        self.status("completed", CallDuration=str(duration), Direction="inbound")

    @staticmethod
    def _twiml_of(response) -> str | None:
        if response is None or response.status_code != 200:
            return None  # Twilio plays an application error and hangs up
        return response.text

    def converse(self, callee: Callee, *, human: bool, answer=None, response=None) -> None:
        if response is None:
            response = self._post(self.answer_url, {"CallStatus": "in-progress", **(answer or {})})
        twiml = self._twiml_of(response)
        for _ in range(MAX_TURNS):
            if twiml is None:
                return
            try:
                twiml = self._play(callee, twiml, human=human)
            except Redirected as redirected:
                twiml = redirected.twiml
            if self.over_time() or self.hung_up_by_platform():
                return

    def _play(self, callee: Callee, twiml: str, *, human: bool) -> str | None:
        """Follow one TwiML document; the next one to follow, or None when the call ends."""
        action, heard = self.follow(twiml)
        if action is None or self.over_time() or self.hung_up_by_platform():
            return None
        if action == CONNECT:  # the conversation moves to a relay socket until the session ends
            self.relay_session = RelaySession(self, callee, self.connect_verb, human=human, heard=heard)
            return self.relay_session.run()
        if action.startswith(REDIRECT):  # Twilio fetches a <Redirect> at once, with no speech
            return self._twiml_of(self._post(action[len(REDIRECT) :], {"CallStatus": "in-progress"}))
        if human:
            reply = callee.reply(heard)
            pause = speaking_seconds(reply) + (self.end_of_speech if reply else self.no_speech)
        elif self.beep_at is not None and self.connected_seconds < self.beep_at:
            # The gather hears the greeting out, then waits its speechTimeout of silence: by then
            # DetectMessageEnd has reported the greeting's end.
            reply = GREETING
            pause = self.beep_at - self.connected_seconds + self.end_of_speech
        else:
            reply, pause = "", self.no_speech  # after the beep a machine only records
        self.wait(pause)
        if self.over_time() or self.hung_up_by_platform():
            return None
        response = self._post(
            action, {"CallStatus": "in-progress", "SpeechResult": reply, "Confidence": "0.92" if reply else "0"}
        )
        return self._twiml_of(response)

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
                self.say(verb.text or "")
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
                        self.say(inner.text or "")
                return verb.get("action"), " ".join(heard)
            elif verb.tag == "Hangup":
                return None, " ".join(heard)
            elif verb.tag == "Redirect":
                return REDIRECT + (verb.text or ""), " ".join(heard)
            elif verb.tag == "Dial":
                self.talk_with_colleague()
                return None, " ".join(heard)
            elif verb.tag == "Connect":
                check_twiml(verb)
                self.connect_verb = verb
                return CONNECT, " ".join(heard)
            if self.over_time():
                return None, ""
        return None, " ".join(heard)


def run_call(
    *,
    sid,
    to,
    from_,
    answer_url,
    status_url,
    time_limit=3600,
    inbound=False,
    machine_detection="",
    async_amd=False,
    amd_status_url="",
    recording_url="",
) -> None:
    """RQ job: play one simulated call from ringing to hang-up: one we placed, or with `inbound`
    one a fake caller places to one of our numbers (`to`)."""
    call = SimulatedCall(
        recording_url=recording_url,
        sid=sid,
        to=to,
        from_=from_,
        answer_url=answer_url,
        status_url=status_url,
        time_limit=time_limit,
        machine_detection=machine_detection,
        async_amd=async_amd,
        amd_status_url=amd_status_url,
    )
    if inbound:
        call.run_inbound()
    else:
        call.run()
