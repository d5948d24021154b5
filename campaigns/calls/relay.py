"""A call's conversation over a ConversationRelay socket (`telephony.relay.RelaySession`).

The carrier hears the callee, decides when they have finished and speaks our words; this session
answers each prompt by streaming the engine's reply as it comes. It keeps the Gather path's rules
(campaigns.calls): a turn is claimed in one short transaction (the callee's words recorded, a
`thinking` mark with a token), the engine runs with no transaction open and no row locked, and its
answer is applied in a second short transaction only if the mark is still this reply's and the
call still live. Every database step of a session runs in order (what the callee heard of an
interrupted line is applied after that line), on a few threads all the sessions of a process
share: database connections grow with those threads, not with the calls.

A reply that ends the call stores its ending on the call (`engine_state["handoff"]`:
{"then": "hangup"|"transfer", "say": ..., "transfer_to": ...}) before the socket's `end` is sent;
the carrier's action callback (services.call_relay_ended) then says the last words and hangs up or
transfers. Words known before anything was streamed (a stop phrase, the script's goodbye, key 9)
are left for that callback to say; words already streamed are given time to be heard first.

Nothing here ends or bills a call: the carrier's status callback does, through call_finish.
"""

import asyncio
import contextlib
import copy
import logging
import queue
import threading
import time
from concurrent.futures import Executor, Future

from django.conf import settings
from django.db import close_old_connections, connections, transaction

from telephony.providers.base import AgentStep, TurnInput
from telephony.relay import RelayEnd

from ..conversation import knowledge
from ..conversation.engine import Reply, engine_for, wording
from ..models import Agent, Call, CallTurn, KnowledgePassage
from .services import (
    _add_turn,
    _apply_reply,
    _Claim,
    _locked_call,
    _turn_apply,
    _turn_claim,
)

logger = logging.getLogger(__name__)

# How fast the carrier speaks (words per second), to let streamed last words be heard before the
# session ends; never waited longer than SPEAKING_CAP_SECONDS.
SPEAKING_WORDS_PER_SECOND = 2.5
SPEAKING_CAP_SECONDS = 15.0
# Threads (each with its database connection) for the database steps of all the relay sessions
# of a process. A step is a short transaction (a few milliseconds); with one thread and one
# connection per call, 100 live calls took 100 connections, PostgreSQL's default limit.
DATABASE_THREADS = 8


class _Threads:
    """Threads taking jobs from one queue, started as work comes (up to DATABASE_THREADS), each
    closing its database connections when it stops."""

    def __init__(self):
        self.lock = threading.Lock()
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = 0
        self.idle = 0

    def put(self, job) -> None:
        with self.lock:
            self.jobs.put(job)
            if self.idle == 0 and self.threads < DATABASE_THREADS:
                self.threads += 1
                threading.Thread(target=self._work, name="relay-db", daemon=True).start()

    def stop(self) -> None:
        """Each thread stops once the work queued before now is done."""
        with self.lock:
            for _ in range(self.threads):
                self.jobs.put(None)

    def _work(self) -> None:
        try:
            while True:
                with self.lock:
                    self.idle += 1
                job = self.jobs.get()
                with self.lock:
                    self.idle -= 1
                if job is None:
                    return
                job()
        finally:
            connections.close_all()


class _DatabaseThreads(Executor):
    """The executor of every relay session's steps in this process: threads made when sessions
    open, let go (with their connections) when the last one closes. Used from the event loop."""

    def __init__(self):
        self.current: _Threads | None = None
        self.sessions = 0

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()

        def job():
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    future.set_exception(exc)

        if self.current is None:
            self.current = _Threads()
        self.current.put(job)
        return future

    def opened(self) -> None:
        self.sessions += 1

    def closed(self) -> None:
        self.sessions -= 1
        if self.sessions == 0 and self.current is not None:
            self.current.stop()
            self.current = None


_threads = _DatabaseThreads()  # touched only from the event loop's thread


def speaking_seconds(text: str) -> float:
    return min(len(text.split()) / SPEAKING_WORDS_PER_SECOND, SPEAKING_CAP_SECONDS)


async def relay_session_open(*, provider: str, call_id: int, handshake) -> "CallRelaySession | None":
    """The conversation of a live, answered call whose agent talks in real time; None otherwise
    (the socket is then refused)."""
    session = CallRelaySession(provider=provider, call_id=call_id)
    if not await session.run(session._open):
        await session.shut()
        return None
    return session


class CallRelaySession:
    def __init__(self, *, provider: str, call_id: int):
        self.provider = provider
        self.call_id = call_id
        self.last_step: asyncio.Future | None = None
        self.open = True
        _threads.opened()
        self.has_knowledge = False
        self.language = "en-US"
        self.last_said = ""
        self.claim: _Claim | None = None  # the reply being thought about, if any
        self.latency_turn: int | None = None  # the sequence of the agent line the last reply said
        self.started = 0.0
        self.last_piece_at: float | None = None
        self.model_first_token_ms: float | None = None

    # --- the session's database steps -----------------------------------------------------------
    async def run(self, function, *args, **kwargs):
        """`function` on a database thread, with a connection as a request has one, once the
        session's previous step is over (a session's steps run one at a time, in order).

        Once asked for, it runs to the end even if the reply awaiting it is cancelled (the callee
        spoke again): a write is never half-wanted."""

        def call():
            close_old_connections()
            try:
                return function(*args, **kwargs)
            finally:
                close_old_connections()

        loop = asyncio.get_running_loop()
        previous = self.last_step

        async def in_turn():
            if previous is not None:
                await asyncio.wait([previous])
            return await loop.run_in_executor(_threads, call)

        self.last_step = step = asyncio.ensure_future(in_turn())
        return await asyncio.shield(step)

    async def shut(self) -> None:
        if not self.open:
            return
        self.open = False
        if self.last_step is not None:
            await asyncio.wait([self.last_step])
        _threads.closed()

    def _open(self) -> bool:
        call = Call.objects.select_related("agent").filter(pk=self.call_id, provider=self.provider).first()
        if call is None or call.agent is None or not call.is_live or call.answered_at is None:
            return False
        state = call.engine_state
        if call.agent.transport != Agent.Transport.RELAY or state.get("voicemail"):
            return False
        if (state.get("last_step") or {}).get("then") not in ("relay", "listen"):
            return False
        self.language = call.agent.language
        # The words the callee last heard from the agent (first its opening, as the greeting).
        agent_lines = call.turns.filter(speaker=CallTurn.Speaker.AGENT).order_by("-sequence")
        self.last_said = agent_lines.values_list("text", flat=True).first() or ""
        self.has_knowledge = KnowledgePassage.objects.filter(agent=call.agent).exists()
        return True

    # --- RelaySession ---------------------------------------------------------------------------
    async def setup(self, frame: dict) -> None:
        carrier_call = frame.get("callSid") or frame.get("callControlId") or ""
        logger.info("relay session %s open for call %s (%s)", frame.get("sessionId"), self.call_id, carrier_call)

    def reply(self, prompt: str):
        # The callee's words are recorded (the turn claimed) as they arrive, even when the reply
        # is cancelled before it starts (they spoke again at once).
        self.started = time.monotonic()
        turn = TurnInput(call_id=self.call_id, turn=0, speech=prompt.strip())
        return self._said(self._reply(turn, asyncio.ensure_future(self.run(_turn_claim, turn, relay=True))))

    def silence_after(self) -> float:
        """Seconds until the callee's silence is answered (by `reply("")`, the engine's reply to
        silence, as on a turn-at-a-time call): the agent's last words' speaking time, then the
        pause a person is given to answer."""
        return len(self.last_said.split()) / SPEAKING_WORDS_PER_SECOND + float(settings.RELAY_SILENCE_SECONDS)

    async def _said(self, pieces):
        """`pieces`, passed on; what they said is kept as the agent's last words."""
        said: list[str] = []
        try:
            async for piece in pieces:
                if isinstance(piece, str):
                    said.append(piece)
                yield piece
        finally:
            await pieces.aclose()
            if said:
                self.last_said = "".join(said)

    def dtmf(self, digit: str):
        self.started = time.monotonic()
        return self._key(asyncio.ensure_future(self.run(self._key_apply, digit)))

    async def interrupted(self, *, heard: str, after_ms: int | None) -> None:
        self.last_said = heard
        await self.run(self._interrupted, heard)

    async def reply_finished(self, *, first_frame_ms: float | None, completed: bool) -> None:
        if self.latency_turn is None:
            return
        total = (self.last_piece_at - self.started) * 1000 if self.last_piece_at is not None else None
        await self.run(self._latency, self.latency_turn, first_frame_ms, self.model_first_token_ms, total)
        self.latency_turn = None

    async def closed(self) -> None:
        """The socket is gone. Nothing is ended or billed here (the carrier's callbacks do that);
        only a reply cut off mid-thought is released."""
        try:
            if self.claim is not None:
                await self.run(self._cut_short, self.claim, "")
        finally:
            await self.shut()

    # --- a reply ----------------------------------------------------------------------------------
    async def _reply(self, turn: TurnInput, claiming: asyncio.Future):
        self.latency_turn, self.last_piece_at, self.model_first_token_ms = None, None, None
        try:
            claimed = await asyncio.shield(claiming)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self._release(await claiming)
            raise
        if isinstance(claimed, AgentStep):  # answered at once (an engine without a model) or over
            async for piece in self._say_step(claimed):
                yield piece
            return
        claim: _Claim = claimed
        self.claim = claim
        said: list[str] = []
        reply: Reply | None = None
        stream = None
        try:
            claim.ctx.deadline = self.started + float(settings.TURN_DEADLINE_SECONDS)
            if self.has_knowledge and knowledge.content_terms(turn.speech, language=self.language):
                left = claim.ctx.deadline - time.monotonic()
                claim.ctx.knowledge = await self.run(knowledge.passages_for, claim.ctx.agent, turn.speech, within=left)
            stream = claim.engine.respond_stream(claim.ctx, turn.speech)
            async for piece in stream:
                if isinstance(piece, Reply):
                    reply = piece
                    break
                said.append(piece)
                self.last_piece_at = time.monotonic()
                yield piece
            if reply is None:
                raise RuntimeError("the engine's stream ended without its reply")
            self.model_first_token_ms = reply.model_first_token_ms
            streamed = "".join(said).strip()
            unsaid = _unsaid(reply.say, streamed)
            step = await self.run(self._apply, turn, claim, reply, unsaid)
            self.claim = None
        except BaseException:
            # Cut short (the callee spoke, a key, the socket went) or failed: what was said stays
            # on the record, and the turn is released for the next words.
            if self.claim is claim:
                self.claim = None
                await self.run(self._cut_short, claim, "".join(said))
            raise
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.aclose()  # the model's request is abandoned with it
        if step.replayed:
            async for piece in self._say_step(step):
                yield piece
            return
        if step.then in ("hangup", "transfer"):
            if streamed:
                await asyncio.sleep(speaking_seconds(streamed))  # let the streamed words be heard
            yield RelayEnd(self._handoff(step, unsaid))
        elif unsaid:
            self.last_piece_at = time.monotonic()
            yield unsaid

    async def _release(self, claimed) -> None:
        """A claim whose reply was cancelled before it began: released at once."""
        if isinstance(claimed, _Claim):
            await self.run(self._cut_short, claimed, "")

    def _apply(self, turn: TurnInput, claim: _Claim, reply: Reply, unsaid: str) -> AgentStep:
        """The reply applied (calls._turn_apply); an ending stored on the call for the callback."""
        with transaction.atomic():
            step = _turn_apply(turn, claim, reply)
            if not step.replayed:
                self._remember_ending(step, unsaid, claim)
        return step

    def _remember_ending(self, step: AgentStep, unsaid: str, claim: _Claim) -> None:
        """Inside the transaction that applied the reply: the agent line it said gets its
        latency later; an ending is stored before the socket's `end` goes out."""
        if step.then not in ("hangup", "transfer"):
            # The state _turn_apply just saved is the claim's: its last line is the reply's.
            self.latency_turn = claim.ctx.state.get("seq")
            return
        call = _locked_call(self.call_id)
        self.latency_turn = call.engine_state.get("seq")
        call.engine_state["handoff"] = self._handoff(step, unsaid)
        call.save(update_fields=["engine_state"])

    @staticmethod
    def _handoff(step: AgentStep, say: str) -> dict:
        handoff = {"then": step.then, "say": say}
        if step.then == "transfer":
            handoff["transfer_to"] = step.transfer_to
        return handoff

    async def _say_step(self, step: AgentStep):
        """A step decided at once (no model): its words, or the end it leads to."""
        if step.then in ("hangup", "transfer"):
            if step.replayed:
                handoff = await self.run(self._stored_handoff)
                if handoff is not None:
                    yield RelayEnd(handoff)
                return
            await self.run(self._store_handoff, self._handoff(step, step.say))
            yield RelayEnd(self._handoff(step, step.say))
            return
        if step.say and not step.replayed:
            await self.run(self._note_latency_turn)
            self.last_piece_at = time.monotonic()
            yield step.say

    def _stored_handoff(self) -> dict | None:
        """An ending already decided (the callee spoke over its last words): end again. None when
        the call went elsewhere (a machine's voicemail) or is over."""
        call = Call.objects.filter(pk=self.call_id).first()
        if call is None or not call.is_live or call.engine_state.get("voicemail"):
            return None
        return call.engine_state.get("handoff") or {"then": "hangup", "say": ""}

    def _store_handoff(self, handoff: dict) -> None:
        with transaction.atomic():
            call = _locked_call(self.call_id)
            if call is None or not call.is_live:
                return
            call.engine_state["handoff"] = handoff
            call.save(update_fields=["engine_state"])

    def _note_latency_turn(self) -> None:
        self.latency_turn = Call.objects.filter(pk=self.call_id).values_list("engine_state__seq", flat=True).first()

    def _cut_short(self, claim: _Claim, said: str) -> None:
        """A reply that did not finish: release its mark; what went out of it is the agent's line
        (and the engine's history), for `interrupted` to trim to what was heard."""
        with transaction.atomic():
            call = _locked_call(self.call_id)
            if call is None or (call.engine_state.get("thinking") or {}).get("token") != claim.token:
                return
            state = claim.ctx.state  # the engine's working copy: it has the callee's words
            state.pop("thinking", None)
            said = said.strip()
            if said:
                claim.engine.interrupted(state, said)
            call.engine_state = state
            if said:
                _add_turn(call, CallTurn.Speaker.AGENT, said)
                self.latency_turn = state.get("seq")
            call.save(update_fields=["engine_state"])

    def _interrupted(self, heard: str) -> None:
        """The callee spoke over the agent's last line: it keeps only what they heard."""
        with transaction.atomic():
            call = _locked_call(self.call_id)
            if call is None:
                return
            line = call.turns.filter(speaker=CallTurn.Speaker.AGENT).order_by("-sequence").first()
            if line is None or line.interrupted:
                return
            heard = heard.strip()
            if heard and not line.text.startswith(heard) and heard not in line.text:
                heard = line.text  # not a part of our line: keep the line whole, marked
            line.text = heard or "…"
            line.interrupted = True
            line.save(update_fields=["text", "interrupted"])
            if call.agent is not None:
                state = copy.deepcopy(call.engine_state)
                engine_for(call.agent).interrupted(state, heard)
                call.engine_state = state
                call.save(update_fields=["engine_state"])

    def _latency(self, sequence: int, first_frame_ms, model_ms, total_ms) -> None:
        def ms(value):
            return None if value is None else max(int(round(value)), 0)

        CallTurn.objects.filter(call_id=self.call_id, sequence=sequence, speaker=CallTurn.Speaker.AGENT).update(
            first_frame_ms=ms(first_frame_ms), model_first_token_ms=ms(model_ms), total_ms=ms(total_ms)
        )

    # --- key presses ------------------------------------------------------------------------------
    async def _key(self, keyed: asyncio.Future):
        self.latency_turn, self.last_piece_at, self.model_first_token_ms = None, None, None
        step = await asyncio.shield(keyed)
        if step is None:
            return
        async for piece in self._say_step(step):
            yield piece

    def _key_apply(self, digit: str) -> AgentStep | None:
        """A key press, recorded on the transcript: 0 asks for a person (the agent's transfer
        number), 9 for no more calls (do-not-call, goodbye, end); any other key changes nothing."""
        with transaction.atomic():
            call = _locked_call(self.call_id)
            if call is None or call.agent is None or not call.is_live:
                return None
            state = call.engine_state
            if (state.get("last_step") or {}).get("then") not in ("relay", "listen"):
                return None  # the conversation is over (a goodbye, a transfer, voicemail)
            state.pop("thinking", None)
            _add_turn(call, CallTurn.Speaker.CALLEE, f"(pressed {digit})")
            agent = call.agent
            if digit == "9":
                reply = Reply(
                    say=wording.line_for("dnc", agent), end_call=True, outcome="do_not_call", do_not_call=True
                )
            elif digit == "0" and agent.transfer_number:
                reply = Reply(say=wording.line_for("transferring", agent), end_call=True, transfer=True)
            elif digit == "0":
                reply = Reply(say=wording.line_for("nobody_free", agent))
            else:
                call.save(update_fields=["engine_state"])
                return None
            step = _apply_reply(call, reply)
            if step.then in ("hangup", "transfer"):
                call.engine_state["handoff"] = self._handoff(step, step.say)
                call.save(update_fields=["engine_state"])
            return step


def _unsaid(say: str, streamed: str) -> str:
    """What of the reply's words the stream did not carry."""
    say = (say or "").strip()
    if not streamed or not say:
        return say
    if say in streamed:
        return ""
    if say.startswith(streamed):
        return say[len(streamed) :].strip()
    return say  # other words (a goodbye after a holding line)
