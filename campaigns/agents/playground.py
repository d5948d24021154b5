"""The agent playground: a text conversation with an agent, run by the same engine as its calls.

The playground shows what a call would do and never does it: nobody is dialled, nothing is added
to the do-not-call list, no call is transferred. Turns answered by an AI model cost
`ledger.AI_QUERY_COST` each, reserved before the model is asked and charged only when the model
produced the answer; scripted turns are free.

A turn runs in short transactions, none open while the model thinks, as a call's turn does:
(1) lock the session, check the turn, reserve the credit; (2) record the callee's words and a
`thinking` mark; then, with nothing locked, search the knowledge base and ask the engine within
the turn's deadline (TURN_DEADLINE_SECONDS); (3) if the mark is still this submission's, record
the reply and settle or release the credit. The turn number and the mark make a repeated
submission harmless: whichever copy arrives second finds the turn taken. A turn that fails
leaves nothing behind (its words, its mark and its reservation go) and can be sent again.
"""

import copy
import dataclasses
import logging
import re
import time
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from billing import ledger
from billing.models import CreditHold

from ..calls import services as calls
from ..conversation.engine import ConversationContext, Reply, engine_for
from ..conversation.engine.base import VARIABLE
from ..conversation.knowledge import passages_for
from ..errors import CampaignError
from ..models import Agent, Call, ContactList, PlaygroundSession

logger = logging.getLogger(__name__)

SAMPLE_VARIABLES = {"first_name": "Alex", "last_name": "Sample", "phone_number": "+12025550100"}
MAX_TEXT = 1000
MAX_VARIABLES = 30
MAX_VALUE = 300
# A model that keeps answering with holding lines is asked again at most this often per submission.
MAX_HOLD_RETRIES = 2
SILENCE = "(silence)"
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The agent's lines that may use contact variables.
VARIABLE_FIELDS = ("opening_line", "questions", "answers", "closing_line", "voicemail_message", "persona", "goal")


class PlaygroundError(CampaignError):
    """A playground request refused; the message is written for the user."""


def engine_uses_model(engine) -> bool:
    """True for an engine whose turns ask an AI model (and so cost credits)."""
    return bool(getattr(engine, "uses_model", False)) or type(engine).__name__ == "LLMEngine"


def engine_label(engine) -> str:
    if engine_uses_model(engine):
        model = getattr(settings, "LLM_MODEL", "")
        return f"{Agent.Engine.LLM.label}{f' · {model}' if model else ''}"
    return str(Agent.Engine.SCRIPTED.label)


def playground_sample_variables(*, workspace) -> dict:
    """A contact to play with: the first of the owner's most recent list, else a made-up one."""
    contact_list = ContactList.objects.filter(workspace=workspace).order_by("-created_at", "-id").first()
    contact = contact_list.contacts.order_by("id").first() if contact_list else None
    if contact is None:
        return dict(SAMPLE_VARIABLES)
    own = {"first_name": contact.first_name, "last_name": contact.last_name, "phone_number": contact.phone_number}
    # The contact's own fields win over CSV columns of the same name, as on a call.
    return {**own, **{name: value for name, value in contact.variables.items() if name not in own}}


def agent_variable_names(agent) -> list[str]:
    """The contact variables the agent's lines use, in order of first use."""
    names: dict[str, None] = {}
    for field in VARIABLE_FIELDS:
        for name in VARIABLE.findall(getattr(agent, field, "") or ""):
            names.setdefault(name)
    return list(names)


def _clean_variables(variables: dict, *, strict: bool = True) -> dict:
    """Names an agent's lines can use, with short text values. Not strict (a sample contact's
    CSV columns): a name the lines could never use is dropped instead of refused."""
    cleaned = {}
    for name, value in variables.items():
        name = str(name).strip()
        if not VARIABLE_NAME.match(name):
            if strict:
                raise PlaygroundError(f"“{name}” is not a variable name: use letters, digits and _.")
            continue
        cleaned[name] = str(value if value is not None else "").strip()[:MAX_VALUE]
    if len(cleaned) > MAX_VARIABLES:
        if strict:
            raise PlaygroundError(f"Use at most {MAX_VARIABLES} variables.")
        cleaned = dict(list(cleaned.items())[:MAX_VARIABLES])
    return cleaned


def _opening(agent, say: str) -> str:
    """The notices a call starts with (AI disclosure, recording notice), then the engine's words."""
    return calls.opening_words(agent, say)


def _notice(session: PlaygroundSession, reply: Reply) -> str:
    """What a real call would do now, said in words instead of done."""
    agent = session.agent
    if reply.transfer:
        if agent.transfer_number:
            return f"The call would be transferred to {agent.transfer_number}."
        return "The callee asked for a person, but this agent has no transfer number: the call would end here."
    if reply.do_not_call:
        number = session.variables.get("phone_number") or "This number"
        return f"{number} would be added to your do-not-call list (the playground adds nothing)."
    if reply.outcome == Call.Outcome.VOICEMAIL:
        if reply.say:
            return "An answering machine picked up: the agent would leave this message and hang up."
        return "An answering machine picked up: the agent would hang up without leaving a message."
    if reply.outcome == Call.Outcome.TECHNICAL_FAILURE:
        return "The AI model did not answer, so the agent would apologise and hang up. This turn was not charged."
    if reply.hold and not reply.end_call:
        return "The AI model was slow: the agent would say this holding line and ask the model again."
    if reply.end_call:
        return "The agent would hang up here."
    return ""


def _apply(session: PlaygroundSession, reply: Reply, *, passages=(), charged: bool = False) -> None:
    """Record the agent's reply the way calls._apply_reply records a call's, minus the side effects."""
    notice = _notice(session, reply)
    if reply.say or notice:
        session.transcript.append(
            {
                "speaker": "agent",
                "text": reply.say,
                "passages": [dataclasses.asdict(p) for p in passages],
                "notice": notice,
                "charged": charged,
            }
        )
    session.engine_state["holding"] = reply.hold and not reply.end_call
    # Recorded exactly as a call would record it.
    session.captured, session.outcome = calls.reply_record(
        reply, agent=session.agent, captured=session.captured, outcome=session.outcome
    )
    # A transfer ends the agent's part of the call, with or without a number to transfer to.
    session.ended = session.ended or reply.end_call or reply.transfer
    if charged:
        session.llm_turns_charged += 1
    session.engine_state["turn"] = session.engine_state.get("turn", 0) + 1


def playground_start(
    workspace, agent, variables: dict | None = None, *, answered_by: str = "human"
) -> PlaygroundSession:
    """A new conversation with `agent`, opened with the agent's first words (or, with
    answered_by="machine", what it would leave on voicemail). Free: no model is asked."""
    if agent.workspace_id != workspace.pk:
        raise PlaygroundError("This agent is not yours.")
    if variables is None:
        variables = _clean_variables(playground_sample_variables(workspace=workspace), strict=False)
    else:
        variables = _clean_variables(variables)
    with transaction.atomic():
        session = PlaygroundSession.objects.create(workspace=workspace, agent=agent, variables=variables)
        engine = engine_for(agent)
        ctx = ConversationContext(agent=agent, variables=session.variables, state=session.engine_state)
        if answered_by == "machine":
            reply = engine.voicemail(ctx)
        else:
            reply = engine.start(ctx)
            reply.say = _opening(agent, reply.say)
        _apply(session, reply)
        session.save()
    return session


def _reference(session_pk: int, turn: int) -> str:
    """The ledger reference for one turn's price. A turn still unanswered whose reservation is
    already closed failed on an earlier try (and was released): its next try is priced anew."""
    base = reference = f"playground:{session_pk}:{turn}"
    attempt = 1
    while CreditHold.objects.filter(reference=reference).exclude(status=CreditHold.Status.ACTIVE).exists():
        attempt += 1
        reference = f"{base}:try{attempt}"
    return reference


def _locked(pk: int) -> PlaygroundSession:
    return PlaygroundSession.objects.select_for_update(of=("self",)).select_related("agent", "workspace").get(pk=pk)


@dataclasses.dataclass
class TurnClaim:
    """A turn taken for one submission, to be answered with nothing locked: the engine, its
    context, the `thinking` mark's token, and the credit reserved for it (when it is paid)."""

    pk: int
    turn: int
    engine: object
    ctx: ConversationContext
    token: str
    paid: bool
    reference: str


def turn_begin(
    pk: int, text: str, turn: int | None, *, from_callee: bool
) -> tuple[PlaygroundSession, TurnClaim | None]:
    """Check the turn, reserve its credit, record the callee's words and mark the turn as being
    thought about. No claim (None): the turn was answered or is being answered by another
    submission of it; nothing changed."""
    with transaction.atomic():
        session = _locked(pk)
        current = session.engine_state.get("turn", 0)
        if turn is not None and turn != current:
            return session, None
        if session.ended:
            raise PlaygroundError("This conversation has ended. Start a new one to keep trying the agent.")
        engine = engine_for(session.agent)
        paid = engine_uses_model(engine)
        reference = ""
        if paid:
            reference = _reference(session.pk, current)
            try:
                ledger.ai_query_reserve(workspace=session.workspace, reference=reference)
            except ledger.InsufficientCredits:
                raise PlaygroundError(
                    f"An AI turn costs {ledger.AI_QUERY_COST} credit; add credits to keep talking to this agent."
                ) from None
    try:
        claimed = _claim(pk, current, text, from_callee=from_callee, paid=paid, reference=reference)
    except Exception:
        _release(paid, reference)
        raise
    if claimed is None:
        # The same turn, submitted twice at once: the other copy answers it (and settles its credit).
        return PlaygroundSession.objects.select_related("agent", "workspace").get(pk=pk), None
    ctx, token = claimed
    claim = TurnClaim(pk=pk, turn=current, engine=engine, ctx=ctx, token=token, paid=paid, reference=reference)
    return session, claim


def turn_finish(claim: TurnClaim, reply: Reply) -> PlaygroundSession:
    """Record the engine's reply and settle (or release) the turn's credit, if the turn is still
    this submission's."""
    with transaction.atomic():
        session = _locked(claim.pk)
        if (session.engine_state.get("thinking") or {}).get("token") != claim.token:
            raise PlaygroundError("That message did not go through. Please send it again.")
        used_model = getattr(reply, "used_model", None)  # an engine may say exactly when it asked the model
        if used_model is None:
            used_model = reply.outcome != Call.Outcome.TECHNICAL_FAILURE and not reply.hold
        charged = claim.paid and bool(used_model)
        session.engine_state = claim.ctx.state
        session.engine_state.pop("thinking", None)
        _apply(session, reply, passages=claim.ctx.knowledge, charged=charged)  # only those the reply used
        session.save()
        if charged:
            # Ledger entries can never be changed or erased: no agent's name (its owner's words) in the memo.
            ledger.ai_query_settle(reference=claim.reference, memo=f"Playground turn with agent {session.agent_id}")
        elif claim.paid:
            ledger.hold_release(reference=claim.reference)
    return session


def turn_failed(claim: TurnClaim) -> None:
    """A turn that failed leaves nothing behind: its words, its mark and its reservation go."""
    _forget_claim(claim.pk, claim.turn)
    _release(claim.paid, claim.reference)


def _release(paid: bool, reference: str) -> None:
    if not paid:
        return
    try:
        ledger.hold_release(reference=reference)  # the turn was rolled back: so is its price
    except Exception:  # the hold expires on its own (holds_release_expired); keep the first error
        logger.exception("could not release playground hold %s", reference)


def _turn(pk: int, text: str, turn: int | None, *, from_callee: bool) -> tuple[PlaygroundSession, bool]:
    """One exchange. Returns the session and whether this call did it (False: another
    submission of the same turn did, or will; nothing changed)."""
    session, claim = turn_begin(pk, text, turn, from_callee=from_callee)
    if claim is None:
        return session, False
    try:
        if text:
            claim.ctx.knowledge = passages_for(claim.ctx.agent, text, within=claim.ctx.deadline - time.monotonic())
        reply = claim.engine.respond(claim.ctx, text)  # no transaction open, nothing locked: a model may take seconds
        session = turn_finish(claim, reply)
    except Exception:
        turn_failed(claim)
        raise
    return session, True


def _claim(pk: int, turn: int, text: str, *, from_callee: bool, paid: bool, reference: str):
    """The turn taken for this submission, in one short transaction: the callee's words recorded
    and a `thinking` mark set. Returns (the engine's context, the mark's token), or None when
    another submission of the turn is answering it."""
    with transaction.atomic():
        session = _locked(pk)
        thinking = session.engine_state.get("thinking") or {}
        if session.engine_state.get("turn", 0) != turn or thinking.get("until", 0) > time.time():
            return None
        if paid and not ledger.hold_is_active(reference=reference):
            # The other copy failed and freed the credit: answering now would be unpaid.
            raise PlaygroundError("That message did not go through. Please send it again.")
        if thinking:  # left by a submission that died: its words are taken again from this one
            del session.transcript[thinking.get("lines", len(session.transcript)) :]
        token = uuid.uuid4().hex
        session.engine_state["thinking"] = {
            "token": token,
            "until": time.time() + float(settings.TURN_DEADLINE_SECONDS) + calls.THINKING_GRACE_SECONDS,
            "lines": len(session.transcript),
        }
        if from_callee:
            session.transcript.append({"speaker": "callee", "text": text or SILENCE, "passages": []})
        session.save(update_fields=["engine_state", "transcript"])
        ctx = ConversationContext(
            agent=session.agent,
            variables=session.variables,
            state=copy.deepcopy(session.engine_state),
            deadline=time.monotonic() + float(settings.TURN_DEADLINE_SECONDS),
        )
    return ctx, token


def _forget_claim(pk: int, turn: int) -> None:
    """A turn that failed leaves nothing behind: the callee's words go, the mark goes, and the
    same words can be sent again."""
    with transaction.atomic():
        session = PlaygroundSession.objects.select_for_update().filter(pk=pk).first()
        if session is None or session.engine_state.get("turn", 0) != turn:
            return
        thinking = session.engine_state.pop("thinking", None)
        if thinking is None:
            return
        del session.transcript[thinking.get("lines", len(session.transcript)) :]
        session.save(update_fields=["engine_state", "transcript"])


def playground_say(session: PlaygroundSession, text: str, *, turn: int | None = None) -> PlaygroundSession:
    """The callee (the user) says `text` ('' for silence); the agent answers. `turn` is the turn
    the user answered (engine_state["turn"] as the page showed it): a repeated submission of a
    turn already answered changes nothing and charges nothing. Raises PlaygroundError."""
    text = " ".join((text or "").split())[:MAX_TEXT]
    session, acted = _turn(session.pk, text, turn, from_callee=True)
    retries = 0
    # A holding line: on a call the platform asks the engine again at once; so does the playground.
    while acted and session.engine_state.get("holding") and not session.ended and retries < MAX_HOLD_RETRIES:
        retries += 1
        session, acted = _turn(session.pk, "", session.engine_state.get("turn", 0), from_callee=False)
    return session


def playground_interrupted(pk: int, *, heard: str) -> None:
    """The person talked over the agent (Talk mode): its last line keeps only what was heard, as
    a call's transcript does, so the conversation goes on from there."""
    with transaction.atomic():
        session = PlaygroundSession.objects.select_for_update().select_related("agent").filter(pk=pk).first()
        if session is None or not session.transcript or session.transcript[-1].get("speaker") != "agent":
            return
        line = session.transcript[-1]
        heard = " ".join(heard.split())
        if len(heard) < len(line.get("text", "")):
            line["text"], line["interrupted"] = heard, True
            engine_for(session.agent).interrupted(session.engine_state, heard)  # its history too
            session.save(update_fields=["transcript", "engine_state"])


def playground_credits(session: PlaygroundSession) -> Decimal:
    """Credits this session has cost."""
    return session.llm_turns_charged * ledger.AI_QUERY_COST
