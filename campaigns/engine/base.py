import re
from dataclasses import dataclass, field

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


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
        """Replace {{name}} with the contact's value; an unknown variable becomes empty, never raw braces."""
        return VARIABLE.sub(lambda m: str(self.variables.get(m.group(1), "")).strip(), text).replace("  ", " ")


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


class ConversationEngine:
    # True for an engine whose turns ask an AI model (and so may cost credits per turn).
    uses_model: bool = False

    def start(self, ctx: ConversationContext) -> Reply:
        """The agent's first words once a person answers."""
        raise NotImplementedError

    def respond(self, ctx: ConversationContext, speech: str) -> Reply:
        """The agent's answer to what the callee just said ('' for silence)."""
        raise NotImplementedError

    def voicemail(self, ctx: ConversationContext) -> Reply:
        message = ""
        if ctx.agent.voicemail_action == "message":
            message = ctx.fill(ctx.agent.voicemail_message or "")
        return Reply(say=message, end_call=True, outcome="voicemail")
