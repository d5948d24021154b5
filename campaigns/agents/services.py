"""Saving and deleting agents: the rules the builder page and the API share."""

from django.db import transaction

from accounts import audit

from ..conversation.knowledge import knowledge_reindex
from ..errors import CampaignError
from ..models import Agent
from .forms import AgentForm


@transaction.atomic
def agent_save(*, form: AgentForm) -> Agent:
    """Save a valid AgentForm (a new agent or changes to one). Its knowledge passages' search
    vectors follow the language, so a new language re-indexes them."""
    agent = form.save()
    if "language" in form.changed_data:
        knowledge_reindex(agent)
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent, by) -> None:
    """Delete an agent no campaign uses (a campaign's calls need it); recorded in the activity log."""
    if agent.campaigns.exists():
        raise CampaignError("This agent is used by a campaign, so it cannot be deleted.")
    audit.record(
        workspace=agent.workspace_id,
        actor=by,
        action="agent.delete",
        summary=f"Deleted the agent “{agent.name}”.",
    )
    agent.delete()
