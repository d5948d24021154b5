import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async

# {{name}} or {{name|fallback}}: the fallback is said when the contact has no value for `name`.
# One group (the name), so VARIABLE.findall lists names; FILL also captures the fallback.
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|[^{}]*)?\}\}")
FILL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^{}]*))?\}\}")
# Where a variable became nothing: the space before it goes when punctuation, another space or the
# end of the line follows.
_NOTHING = "\x00"
_NOTHING_BEFORE_PUNCTUATION = re.compile(r"[ \t]*\x00(?=[,.!?;:]|$)", re.MULTILINE)
_NOTHING_BETWEEN_SPACES = re.compile(r" \x00(?= )")


@dataclass(frozen=True)
class Passage:
    """A knowledge-base passage retrieved for the current turn."""

    id: int
    source: str
    text: str


@dataclass
class ConversationContext:
    """Everything an engine may read; `state` is the engine's own and is saved between turns.

    `knowledge` holds the agent's passages most relevant to what the callee just said. `respond`
    leaves in it only the passages its reply was answered from (none for a reply that used none):
    the platform stores those with the reply, and the call page says "Answered from N knowledge
    passages" only for them."""

    agent: object
    variables: dict
    state: dict = field(default_factory=dict)
    knowledge: list[Passage] = field(default_factory=list)
    # When the turn's answer is due (time.monotonic()): an engine that asks a model stops
    # waiting then and uses its holding line. None: the engine starts the clock itself.
    deadline: float | None = None

    def fill(self, text: str) -> str:
        """Replace {{name}} with the contact's value, and {{name|fallback}} with the fallback when
        the contact has no value (none, or only spaces). Never raw braces: a variable with neither
        becomes nothing, and the space before it goes ("Hi {{first_name}}, …" → "Hi, …")."""

        def value(match: re.Match) -> str:
            found = self.variables.get(match.group(1))
            said = str(found).strip() if found is not None else ""
            if not said and match.group(2) is not None:
                said = match.group(2).strip()
            return said or _NOTHING

        filled = FILL.sub(value, text)
        if _NOTHING in filled:
            filled = _NOTHING_BEFORE_PUNCTUATION.sub("", filled)
            filled = _NOTHING_BETWEEN_SPACES.sub("", filled).replace(_NOTHING, "")
        return filled.replace("  ", " ")


@dataclass
class Reply:
    say: str
    end_call: bool = False
    outcome: str = ""
    do_not_call: bool = False
    captured: dict = field(default_factory=dict)
    # Hand the call to the agent's transfer number after saying `say` (ends the agent's part).
    transfer: bool = False
    # The model is slow or failing: `say` is a short holding line, and the platform asks the
    # engine again at once (respond(ctx, "") with the engine's own state telling it to retry).
    hold: bool = False
    # Whether an AI model produced this reply (None: the engine does not say). AI turns that
    # are paid for per use (the playground) are charged only when this is True.
    used_model: bool | None = None
    # Streamed replies: milliseconds from the request to the model's first token (its own TTFT).
    model_first_token_ms: float | None = None


class ConversationEngine:
    # True for an engine whose turns ask an AI model (and so may cost credits per turn).
    uses_model: bool = False

    def start(self, ctx: ConversationContext) -> Reply:
        """The agent's first words once a person answers."""
        raise NotImplementedError

    def respond(self, ctx: ConversationContext, speech: str) -> Reply:
        """The agent's answer to what the callee just said ('' for silence)."""
        raise NotImplementedError

    async def respond_stream(self, ctx: ConversationContext, speech: str) -> AsyncIterator[str | Reply]:
        """`respond`, as it comes: text pieces to say at once, in order, then the `Reply` (last).

        The Reply's `say` is everything the agent says this turn: the pieces, then any words not
        streamed. A reply that ends the call (or transfers it) before any piece went out is not
        streamed at all: its words are said by the carrier once the conversation hands the call
        back. Never holds a database connection or lock while it waits.

        This default runs `respond` in a worker thread (it may block on a model) and yields its
        words whole, so every engine streams."""
        reply = await sync_to_async(self.respond, thread_sensitive=False)(ctx, speech)
        if reply.say and not reply.end_call:
            yield reply.say
        yield reply

    def interrupted(self, state: dict, heard: str) -> None:
        """The callee spoke over the last reply and heard only `heard` of it: an engine that keeps
        the conversation's history in `state` keeps only that. Nothing to do by default."""

    def voicemail(self, ctx: ConversationContext) -> Reply:
        message = ""
        if ctx.agent.voicemail_action == "message":
            message = ctx.fill(ctx.agent.voicemail_message or "")
        return Reply(say=message, end_call=True, outcome="voicemail")
