"""/agents: the agents of the workspace, made and changed with the builder page's own form (so
every rule the page checks, the API checks, with the same messages)."""

from datetime import datetime

from django.forms.models import model_to_dict
from ninja import Query, Router, Schema, Status

from campaigns.agents.forms import AgentForm, named_lines_text
from campaigns.agents.services import agent_delete, agent_save
from campaigns.conversation.engine.spec import agent_outcomes
from campaigns.models import Agent

from ..schemas import PageQuery, form_problem, own, page

router = Router(tags=["Agents"])


class Outcome(Schema):
    name: str
    description: str = ""
    kind: str = ""  # positive, neutral or negative


class CaptureField(Schema):
    name: str
    description: str = ""


class AgentFields(Schema):
    """The fields the agent builder edits. Omitted fields keep their value (on create: the page's default)."""

    name: str | None = None
    language: str | None = None
    voice: str | None = None
    engine: str | None = None
    transport: str | None = None
    persona: str | None = None
    goal: str | None = None
    opening_line: str | None = None
    questions: str | None = None
    answers: str | None = None
    closing_line: str | None = None
    end_call_phrases: str | None = None
    outcomes: list[Outcome] | None = None
    capture_fields: list[CaptureField] | None = None
    transfer_number: str | None = None
    transfer_when: str | None = None
    voicemail_action: str | None = None
    voicemail_message: str | None = None
    ai_disclosure: str | None = None
    record_calls: bool | None = None
    mention_who_called: bool | None = None  # say where callees can see who called and opt out
    max_call_seconds: int | None = None


class AgentOut(Schema):
    id: int
    name: str
    language: str
    voice: str
    engine: str
    transport: str
    persona: str
    goal: str
    opening_line: str
    questions: str
    answers: str
    closing_line: str
    end_call_phrases: str
    outcomes: list[Outcome]
    capture_fields: list[CaptureField]
    transfer_number: str
    transfer_when: str
    voicemail_action: str
    voicemail_message: str
    ai_disclosure: str
    record_calls: bool
    mention_who_called: bool
    max_call_seconds: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_outcomes(agent):
        return agent_outcomes(agent)


class AgentPage(Schema):
    data: list[AgentOut]
    next_cursor: str | None


def _form_data(agent: Agent, fields: AgentFields) -> dict:
    """What the builder page would post: the agent's current values, then the fields sent."""
    data = model_to_dict(agent, fields=AgentForm._meta.fields)
    data["outcomes"] = agent_outcomes(agent)
    data["capture_fields"] = named_lines_text(agent.capture_fields)
    for name, value in fields.dict(exclude_unset=True).items():
        if value is None:
            continue
        if name == "capture_fields":
            value = named_lines_text(value)
        data[name] = value
    # A checkbox absent from a post means False; the API's own omission means "unchanged".
    for checkbox in ("record_calls", "mention_who_called"):
        if not data.get(checkbox):
            data.pop(checkbox, None)
    return data


def _saved(request, agent: Agent, fields: AgentFields) -> Agent:
    form = AgentForm(_form_data(agent, fields), instance=agent, workspace=request.workspace)
    if not form.is_valid():
        raise form_problem(form)
    return agent_save(form=form)


@router.get("", response=AgentPage, summary="List agents")
def agents_list(request, query: Query[PageQuery]):
    return page(Agent.objects.filter(workspace=request.workspace), query)


@router.post("", response={201: AgentOut}, summary="Create an agent")
def agents_create(request, body: AgentFields):
    return Status(201, _saved(request, Agent(workspace=request.workspace), body))


@router.get("/{int:agent_id}", response=AgentOut, summary="Get an agent")
def agents_get(request, agent_id: int):
    return own(Agent.objects, agent_id, workspace=request.workspace)


@router.patch("/{int:agent_id}", response=AgentOut, summary="Update an agent")
def agents_update(request, agent_id: int, body: AgentFields):
    return _saved(request, own(Agent.objects, agent_id, workspace=request.workspace), body)


@router.delete("/{int:agent_id}", response={204: None}, summary="Delete an agent")
def agents_delete(request, agent_id: int):
    agent_delete(agent=own(Agent.objects, agent_id, workspace=request.workspace), by=request.auth.created_by)
    return Status(204, None)
