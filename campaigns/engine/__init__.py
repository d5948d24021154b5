"""Conversation engines: given the agent, the contact and what the callee said, what next."""

from .base import ConversationContext, ConversationEngine, Reply
from .scripted import ScriptedEngine

__all__ = ["ConversationContext", "ConversationEngine", "Reply", "engine_for"]


def engine_for(agent) -> ConversationEngine:
    """The engine that drives `agent`'s calls. Only the scripted engine exists so far; the LLM
    engine (LLM_BASE_URL/LLM_MODEL) plugs in here."""
    return ScriptedEngine()
