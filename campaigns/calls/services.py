"""A call's life: answered, each conversational turn, status events, and the one finish.

Every function locks the call row, checks its current state and is safe to run twice: the
provider may deliver any webhook more than once and in any order.

Why one module of about 700 lines: it is one state machine, a call's. Every step shares the row
lock, the replay of a repeated webhook and the one finish; its ordering guarantees are checked by
reading it in one place.
"""

import copy
import dataclasses
import functools
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import django_rq
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from clozit import events
from telephony.models import PhoneNumber
from telephony.providers.base import AgentStep, CallEvent, ProviderError, RelayEnded, TurnInput
from telephony.registry import get_provider
from telephony.relay import relay_ended_url, relay_url

from ..contacts.donotcall import dnc_add
from ..contacts.windows import callee_time_zones, zone
from ..conversation.engine import ConversationContext, Reply, engine_for, wording
from ..conversation.knowledge import passages_for
from ..jobs import campaign_wake
from ..models import Agent, Call, CallTurn, Campaign, CampaignContact, Contact

logger = logging.getLogger(__name__)

MAX_ATTEMPTS_ON_CARRIER_ERROR = 3
# Waits before redialling a contact after a provider error: 30 s, then 2 and 10 minutes.
RETRY_BACKOFF = [timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10)]
# A live call that long past its time limit has lost its final event.
STALE_AFTER = timedelta(minutes=10)
FINAL_STATUSES = {
    Call.Status.COMPLETED,
    Call.Status.BUSY,
    Call.Status.NO_ANSWER,
    Call.Status.FAILED,
    Call.Status.CANCELED,
}


def webhook_url(name: str, *, call: Call, **kwargs) -> str:
    return settings.PUBLIC_BASE_URL + reverse(name, kwargs={"provider": call.provider, "call_id": call.pk, **kwargs})


def _context(call: Call, *, heard: str = "") -> ConversationContext:
    contact = call.contact
    # A call placed on its own (dialing/single.py) has no contact: its variables came with it.
    variables = dict(call.engine_state.get("variables") or {})
    if contact is not None:
        variables = {
            **contact.variables,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "phone_number": contact.phone_number,
        }
    knowledge = passages_for(call.agent, heard) if heard else []
    return ConversationContext(agent=call.agent, variables=variables, state=call.engine_state, knowledge=knowledge)


def _new_line(call: Call, speaker: str, text: str, passages=()) -> CallTurn:
    """The call's next transcript line, numbered now and not yet saved."""
    sequence = call.engine_state.get("seq", 0) + 1
    call.engine_state["seq"] = sequence
    return CallTurn(
        call=call,
        sequence=sequence,
        speaker=speaker,
        text=text,
        passages=[dataclasses.asdict(p) for p in passages],
    )


def _add_turn(call: Call, speaker: str, text: str, passages=()) -> None:
    _new_line(call, speaker, text, passages).save(force_insert=True)


def _step(call: Call, reply: Reply, *, relay: bool = False) -> AgentStep:
    turn = call.engine_state.get("turn", 0)
    transfer_to = call.agent.transfer_number if (reply.transfer and call.agent) else ""
    if relay and not reply.end_call:
        # The carrier greets with `say`, then the conversation goes on over the relay socket.
        return AgentStep(
            say=reply.say,
            then="relay",
            language=call.agent.language,
            voice=call.agent.voice,
            relay_url=relay_url(provider=call.provider, call_id=call.pk),
            relay_action_url=relay_ended_url(provider=call.provider, call_id=call.pk),
        )
    if reply.hold and not reply.end_call:
        then = "redirect"  # a holding line, then straight back to the engine for its retry
    elif transfer_to:
        then = "transfer"
    else:
        # A transfer asked for with no number to transfer to ends the call instead.
        then = "hangup" if (reply.end_call or reply.transfer) else "listen"
    return AgentStep(
        say=reply.say,
        then=then,
        language=call.agent.language if call.agent else "en-US",
        voice=call.agent.voice if call.agent else "",
        next_turn_url=webhook_url("telephony_turn", call=call, turn=turn) if then in ("listen", "redirect") else "",
        transfer_to=transfer_to,
    )


def reply_record(reply: Reply, *, agent, captured: list, outcome: str) -> tuple[list, str]:
    """What a reply leaves on the record (a call's, or a playground session's): the captured
    answers merged in, and the outcome."""
    if reply.captured:
        values = dict(captured)
        values.update(reply.captured)  # a field answered again keeps its place, with the new value
        captured = [[name, value] for name, value in values.items()]
    if reply.outcome:
        outcome = reply.outcome
    elif reply.transfer and agent is not None and agent.transfer_number:
        outcome = Call.Outcome.TRANSFERRED
    return captured, outcome


def _apply_reply(call: Call, reply: Reply, *, passages=(), relay: bool = False, lines=()) -> AgentStep:
    """`reply` on the call: its line, its record, the step it leads to, saved in one UPDATE.
    `lines`: unsaved lines that come before the reply's (the callee's words), inserted with it."""
    lines = list(lines)
    if reply.say:
        lines.append(_new_line(call, CallTurn.Speaker.AGENT, reply.say, passages))
    if lines:
        CallTurn.objects.bulk_create(lines)
    call.engine_state["holding"] = reply.hold and not reply.end_call
    call.captured, call.outcome = reply_record(reply, agent=call.agent, captured=call.captured, outcome=call.outcome)
    if reply.do_not_call:
        dnc_add(
            workspace=call.workspace,
            phone_number=call.to_number,
            reason=f"Asked during call {call.pk}",
            call_id=call.pk,
        )
    call.engine_state["turn"] = call.engine_state.get("turn", 0) + 1
    step = _step(call, reply, relay=relay)
    call.engine_state["last_step"] = {
        "say": step.say,
        "then": step.then,
        "next_turn_url": step.next_turn_url,
        "transfer_to": step.transfer_to,
    }
    if step.then == "relay":
        call.engine_state["last_step"].update(relay_url=step.relay_url, relay_action_url=step.relay_action_url)
    call.save(update_fields=["engine_state", "captured", "outcome"])
    return step


# The columns of a call a conversation step reads or writes (others load when touched), and of
# its contact those the lines' {{variables}} read.
STEP_FIELDS = (
    "id",
    "workspace_id",
    "agent_id",
    "contact_id",
    "provider",
    "to_number",
    "status",
    "answered_by",
    "answered_at",
    "outcome",
    "engine_state",
    "captured",
)
CONTACT_FIELDS = ("phone_number", "first_name", "last_name", "variables")  # in the model's order (`from_db`)


def _locked_call(call_id: int) -> Call | None:
    """The call with what a conversation step reads, its row locked until the transaction ends.

    Every turn takes this lock, so it costs one short statement: a profile of a turn found two
    thirds of its claim in Django compiling and running a lock over four joined tables of every
    column. It reads the call's step columns, its contact's words for the lines, and its agent's
    version; the agent, read by every step and changed by nobody during a call, comes from a
    cache of this process kept fresh by that version (`_agent_at`). The statement is compiled by
    Django once per process (`_step_sql`): only the id changes."""
    call = next(iter(Call.objects.raw(_step_sql(connection.vendor), [call_id])), None)
    if call is None:
        return None
    if call.contact_id is not None:
        values = [getattr(call, f"contact_{name}") for name in CONTACT_FIELDS]
        values[-1] = Contact._meta.get_field("variables").from_db_value(values[-1], None, connection)
        call.contact = Contact.from_db(connection.alias, ("id", *CONTACT_FIELDS), (call.contact_id, *values))
    if call.agent_id is not None:
        call.agent = _agent_at(call.agent_id, call.agent_updated_at, call.agent_passages)
    return call


@functools.cache
def _step_sql(vendor: str) -> str:
    """The SQL of `_locked_call`'s statement (FOR UPDATE OF the call only), with one parameter, the id."""
    rows = (
        Call.objects.select_for_update(of=("self",))
        .only(*STEP_FIELDS)
        .annotate(
            **{f"contact_{name}": F(f"contact__{name}") for name in CONTACT_FIELDS},
            agent_updated_at=F("agent__updated_at"),
            agent_passages=F("agent__knowledge_passage_count"),
        )
        .filter(pk=0)
        .order_by()  # one row at most: no ORDER BY
    )
    sql, params = rows.query.sql_with_params()
    assert list(params) == [0], params
    return sql


@functools.lru_cache(maxsize=512)
def _agent_at(agent_id: int, updated_at: datetime, passages: int) -> Agent:
    """The agent as it was at `updated_at` with `passages` knowledge passages (its version: every
    save moves `updated_at`, and `knowledge_passage_count` is the one column written without a
    save). Shared by the steps of this process, which only read it."""
    return Agent.objects.get(pk=agent_id)


def _replay_last_step(call: Call) -> AgentStep:
    """The step already given for this turn, again: a repeated webhook gets the same answer."""
    last = call.engine_state.get("last_step") or {"say": "", "then": "hangup", "next_turn_url": ""}
    return AgentStep(
        language=call.agent.language if call.agent else "en-US",
        voice=call.agent.voice if call.agent else "",
        replayed=True,
        **last,
    )


HANG_UP = AgentStep(say="", then="hangup")
NOBODY_AVAILABLE = AgentStep(say="Sorry, nobody can take your call right now. Please try again later.", then="hangup")
RECORDING_NOTICE = "This call is recorded."


def who_called_notice() -> str:
    """Where a callee can see who called and opt out, as it is said: the site's host, no scheme."""
    host = urlsplit(settings.PUBLIC_BASE_URL).netloc or settings.PUBLIC_BASE_URL
    return f"To see who called you, or to stop these calls, visit {host}/who-called."


def opening_words(agent, say: str) -> str:
    """What a person hears first: the AI disclosure (and, when the agent says it, where to see who
    called), the recording notice when the agent records calls, then the engine's opening (said at
    the start of every call, whatever the engine says)."""
    notices = [
        agent.ai_disclosure.strip(),
        who_called_notice() if agent.mention_who_called else "",
        RECORDING_NOTICE if agent.record_calls else "",
    ]
    return " ".join(part for part in (*notices, say) if part)


def call_exists(*, call_id: int, provider: str) -> bool:
    return Call.objects.filter(pk=call_id, provider=provider).exists()


def call_id_for(*, provider: str, provider_call_id: str) -> int | None:
    """Our id for the provider's call, when we know it."""
    if not provider_call_id:
        return None
    calls = Call.objects.filter(provider=provider, provider_call_id=provider_call_id)
    return calls.values_list("pk", flat=True).first()


def call_inbound_start(*, provider: str, provider_call_id: str, from_: str, to: str) -> int | None:
    """Someone called one of our numbers. Returns the id of the call the number's agent answers,
    with credits held as for an outbound call, or None when nobody can answer (not an owned
    number, no agent assigned, the account cannot place calls, or no credits)."""
    with transaction.atomic():
        # Locking the number serialises repeated deliveries of the same inbound webhook.
        number = (
            PhoneNumber.objects.select_for_update(of=("self",))
            .select_related("workspace", "inbound_agent")
            .filter(number=to, status=PhoneNumber.Status.ACTIVE, workspace__isnull=False)
            .first()
        )
        if number is None:
            return None
        existing = call_id_for(provider=provider, provider_call_id=provider_call_id)
        if existing is not None:
            return existing
        agent, workspace = number.inbound_agent, number.workspace
        if agent is None or not workspace.can_dial:
            return None
        call = Call.objects.create(
            workspace=workspace,
            agent=agent,
            direction=Call.Direction.INBOUND,
            to_number=to,
            from_number=from_,
            provider=provider,
            provider_call_id=provider_call_id,
            status=Call.Status.RINGING,
            dialing_started_at=timezone.now(),
        )
        try:
            with transaction.atomic():
                hold = ledger.hold_place(
                    workspace=workspace,
                    reference=f"call:{call.pk}",
                    max_amount=ledger.call_cost(seconds=agent.max_call_seconds),
                    min_amount=settings.CALL_MIN_CREDITS,
                    lifetime=timedelta(seconds=agent.max_call_seconds + INBOUND_HOLD_ALLOWANCE_SECONDS),
                )
        except ledger.InsufficientCredits:
            call.status = Call.Status.CANCELED
            call.ended_at = timezone.now()
            call.failure_reason = "Not enough credits to answer"
            call.save(update_fields=["status", "ended_at", "failure_reason"])
            return None
        call.hold_reference = hold.reference
        call.time_limit_seconds = ledger.call_time_limit(hold=hold)
        call.save(update_fields=["hold_reference", "time_limit_seconds"])
        call_id, limit = call.pk, call.time_limit_seconds
        # An inbound call has no carrier-side time limit: end it ourselves when its credits are used.
        transaction.on_commit(lambda: _schedule_time_limit(call_id, limit))
    return call_id


INBOUND_HOLD_ALLOWANCE_SECONDS = 60


def _schedule_time_limit(call_id: int, seconds: int) -> None:
    django_rq.get_queue("dialing").enqueue_in(timedelta(seconds=seconds + 2), call_enforce_time_limit, call_id)


def call_enforce_time_limit(call_id: int) -> None:
    """RQ job: hang up a call still live after its credits ran out (the carrier could not be told)."""
    call = Call.objects.filter(pk=call_id, status__in=Call.LIVE_STATUSES).exclude(provider_call_id="").first()
    if call is None:
        return
    try:
        get_provider(call.provider).hang_up(call.provider_call_id)
    except ProviderError as exc:
        logger.warning("could not end call %s at its time limit: %s", call_id, exc.message)


@transaction.atomic
def call_answered(*, call_id: int, answered_by: str) -> AgentStep:
    """The callee (or a machine) picked up: the agent's first words."""
    call = _locked_call(call_id)
    if call is None or not call.is_live or call.agent is None:
        return HANG_UP
    if "last_step" in call.engine_state:
        return _replay_last_step(call)  # the answer webhook was delivered twice
    now = timezone.now()
    updates = {"status": Call.Status.IN_PROGRESS, "answered_at": call.answered_at or now}
    if answered_by:
        updates["answered_by"] = answered_by
    for name, value in updates.items():
        setattr(call, name, value)
    call.save(update_fields=list(updates))
    engine = engine_for(call.agent)
    ctx = _context(call)
    reply = engine.voicemail(ctx) if answered_by == "machine" else engine.start(ctx)
    if answered_by != "machine":
        reply.say = opening_words(call.agent, reply.say)
    # A person (or an answer not yet known: a machine reported later is redirected to voicemail)
    # talks with a real-time agent over the relay socket.
    relay = answered_by != "machine" and call.agent.transport == call.agent.Transport.RELAY
    return _apply_reply(call, reply, relay=relay)


@transaction.atomic
def call_machine_detected(*, call_id: int, answered_by: str, greeting_ended: bool = True) -> AgentStep | None:
    """The carrier's late verdict on who answered a call that is already under way (asynchronous
    detection: the callee heard the opening at once, as a person must).

    A person changes only the record. A machine whose greeting has ended gets the agent's
    voicemail choice in place of the conversation (the message then hang up, or hang up): the
    returned step is for the provider to carry out on the live call at once. Before the greeting
    ends nothing is said (it would be lost under the greeting); the conversation waits. Returns
    None when there is nothing to do: a person, an unknown verdict, an ended call, a message
    already left. Never leaves the message twice."""
    call = _locked_call(call_id)
    if call is None or not call.is_live or call.agent is None:
        return None
    if answered_by == "human":
        if not call.answered_by:
            call.answered_by = "human"
            call.save(update_fields=["answered_by"])
        return None
    if answered_by != "machine" or call.engine_state.get("voicemail"):
        return None
    call.answered_by = "machine"
    fields = ["answered_by"]
    if call.answered_at is None:  # the verdict overtook the answer webhook
        call.status, call.answered_at = Call.Status.IN_PROGRESS, timezone.now()
        fields += ["status", "answered_at"]
    call.save(update_fields=fields)
    if not greeting_ended:
        return None
    # Whatever the engine made of the greeting was no answer from the callee (and a reply the
    # model may still be thinking of is not to be said: its turn is over).
    call.engine_state["voicemail"] = True
    call.engine_state.pop("thinking", None)
    call.captured, call.outcome = [], ""
    reply = engine_for(call.agent).voicemail(_context(call))
    return _apply_reply(call, reply)


def call_recording_saved(*, event) -> None:
    """The carrier stored the call's recording: keep its reference (the audio stays with them)."""
    Call.objects.filter(pk=event.call_id, recording_id="").update(
        recording_id=event.recording_id, recording_url=event.media_url, recording_seconds=event.duration_seconds
    )


class UnknownCall(Exception):
    """No call of this provider has that id."""


def call_turn(*, turn: TurnInput, provider: str = "") -> AgentStep:
    """The callee said something (or nothing): record it and answer through the engine.

    `provider`: the carrier whose webhook this is; a call of another carrier, or none, raises
    UnknownCall (found by the row lock the turn takes anyway: no query of its own).

    An engine that asks an AI model thinks with nothing locked and no transaction open: the
    turn is claimed (the callee's words recorded, a "thinking" mark set) in one short
    transaction, the model is asked, and the answer applied in a second one, unless the call
    ended meanwhile. A repeated webhook for a turn being thought about waits for its answer.
    Every turn has one deadline (TURN_DEADLINE_SECONDS) for its knowledge search and all its
    model requests, well inside the carrier's patience (Twilio waits 15 s)."""
    deadline = time.monotonic() + float(settings.TURN_DEADLINE_SECONDS)
    while True:
        claimed = _turn_claim(turn, provider=provider)
        if not isinstance(claimed, _Waiting):
            break
        step = _turn_wait(turn, deadline)
        if step is not None:
            return step
    if isinstance(claimed, AgentStep):
        return claimed  # answered at once: a replay, a hang-up, or an engine that needs no model
    claim = claimed
    claim.ctx.deadline = deadline
    if turn.speech:
        claim.ctx.knowledge = passages_for(claim.ctx.agent, turn.speech, within=deadline - time.monotonic())
    _connection_release()
    reply = claim.engine.respond(claim.ctx, turn.speech)
    return _turn_apply(turn, claim, reply)


def _connection_release() -> None:
    """While the model thinks (seconds), the request's database connection goes back to the
    pool (DB_POOL_SIZE) for other requests; applying the answer takes one again. Without a pool,
    or inside a transaction the caller holds, the connection stays."""
    if getattr(connection, "pool", None) is not None and not connection.in_atomic_block:
        connection.close()


@dataclasses.dataclass
class _Claim:
    """A turn this request is thinking about, outside any transaction."""

    token: str
    engine: object
    ctx: ConversationContext
    turn: int = 0


class _Waiting:
    """Another request is thinking about this turn."""


# A thinking mark older than the turn's deadline plus this is left by a request that died.
THINKING_GRACE_SECONDS = 5
WAIT_POLL_SECONDS = 0.1


def _turn_claim(turn: TurnInput, *, relay: bool = False, provider: str = ""):
    """An AgentStep when the turn is answered here and now, _Waiting when another request is
    thinking about it, else the _Claim to think about outside the transaction.

    `relay`: the callee's words came over the relay socket, which has no turn numbers and runs one
    reply at a time: the turn is the call's current one, and a mark left by a reply the callee cut
    short is this socket's own (taken over, not waited for). Only engines that ask a model are
    claimed: others answer here."""
    with transaction.atomic():
        call = _locked_call(turn.call_id)
        if provider and (call is None or call.provider != provider):
            raise UnknownCall(turn.call_id)
        if call is None or call.agent is None:
            return HANG_UP
        state = call.engine_state
        if relay:
            turn = dataclasses.replace(turn, turn=state.get("turn", 0))
        if turn.turn != state.get("turn"):
            return _replay_last_step(call)  # a repeated or stale turn: say the same again, advance nothing
        if not call.is_live:
            return HANG_UP
        if (state.get("last_step") or {}).get("then") not in ("listen", "redirect", "relay"):
            return _replay_last_step(call)  # speech over a goodbye or a transfer asks nothing new
        thinking = state.get("thinking") or {}
        if relay:
            thinking = {}
        elif thinking.get("turn") == turn.turn and thinking.get("until", 0) > time.time():
            return _Waiting()
        heard = []
        if not state.get("holding") and not thinking:  # after a holding line nobody was asked anything
            heard.append(_new_line(call, CallTurn.Speaker.CALLEE, turn.speech or "(silence)"))
        engine = engine_for(call.agent)
        if not engine.uses_model:
            # Nothing slow to wait for: answered in this one transaction (both lines in one INSERT).
            ctx = _context(call, heard=turn.speech)
            state.pop("thinking", None)
            return _apply_reply(call, engine.respond(ctx, turn.speech), passages=ctx.knowledge, lines=heard)
        if heard:
            CallTurn.objects.bulk_create(heard)
        token = uuid.uuid4().hex
        state["thinking"] = {
            "turn": turn.turn,
            "token": token,
            "until": time.time() + float(settings.TURN_DEADLINE_SECONDS) + THINKING_GRACE_SECONDS,
        }
        call.save(update_fields=["engine_state"])
        ctx = _context(call)
        ctx.state = copy.deepcopy(state)  # the engine's working copy, applied only if the turn is still ours
        return _Claim(token=token, engine=engine, ctx=ctx, turn=turn.turn)


def _turn_wait(turn: TurnInput, deadline: float) -> AgentStep | None:
    """Wait, with nothing locked, for the request thinking about this turn. Returns its step
    once given, or None when its mark went stale (it died: claim the turn again). Past the
    deadline, a holding line that brings the carrier back to this turn."""
    while time.monotonic() < deadline:
        time.sleep(WAIT_POLL_SECONDS)
        state = Call.objects.filter(pk=turn.call_id).values_list("engine_state", flat=True).first() or {}
        thinking = state.get("thinking") or {}
        if state.get("turn") != turn.turn or thinking.get("turn") != turn.turn:
            return None  # answered (or abandoned): claiming again replays the answer
        if thinking.get("until", 0) <= time.time():
            return None
    call = Call.objects.select_related("agent").get(pk=turn.call_id)
    return AgentStep(
        say=wording.line_for("wait", call.agent),
        then="redirect",
        language=call.agent.language if call.agent else "en-US",
        voice=call.agent.voice if call.agent else "",
        next_turn_url=webhook_url("telephony_turn", call=call, turn=turn.turn),
        replayed=True,
    )


def _turn_apply(turn: TurnInput, claim: _Claim, reply: Reply) -> AgentStep:
    """The engine's answer, applied if the turn is still this request's to answer."""
    with transaction.atomic():
        call = _locked_call(turn.call_id)
        if call is None or call.agent is None:
            return HANG_UP
        thinking = call.engine_state.get("thinking") or {}
        if thinking.get("token") != claim.token or call.engine_state.get("turn") != claim.turn:
            # Too slow: the turn was claimed again and answered, or the call moved on without it
            # (a machine's greeting ended and the voicemail message took over).
            return _replay_last_step(call)
        if not call.is_live:
            # The callee hung up while the model thought: nothing is said, but what the callee
            # asked for still counts.
            call.engine_state.pop("thinking", None)
            call.captured, call.outcome = reply_record(
                reply, agent=call.agent, captured=call.captured, outcome=call.outcome
            )
            if reply.do_not_call:
                dnc_add(
                    workspace=call.workspace,
                    phone_number=call.to_number,
                    reason=f"Asked during call {call.pk}",
                    call_id=call.pk,
                )
            call.save(update_fields=["engine_state", "captured", "outcome"])
            return HANG_UP
        call.engine_state = claim.ctx.state
        call.engine_state.pop("thinking", None)
        return _apply_reply(call, reply, passages=claim.ctx.knowledge)


def call_apply_event(*, event: CallEvent) -> None:
    """Apply a provider status event. Old or repeated events never move a call backwards."""
    if event.status in FINAL_STATUSES:
        call_finish(
            call_id=event.call_id,
            status=event.status,
            duration_seconds=event.duration_seconds or 0,
            reason=event.detail,
            answered_by=event.answered_by,
        )
        return
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(pk=event.call_id).first()
        if call is None or not call.is_live:
            return
        fields = []
        if Call.STATUS_RANK[event.status] > Call.STATUS_RANK[call.status]:
            call.status = event.status
            fields.append("status")
        # Details the answer webhook may not have had still fill in from a late event.
        if event.status == Call.Status.IN_PROGRESS and call.answered_at is None:
            call.answered_at = timezone.now()
            fields.append("answered_at")
        if event.answered_by and not call.answered_by:
            call.answered_by = event.answered_by
            fields.append("answered_by")
        if event.provider_call_id and not call.provider_call_id:
            call.provider_call_id = event.provider_call_id
            fields.append("provider_call_id")
        if fields:
            call.save(update_fields=fields)


def call_finish(
    *,
    call_id: int,
    status: str,
    duration_seconds: int = 0,
    reason: str = "",
    answered_by: str = "",
    retryable: bool = False,
    permanent: bool = False,
    requeue_at: datetime | None = None,
    waiting_reason: str = "",
) -> bool:
    """The one transition to a final state. Settles credits, frees the slot, decides the
    contact's retry and wakes the campaign exactly once; returns False when the call had
    already finished.

    `retryable`: a provider error worth redialling soon (RETRY_BACKOFF); `permanent`: a provider
    error no retry can fix. `requeue_at` (canceled calls only: never dialled) puts the contact
    back in the queue at that time without counting the attempt, with `waiting_reason`."""
    with transaction.atomic():
        now = timezone.now()
        finished = Call.objects.filter(pk=call_id, status__in=Call.LIVE_STATUSES).update(
            status=status, ended_at=now, failure_reason=reason[:300]
        )
        if not finished:
            return False
        call = Call.objects.select_for_update(of=("self",)).select_related("target", "contact").get(pk=call_id)
        connected = duration_seconds if status == Call.Status.COMPLETED else 0
        if call.time_limit_seconds:
            connected = min(connected, call.time_limit_seconds)
        call.duration_seconds = connected
        if status == Call.Status.COMPLETED and call.answered_at is not None:
            # The carrier's count of connected seconds is the call's length: the record runs from
            # the answer for exactly the seconds billed, whenever the final event reached us (a
            # simulated carrier compresses time; a real one's events arrive a moment late).
            call.ended_at = call.answered_at + timedelta(seconds=connected)
        if answered_by and not call.answered_by:
            call.answered_by = answered_by
        if not call.outcome:
            if call.answered_by == "machine" and status == Call.Status.COMPLETED:
                call.outcome = Call.Outcome.VOICEMAIL
            elif call.time_limit_seconds and connected >= call.time_limit_seconds:
                call.outcome = Call.Outcome.TIME_LIMIT
            elif call.answered_at is not None and status == Call.Status.COMPLETED:
                call.outcome = Call.Outcome.HUNG_UP  # every answered call ends with an outcome
        # Saved before the ledger settles: the call counters' rows (kept by triggers, migration
        # 0016) are locked before the credit account, never after it, so finishes never deadlock.
        call.save(update_fields=["duration_seconds", "ended_at", "answered_by", "outcome"])
        if call.hold_reference:
            # At the rate in force when the call was placed, the one its time limit used.
            call.credits_charged = ledger.call_settle(
                reference=call.hold_reference, seconds=connected, memo=f"Call {call.pk}, {connected} s connected"
            )
            call.save(update_fields=["credits_charged"])
        if call.target is not None:
            _finish_target(
                call.target,
                call,
                retryable=retryable,
                permanent=permanent,
                requeue_at=requeue_at if status == Call.Status.CANCELED else None,
                waiting_reason=waiting_reason,
            )
        if call.campaign_id:
            campaign_id = call.campaign_id
            transaction.on_commit(lambda: _wake_campaign(campaign_id))
        _publish_end(call)
    return True


def _publish_end(call: Call) -> None:
    """`call.completed` for a call someone (or a machine) answered, `call.failed` for one that
    rang out, was busy, failed or could not be placed; nothing for a canceled call, which was
    never dialled (its contact is called later, or skipped). Campaign calls and single calls alike."""
    if call.status == Call.Status.CANCELED:
        return
    answered = call.status == Call.Status.COMPLETED and call.answered_at is not None
    events.publish(
        type=events.CALL_COMPLETED if answered else events.CALL_FAILED, workspace_id=call.workspace_id, call_id=call.pk
    )


# How a call ended, in the words of Campaign.retry_on.
RETRY_REASONS = {"no_answer": "No answer", "busy": "Busy", "failed": "Failed", "voicemail": "Voicemail"}


def _retry_reason(call: Call) -> str:
    """The Campaign.retry_on entry this call's end matches, or "" (answered by a person, canceled)."""
    if call.status == Call.Status.NO_ANSWER:
        return "no_answer"
    if call.status == Call.Status.BUSY:
        return "busy"
    if call.status == Call.Status.FAILED:
        return "failed"
    if call.status == Call.Status.COMPLETED and (
        call.outcome == Call.Outcome.VOICEMAIL or (call.answered_by == "machine" and not call.outcome)
    ):
        return "voicemail"
    return ""


def callback_time(call: Call, *, zones=()) -> datetime | None:
    """When the callee asked to be called back: the captured "callback_at" ISO date and time.
    A time without an offset is the callee's own (their first zone), else UTC. None when absent
    or unreadable."""
    value = str(dict(call.captured or []).get("callback_at") or "").strip()
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        info = zone(zones[0]) if zones else None
        when = when.replace(tzinfo=info or UTC)
    return when


def _callback_scheduled_before(target: CampaignContact, call: Call) -> bool:
    earlier = Call.objects.filter(target=target, outcome=Call.Outcome.CALL_BACK).exclude(pk=call.pk)
    return any("callback_at" in dict(captured or []) for captured in earlier.values_list("captured", flat=True))


def _finish_target(
    target: CampaignContact,
    call: Call,
    *,
    retryable: bool,
    permanent: bool = False,
    requeue_at: datetime | None = None,
    waiting_reason: str = "",
) -> None:
    """The contact's next step, decided once, in the transaction that finished its call:

    1. A canceled call never went out: with `requeue_at` the contact waits in the queue without
       the attempt counting; without it the contact is skipped (do-not-call, campaign stopped).
    2. A provider error worth retrying is redialled after RETRY_BACKOFF, up to
       MAX_ATTEMPTS_ON_CARRIER_ERROR attempts.
    3. No answer, busy, failed (not a permanent provider error) and voicemail are redialled
       after the campaign's retry delay when the campaign retries that ending and attempts are
       left; the calling window is applied when the contact is claimed again.
    4. A callee who asked to be called back at a given time ("callback_at") is called then,
       once per contact, when attempts are left.
    5. Anything else is final: done when the call completed, else failed.
    """
    target = CampaignContact.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=target.pk)
    campaign = target.campaign
    now = timezone.now()
    target.claim_expires_at = None
    target.waiting_reason = ""
    target.next_attempt_at = None
    reason = _retry_reason(call)
    # A stopped campaign calls nobody again, whatever the call's ending.
    goes_on = campaign.status in (Campaign.Status.RUNNING, Campaign.Status.PAUSED)
    attempts_left = goes_on and target.attempts < campaign.max_attempts
    if call.status == Call.Status.CANCELED:
        if requeue_at is not None and goes_on:
            target.status = CampaignContact.Status.PENDING
            target.attempts = max(target.attempts - 1, 0)
            target.next_attempt_at = requeue_at
            target.waiting_reason = waiting_reason[:200]
            target.result = ""
        else:
            target.status = CampaignContact.Status.SKIPPED
            target.result = (call.failure_reason or "Canceled")[:200]
    elif retryable and goes_on and target.attempts < MAX_ATTEMPTS_ON_CARRIER_ERROR:
        target.status = CampaignContact.Status.PENDING
        target.result = f"Will retry: {call.failure_reason}"[:200]
        target.next_attempt_at = now + RETRY_BACKOFF[min(target.attempts, len(RETRY_BACKOFF)) - 1]
    elif reason and reason in (campaign.retry_on or []) and attempts_left and not permanent:
        label = RETRY_REASONS[reason]
        target.status = CampaignContact.Status.PENDING
        target.result = f"{label}: will call again"
        target.next_attempt_at = now + timedelta(minutes=campaign.retry_delay_minutes)
        target.waiting_reason = (
            f"Retrying after {label.lower()} (attempt {target.attempts + 1} of {campaign.max_attempts})"
        )
    elif (
        call.status == Call.Status.COMPLETED
        and call.outcome == Call.Outcome.CALL_BACK
        and attempts_left
        and (when := callback_time(call, zones=callee_time_zones(call.contact) if call.contact else ()))
        and not _callback_scheduled_before(target, call)
    ):
        if when <= now:  # a time already past: call back after the campaign's usual spacing
            when = now + timedelta(minutes=campaign.retry_delay_minutes)
        target.status = CampaignContact.Status.PENDING
        target.result = "Asked to be called back"
        target.next_attempt_at = when
        target.waiting_reason = "Calling back at the time the callee asked for"
    elif call.status == Call.Status.COMPLETED:
        target.status = CampaignContact.Status.DONE
        target.result = call.get_outcome_display() if call.outcome else "Completed"
    else:
        target.status = CampaignContact.Status.FAILED
        target.result = (call.failure_reason or call.get_status_display())[:200]
    target.save(
        update_fields=[
            "status",
            "result",
            "attempts",
            "claim_expires_at",
            "next_attempt_at",
            "waiting_reason",
            "updated_at",
        ]
    )


def _wake_campaign(campaign_id: int) -> None:
    campaign_wake(campaign_id)


def calls_stale(*, now=None) -> list[Call]:
    """Live calls the carrier has gone quiet about for longer than any of them could last."""
    now = now or timezone.now()
    candidates = Call.objects.filter(status__in=Call.LIVE_STATUSES, created_at__lt=now - STALE_AFTER).exclude(
        provider_call_id=""
    )
    return [c for c in candidates if c.created_at + STALE_AFTER + timedelta(seconds=c.time_limit_seconds) < now]


def call_relay_ended(ended: RelayEnded) -> AgentStep:
    """What the call does once its ConversationRelay session is over (the carrier's `<Connect
    action>` callback).

    The ending the conversation stored on the call before it sent `end` comes first (the
    carrier's echo of our handoff data only stands in when none was stored): its last words, then
    hang up or transfer. A session that failed on a live call without any ending goes on turn at a
    time (a short "could you say that again", then the Gather path's next turn), so a broken
    socket never leaves the callee in silence. A call that is over is hung up. The answer is kept:
    a repeated callback gets the same step and changes nothing twice."""
    with transaction.atomic():
        call = _locked_call(ended.call_id)
        if call is None or call.agent is None or not call.is_live or not ended.call_live:
            return HANG_UP
        state = call.engine_state
        if "relay_ended" in state:
            return AgentStep(
                language=call.agent.language, voice=call.agent.voice, replayed=True, **state["relay_ended"]
            )
        handoff = state.get("handoff") or ended.handoff or {}
        state.pop("thinking", None)  # nothing is being said any more
        if handoff.get("then") in ("hangup", "transfer"):
            transfer_to = str(handoff.get("transfer_to") or "") if handoff.get("then") == "transfer" else ""
            step = {"say": str(handoff.get("say") or ""), "then": "transfer" if transfer_to else "hangup"}
            step["transfer_to"] = transfer_to
            if transfer_to and not call.outcome:
                call.outcome = Call.Outcome.TRANSFERRED
            step["next_turn_url"] = ""
        elif ended.status == "failed" and not state.get("voicemail"):
            logger.warning("relay session of call %s failed (%s): going on turn at a time", call.pk, ended.error)
            # The Gather path's turn webhook answers the callee's next words from here.
            step = {
                "say": wording.line_for("say_again", call.agent),
                "then": "listen",
                "next_turn_url": webhook_url("telephony_turn", call=call, turn=state.get("turn", 0)),
                "transfer_to": "",
            }
        else:
            step = {"say": "", "then": "hangup", "next_turn_url": "", "transfer_to": ""}
        state["last_step"] = step
        state["relay_ended"] = step
        call.save(update_fields=["engine_state", "outcome"])
    return AgentStep(language=call.agent.language, voice=call.agent.voice, **step)
