"""Conversation engines: given the agent, the contact and what the callee said, what next."""

from django.conf import settings

from .base import ConversationContext, ConversationEngine, Reply
from .scripted import ScriptedEngine

__all__ = ["ConversationContext", "ConversationEngine", "Reply", "engine_for"]


def engine_for(agent) -> ConversationEngine:
    """The engine that drives `agent`'s calls: the LLM engine when LLM_MODEL is set (with
    LLM_BASE_URL/LLM_API_KEY), else the offline scripted engine."""
    if getattr(settings, "LLM_MODEL", ""):
        from .llm import LLMEngine  # imported only when used: scripted-only setups never load openai

        return LLMEngine()
    return ScriptedEngine()
