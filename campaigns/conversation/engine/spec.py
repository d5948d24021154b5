"""What an engine reads from an agent beyond its lines: outcomes (and what each counts as),
capture fields, end-call phrases."""

from ...models import default_outcomes

# Outcomes that say how a call went wrong or was put off, never that its goal was reached.
NOT_SUCCESS = frozenset({"not_interested", "call_back", "wrong_person", "do_not_call", "no_response"})

# What an outcome counts as in analytics: reaching the call's goal, falling short of it, or neither.
POSITIVE, NEUTRAL, NEGATIVE = "positive", "neutral", "negative"
KINDS = (POSITIVE, NEUTRAL, NEGATIVE)
KIND_LABELS = {POSITIVE: "Positive", NEUTRAL: "Neutral", NEGATIVE: "Negative"}
# The platform's outcomes mean the same on every agent: their kind is fixed, whatever an agent says.
PLATFORM_KINDS = {
    "interested": POSITIVE,
    "transferred": POSITIVE,
    "not_interested": NEGATIVE,
    "do_not_call": NEGATIVE,
    "wrong_person": NEGATIVE,
    "hung_up": NEGATIVE,
    "call_back": NEUTRAL,
    "voicemail": NEUTRAL,
    "no_response": NEUTRAL,
    "time_limit": NEUTRAL,
    "technical_failure": NEUTRAL,
}


def _named(items) -> list[dict]:
    """[{"name", "description", "kind"}] entries with a name, tolerant of hand-edited JSON. An
    entry without a valid kind keeps "" here (see `outcome_kinds` for what it counts as)."""
    named = []
    for item in items or []:
        if isinstance(item, dict) and str(item.get("name") or "").strip():
            kind = str(item.get("kind") or "").strip().lower()
            named.append(
                {
                    "name": str(item["name"]).strip(),
                    "description": str(item.get("description") or "").strip(),
                    "kind": kind if kind in KINDS else "",
                }
            )
    return named


def _legacy_success(names: list[str]) -> str:
    """The outcome a completed script ended with before outcomes had kinds."""
    if "interested" in names:
        return "interested"
    return next((name for name in names if name not in NOT_SUCCESS), "")


def outcome_kinds(outcomes) -> dict[str, str]:
    """Every outcome an agent's calls can end with -> its kind, from the agent's `outcomes` JSON.

    The platform's outcomes keep their fixed kind (PLATFORM_KINDS). An agent's own outcome counts
    as the agent says; one saved before outcomes had kinds counts as positive when it is the one
    a completed script ends with (what the scripted engine always treated as success), else
    neutral. An outcome the agent no longer lists counts as neutral (`kind_of`)."""
    kinds = dict(PLATFORM_KINDS)
    entries = _named(outcomes)
    success = _legacy_success([e["name"] for e in entries])
    for entry in entries:
        name = entry["name"]
        if name in PLATFORM_KINDS:
            continue
        kinds[name] = entry["kind"] or (POSITIVE if name == success else NEUTRAL)
    return kinds


def kind_of(kinds: dict[str, str], outcome: str) -> str:
    return kinds.get(outcome, NEUTRAL)


def agent_outcomes(agent) -> list[dict]:
    """The outcomes the agent's calls count, each with its kind; an agent with none defined uses
    the defaults."""
    source = getattr(agent, "outcomes", None)
    if not _named(source):
        source = default_outcomes()
    kinds = outcome_kinds(source)
    return [{**entry, "kind": kinds[entry["name"]]} for entry in _named(source)]


def agent_capture_fields(agent) -> list[dict]:
    fields = _named(getattr(agent, "capture_fields", None))
    return [{"name": f["name"], "description": f["description"]} for f in fields]


def success_outcome(agent) -> str:
    """The outcome of a call that went through the whole script: "interested" when the agent
    counts it, else the agent's first positive outcome, else its first that is neither negative
    nor a put-off, else "interested"."""
    outcomes = agent_outcomes(agent)
    names = [o["name"] for o in outcomes]
    if "interested" in names:
        return "interested"
    positive = next((o["name"] for o in outcomes if o["kind"] == POSITIVE), "")
    if positive:
        return positive
    return next(
        (o["name"] for o in outcomes if o["kind"] != NEGATIVE and o["name"] not in NOT_SUCCESS),
        "interested",
    )
