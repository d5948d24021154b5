import re
from dataclasses import dataclass, field

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass
class ConversationContext:
    """Everything an engine may read; `state` is the engine's own and is saved between turns."""

    agent: object
    variables: dict
    state: dict = field(default_factory=dict)

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


class ConversationEngine:
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
