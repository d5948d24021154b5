"""What an engine reads from an agent beyond its lines: outcomes, capture fields, end-call phrases."""

from ..models import default_outcomes

# Outcomes that say how a call went wrong or was put off, never that its goal was reached.
NOT_SUCCESS = frozenset({"not_interested", "call_back", "wrong_person", "do_not_call", "no_response"})


def _named(items) -> list[dict]:
    """[{"name", "description"}] entries with a name, tolerant of hand-edited JSON."""
    named = []
    for item in items or []:
        if isinstance(item, dict) and str(item.get("name") or "").strip():
            named.append({"name": str(item["name"]).strip(), "description": str(item.get("description") or "").strip()})
    return named


def agent_outcomes(agent) -> list[dict]:
    """The outcomes the agent's calls count; an agent with none defined uses the defaults."""
    return _named(getattr(agent, "outcomes", None)) or default_outcomes()


def agent_capture_fields(agent) -> list[dict]:
    return _named(getattr(agent, "capture_fields", None))


def success_outcome(agent) -> str:
    """The outcome of a call that went through the whole script: "interested" when the agent
    counts it, else the agent's first outcome that is not a refusal or a put-off."""
    names = [o["name"] for o in agent_outcomes(agent)]
    if "interested" in names:
        return "interested"
    return next((name for name in names if name not in NOT_SUCCESS), "interested")
