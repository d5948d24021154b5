"""An agent's knowledge base: sources split into passages, and retrieval of the passages most
relevant to what the callee said."""

from .engine.base import Passage


def passages_for(agent, query: str, *, limit: int = 3) -> list[Passage]:
    """The agent's passages that best match `query`, best first."""
    return []
