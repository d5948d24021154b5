"""/campaigns: made with the campaign page's own form, run through campaigns.lifecycle (launch,
pause, resume, stop: the same refusals, the same activity log), counted by the selectors the
campaign and analytics pages read."""

from datetime import datetime, time

from ninja import Query, Router, Schema, Status

from campaigns.analytics.selectors import campaign_live_stats
from campaigns.lifecycle import services
from campaigns.lifecycle.approval import approval_pending
from campaigns.lifecycle.forms import CampaignForm
from campaigns.lifecycle.selectors import campaign_progress, campaigns_for_workspace
from campaigns.lifecycle.services import SETTINGS_OF_A_DRAFT
from campaigns.models import Campaign
from telephony.numbers import default_caller_number

from ..schemas import Credits, PageQuery, form_problem, own, page, refused

router = Router(tags=["Campaigns"])

# The form's field names, as the API calls them.
API_NAMES = {"agent": "agent_id", "contact_list": "list_id"}
FORM_NAMES = {api: form for form, api in API_NAMES.items()}


class CampaignIn(Schema):
    name: str
    # Why you are calling, in a sentence: shown to people looking up who called them. Required
    # (by the campaign form's rule, so its 422 names it with the others).
    purpose: str | None = None
    agent_id: int
    list_id: int
    caller_number: str | None = None  # one of the workspace's numbers or a shared one; default: the first
    max_concurrent_calls: int | None = None
    calling_hours_start: time | None = None  # in the callee's time, "09:00"
    calling_hours_end: time | None = None
    calling_days: list[int] | None = None  # 0 = Monday … 6 = Sunday
    retry_on: list[str] | None = None  # no_answer, busy, failed, voicemail
    max_attempts: int | None = None
    retry_delay_minutes: int | None = None
    budget_credits: str | None = None  # decimal string; none: no cap


class CampaignChange(Schema):
    """Any of a draft's settings; a paused campaign's, but its agent and list. Omitted: unchanged."""

    name: str | None = None
    purpose: str | None = None
    agent_id: int | None = None
    list_id: int | None = None
    caller_number: str | None = None
    max_concurrent_calls: int | None = None
    calling_hours_start: time | None = None
    calling_hours_end: time | None = None
    calling_days: list[int] | None = None
    retry_on: list[str] | None = None
    max_attempts: int | None = None
    retry_delay_minutes: int | None = None
    budget_credits: str | None = None  # "" removes the cap


class CampaignOut(Schema):
    id: int
    name: str
    purpose: str
    status: str
    status_reason: str
    agent_id: int
    list_id: int
    caller_number: str
    max_concurrent_calls: int
    calling_hours_start: time
    calling_hours_end: time
    calling_days: list[int]
    retry_on: list[str]
    max_attempts: int
    retry_delay_minutes: int
    budget_credits: Credits | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_list_id(campaign):
        return campaign.contact_list_id


class CampaignPage(Schema):
    data: list[CampaignOut]
    next_cursor: str | None


class OutcomeCount(Schema):
    outcome: str
    label: str
    kind: str
    count: int
    percent: int


class CampaignStats(Schema):
    status: str
    contacts_total: int
    contacts_queued: int
    contacts_completed: int
    contacts_failed: int
    contacts_skipped: int
    percent_done: int
    calls_dialing: int
    calls_in_progress: int
    calls_placed: int
    seconds_connected: int
    credits_spent: Credits
    answer_rate: float | None  # percent of finished calls answered
    success_rate: float | None  # percent of answered calls with a positive outcome
    outcomes: list[OutcomeCount]


def _form_data(sent: dict, *, current: Campaign | None = None) -> dict:
    """What the campaign page would post: the campaign's current settings (a new one's: the
    page's defaults), then the fields sent, by the form's names."""
    data = {}
    if current is not None:
        for name in SETTINGS_OF_A_DRAFT:
            value = getattr(current, Campaign._meta.get_field(name).attname)
            if value is not None:
                data[name] = value
    for name, value in sent.items():
        data[FORM_NAMES.get(name, name)] = value
    for name in ("calling_hours_start", "calling_hours_end"):
        if isinstance(data.get(name), time):
            data[name] = data[name].strftime("%H:%M")
    return data


def _campaign(request, campaign_id: int) -> Campaign:
    return own(campaigns_for_workspace(workspace=request.workspace), campaign_id, workspace=request.workspace)


@router.get("", response=CampaignPage, summary="List campaigns")
def campaigns_list(request, query: Query[PageQuery]):
    return page(campaigns_for_workspace(workspace=request.workspace), query)


@router.post("", response={201: CampaignOut}, summary="Create a campaign (a draft)")
def campaigns_create(request, body: CampaignIn):
    defaults = {
        "caller_number": default_caller_number(request.workspace),
        "max_concurrent_calls": Campaign._meta.get_field("max_concurrent_calls").default,
    }
    data = {**defaults, **_form_data(body.dict(exclude_none=True))}
    form = CampaignForm(data, workspace=request.workspace)
    if not form.is_valid():
        raise form_problem(form, fields=API_NAMES)
    campaign = form.save(commit=False)
    campaign.workspace = request.workspace
    campaign.save()
    return Status(201, campaign)


@router.get("/{int:campaign_id}", response=CampaignOut, summary="Get a campaign")
def campaigns_get(request, campaign_id: int):
    return _campaign(request, campaign_id)


@router.patch("/{int:campaign_id}", response=CampaignOut, summary="Change a draft's or paused campaign's settings")
def campaigns_update(request, campaign_id: int, body: CampaignChange):
    campaign = _campaign(request, campaign_id)
    editable = services.campaign_editable_settings(campaign)
    if not editable:
        raise refused(services.campaign_edit_refusal(campaign))
    sent = body.dict(exclude_none=True)
    form = CampaignForm(
        _form_data(sent, current=campaign), instance=campaign, workspace=request.workspace, editable=editable
    )
    if not form.is_valid():
        raise form_problem(form, fields=API_NAMES)
    # Settings that may not change now (a launched campaign's agent or list) go to the service
    # too, which refuses them with its own words.
    fixed = {FORM_NAMES.get(name, name): value for name, value in sent.items()}
    fixed = {name: value for name, value in fixed.items() if name not in editable}
    return services.campaign_update(campaign=campaign, changes={**form.changes(), **fixed})


@router.delete("/{int:campaign_id}", response={204: None}, summary="Delete a draft")
def campaigns_delete(request, campaign_id: int):
    services.campaign_delete(campaign=_campaign(request, campaign_id), by=request.auth.created_by)
    return Status(204, None)


@router.post(
    "/{int:campaign_id}/launch",
    response={200: CampaignOut, 202: CampaignOut},
    summary="Launch a draft (202: it waits for Clozit staff's approval, as a workspace's first campaign does)",
)
def campaigns_launch(request, campaign_id: int):
    campaign = services.campaign_launch(campaign=_campaign(request, campaign_id), by=request.auth.created_by)
    # Still a draft after a launch that raised nothing: it went to the staff queue; its
    # status_reason says so, and it launches by itself once approved.
    return Status(202 if approval_pending(campaign) else 200, campaign)


@router.post("/{int:campaign_id}/pause", response=CampaignOut, summary="Pause a running campaign")
def campaigns_pause(request, campaign_id: int):
    return services.campaign_pause(campaign=_campaign(request, campaign_id))


@router.post("/{int:campaign_id}/resume", response=CampaignOut, summary="Resume a paused campaign")
def campaigns_resume(request, campaign_id: int):
    return services.campaign_resume(campaign=_campaign(request, campaign_id))


@router.post("/{int:campaign_id}/stop", response=CampaignOut, summary="Stop a campaign for good")
def campaigns_stop(request, campaign_id: int):
    return services.campaign_stop(campaign=_campaign(request, campaign_id), by=request.auth.created_by)


@router.get("/{int:campaign_id}/stats", response=CampaignStats, summary="A campaign's progress and results")
def campaigns_stats(request, campaign_id: int):
    campaign = _campaign(request, campaign_id)
    progress = campaign_progress(campaign=campaign)
    numbers = campaign_live_stats(campaign=campaign).numbers
    return {
        "status": campaign.status,
        "contacts_total": progress["total"],
        "contacts_queued": progress["queued"],
        "contacts_completed": progress["completed"],
        "contacts_failed": progress["failed"],
        "contacts_skipped": progress["skipped"],
        "percent_done": progress["percent"],
        "calls_dialing": progress["dialing"],
        "calls_in_progress": progress["in_call"],
        "calls_placed": progress["placed"],
        "seconds_connected": progress["seconds"],
        "credits_spent": progress["credits"],
        "answer_rate": numbers.answer_rate,
        "success_rate": numbers.success_rate,
        "outcomes": numbers.outcome_rows,
    }
