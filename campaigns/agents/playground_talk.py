"""Talk to an agent in the browser: the playground over the same socket protocol as a phone call.

In "Talk" mode the browser plays the carrier's part of ConversationRelay: it recognises the
person's speech (or takes typed text), sends each finished utterance as a `prompt` frame, speaks
the `text` frames as they stream in, and sends `interrupt` when the person talks over the agent.
The socket is served by `telephony.relay.RelayConnection`, the same code that serves a carrier,
and each turn goes through the playground's own claim, answer and record steps
(`playground.turn_begin` / `turn_finish`), so it is charged exactly as a typed turn is: an answer
from an AI model costs `ledger.AI_QUERY_COST`, a scripted one nothing.

The socket is `/playground/talk/<session_id>/?token=…`: the token is signed by us, bound to the
conversation and its owner, and short-lived (RELAY_TOKEN_MAX_AGE_SECONDS); the page fetches a
fresh one each time Talk is switched on. The browser's Origin must be ours.
"""

import asyncio
import functools
import logging
import re
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signing
from django.db import close_old_connections

from telephony.relay import REFUSED, RelayConnection, RelayEnd

from ..conversation.engine import Reply
from ..conversation.knowledge import passages_for
from ..models import PlaygroundSession
from . import playground

logger = logging.getLogger(__name__)

TALK_PATH = re.compile(r"^/playground/talk/(?P<session_id>\d+)/$")
TALK_SALT = "clozit.playground-talk"


def _in_thread(function):
    """`function`, run in a worker thread as one unit of database work: as a request would, it
    drops a connection that is too old (CONN_MAX_AGE) or broken before and after. Not the
    thread-sensitive executor: that one thread would queue every conversation's database work."""

    @functools.wraps(function)
    def unit(*args, **kwargs):
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(unit, thread_sensitive=False)


def talk_path(session: PlaygroundSession) -> str:
    """The socket's path and query for the conversation's owner (the browser adds ws[s]://host)."""
    token = signing.TimestampSigner(salt=TALK_SALT).sign(f"{session.pk}:{session.workspace_id}")
    return f"/playground/talk/{session.pk}/?{urlencode({'token': token})}"


def _workspace_in_token(token: str, session_id: int) -> int | None:
    try:
        value = signing.TimestampSigner(salt=TALK_SALT).unsign(token, max_age=settings.RELAY_TOKEN_MAX_AGE_SECONDS)
    except signing.BadSignature:  # also SignatureExpired
        return None
    bound_session, _, workspace = value.partition(":")
    return int(workspace) if bound_session == str(session_id) and workspace.isdigit() else None


def _origin_is_ours(headers: dict) -> bool:
    """Browsers always send Origin on a WebSocket handshake; a page on another site must not be
    able to drive a conversation (and spend credits) even with a leaked token."""
    origin = urlsplit(headers.get("origin", ""))
    if not origin.hostname:
        return False
    ours = {urlsplit(settings.PUBLIC_BASE_URL).hostname, *settings.ALLOWED_HOSTS}
    return origin.hostname in ours or "*" in ours


class PlaygroundTalk:
    """One browser's talk with an agent: a `telephony.relay.RelaySession` over a playground
    conversation."""

    def __init__(self, session_id: int):
        self.session_id = session_id

    async def setup(self, frame: dict) -> None:
        return None

    async def reply(self, prompt: str):
        text = " ".join(prompt.split())[: playground.MAX_TEXT]
        from_callee = True
        for _ in range(playground.MAX_HOLD_RETRIES + 1):
            try:
                session, claim = await _in_thread(playground.turn_begin)(
                    self.session_id, text, None, from_callee=from_callee
                )
            except playground.PlaygroundError as exc:
                yield RelayEnd({"then": "hangup", "error": str(exc)})
                return
            if claim is None:
                return  # another tab answered this turn
            said: list[str] = []
            reply = None
            try:
                if text:
                    within = claim.ctx.deadline - time.monotonic()
                    claim.ctx.knowledge = await _in_thread(passages_for)(claim.ctx.agent, text, within=within)
                async for piece in claim.engine.respond_stream(claim.ctx, text):
                    if isinstance(piece, Reply):
                        reply = piece
                    elif piece:
                        said.append(piece)
                        yield piece
                reply = reply or Reply(say="".join(said))
                # A reply that ends the call is not streamed (a carrier says it after the hand-back):
                # the browser is the carrier here, so it gets the words now.
                unsaid = reply.say[len("".join(said)) :] if reply.say.startswith("".join(said)) else ""
                if unsaid.strip():
                    yield unsaid
                session = await _in_thread(playground.turn_finish)(claim, reply)
            except asyncio.CancelledError:
                # Talked over: what was said so far is the agent's line (`interrupted` trims it to
                # what was heard). The model was asked, so a paid turn is charged.
                cut_short = Reply(say="".join(said), used_model=bool(said) or None)
                await asyncio.shield(_in_thread(_finish_or_forget)(claim, cut_short))
                raise
            except Exception:
                await _in_thread(playground.turn_failed)(claim)
                logger.exception("a playground talk turn failed")
                yield RelayEnd({"then": "hangup", "error": "That did not go through. Please say it again."})
                return
            if session.ended:
                yield RelayEnd({"then": "hangup", "notice": _last_notice(session)})
                return
            if not session.engine_state.get("holding"):
                return
            text, from_callee = "", False  # a holding line: the model is asked again at once

    async def dtmf(self, digit: str):
        return
        yield  # a key press means nothing in the playground

    async def reply_finished(self, *, first_frame_ms: float | None, completed: bool) -> None:
        return None

    async def interrupted(self, *, heard: str, after_ms: int | None) -> None:
        await _in_thread(playground.playground_interrupted)(self.session_id, heard=heard)

    async def closed(self) -> None:
        return None


def _finish_or_forget(claim, reply: Reply) -> None:
    if reply.say:
        playground.turn_finish(claim, reply)
    else:
        playground.turn_failed(claim)


def _last_notice(session: PlaygroundSession) -> str:
    for line in reversed(session.transcript):
        if line.get("speaker") == "agent":
            return line.get("notice") or ""
    return ""


def _open_talk(session_id: int, workspace_id: int) -> bool:
    return PlaygroundSession.objects.filter(
        pk=session_id, workspace_id=workspace_id, workspace__closing_requested_at__isnull=True, ended=False
    ).exists()


async def playground_talk_app(scope, receive, send) -> None:
    """ASGI app for the playground's talk sockets (routed by clozit.asgi)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    match = TALK_PATH.match(scope.get("path", ""))
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
    params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    session_id = int(match["session_id"]) if match else 0
    workspace_id = _workspace_in_token(params.get("token", ""), session_id) if match else None
    if (
        workspace_id is None
        or not _origin_is_ours(headers)
        or not await _in_thread(_open_talk)(session_id, workspace_id)
    ):
        logger.warning("refused a playground talk socket for conversation %s", session_id)
        await send({"type": "websocket.close", "code": REFUSED})
        return
    await send({"type": "websocket.accept"})
    await RelayConnection(PlaygroundTalk(session_id), receive, send).serve()
