"""Conversation engines: given the agent, the contact and what the callee said, what next."""

from django.conf import settings

from .base import ConversationContext, ConversationEngine, Reply
from .scripted import ScriptedEngine

__all__ = ["ConversationContext", "ConversationEngine", "Reply", "engine_for", "engine_kind", "llm_configured"]


def llm_configured() -> bool:
    """Whether this deployment has an AI model (LLM_MODEL, with LLM_BASE_URL/LLM_API_KEY)."""
    return bool(getattr(settings, "LLM_MODEL", ""))


def engine_kind(agent) -> str:
    """ "llm" or "scripted": the agent's own choice, else the deployment default (the LLM engine
    when a model is configured). An agent set to "llm" on a deployment without a model runs
    scripted: a call must never depend on a model that is not there."""
    choice = getattr(agent, "engine", "") or ""
    if choice == "scripted" or not llm_configured():
        return "scripted"
    return "llm"


def engine_for(agent) -> ConversationEngine:
    """The engine that drives `agent`'s calls (see `engine_kind`)."""
    if engine_kind(agent) == "llm":
        from .llm import LLMEngine  # imported only when used: scripted-only setups never load openai

        return LLMEngine()
    return ScriptedEngine()
