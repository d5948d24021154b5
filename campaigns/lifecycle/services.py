"""Campaign rules: launching (now or at a scheduled time), pausing, resuming (by the owner, or by
itself when credits arrive or the account is reactivated), stopping, editing, duplicating,
deleting and archiving."""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts import audit
from billing import ledger
from clozit import events
from telephony.numbers import caller_number_usable, default_caller_number
from telephony.registry import get_provider, provider_problem

from ..contacts.donotcall import DNC_RESULT
from ..contacts.lists import window_waits
from ..contacts.windows import zone
from ..errors import CampaignError
from ..jobs import campaign_wake
from ..models import Call, Campaign, CampaignContact, ContactList, DoNotCall
from . import approval, state
from .budget import campaign_credits_used

logger = logging.getLogger(__name__)


def _ensure_can_dial(workspace) -> None:
    problem = provider_problem()
    if problem:
        raise CampaignError(f"Calls cannot be placed: {problem} Ask your administrator.")
    if not workspace.can_dial:
        raise CampaignError("Your account is suspended, so calls cannot be placed. Contact support.")
    if ledger.balance_of(workspace=workspace).available < Decimal(settings.CALL_MIN_CREDITS):
        raise CampaignError(
            f"You need at least {settings.CALL_MIN_CREDITS} credits to start calling. Add credits and try again."
        )


def _ensure_consent(campaign: Campaign) -> None:
    if campaign.contact_list.consent_confirmed_at is None:
        raise CampaignError(
            f"Nobody has confirmed consent to call the people on the list “{campaign.contact_list.name}”. "
            "Open the list and confirm it, then try again."
        )


def _wake(campaign: Campaign) -> None:
    campaign_id = campaign.pk
    transaction.on_commit(lambda: campaign_wake(campaign_id))


def _ensure_launchable(campaign: Campaign) -> None:
    """What a launch needs that does not change by itself over time (a scheduled launch is
    refused at once when one is missing)."""
    if campaign.status != Campaign.Status.DRAFT:
        raise CampaignError("This campaign has already been launched.")
    if not campaign.calling_days or campaign.calling_hours_start >= campaign.calling_hours_end:
        raise CampaignError("Choose the campaign's calling hours and at least one calling day first.")
    if campaign.contact_list.import_status != ContactList.ImportStatus.DONE:
        raise CampaignError("The contact list is still being imported. Launch once the import has finished.")
    _ensure_consent(campaign)


@transaction.atomic
def campaign_launch(*, campaign: Campaign, by) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _ensure_launchable(campaign)
    _ensure_can_dial(campaign.workspace)
    # A first campaign (or a very large one) waits for staff, who launch it through here again.
    why = approval.campaign_approval_needed(campaign)
    if why:
        approval.campaign_approval_request(campaign=campaign, why=why, by=by)
        return campaign
    blocked = DoNotCall.objects.filter(
        Q(workspace=campaign.workspace) | Q(workspace__isnull=True), phone_number=OuterRef("phone_number")
    )
    contacts = campaign.contact_list.contacts.annotate(blocked=Exists(blocked)).values_list("pk", "blocked")
    CampaignContact.objects.bulk_create(
        [
            CampaignContact(
                campaign=campaign,
                contact_id=pk,
                status=CampaignContact.Status.SKIPPED if blocked else CampaignContact.Status.PENDING,
                result=DNC_RESULT if blocked else "",
            )
            for pk, blocked in contacts
        ],
        batch_size=1000,
    )
    campaign.status = Campaign.Status.RUNNING
    campaign.status_reason = ""
    campaign.pause_kind = Campaign.PauseKind.NONE
    campaign.launch_at = None
    campaign.started_at = timezone.now()
    campaign.save(update_fields=["status", "status_reason", "pause_kind", "launch_at", "started_at"])
    audit.record(
        workspace=campaign.workspace_id,
        actor=by,
        action="campaign.launch",
        summary=f"Launched the campaign “{campaign.name}”.",
    )
    _wake(campaign)
    return campaign


@transaction.atomic
def campaign_pause(
    *, campaign: Campaign, reason: str = "Paused by you.", kind: str = Campaign.PauseKind.OTHER
) -> Campaign:
    """Stop placing new calls; calls already in progress finish normally. `kind` says why, so
    the page can tell the reason from the present and the campaign resumes by itself when the
    cause is gone (credits, the account's status)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.RUNNING:
        raise CampaignError("Only a running campaign can be paused.")
    campaign.status = Campaign.Status.PAUSED
    campaign.status_reason = reason[: Campaign._meta.get_field("status_reason").max_length]
    campaign.pause_kind = kind
    campaign.save(update_fields=["status", "status_reason", "pause_kind"])
    # Every pause passes here: a person's, and the rules' (credits, abuse signals, carrier
    # failures, the account's suspension, the caller number, consent).
    events.publish(
        type=events.CAMPAIGN_PAUSED,
        workspace_id=campaign.workspace_id,
        campaign_id=campaign.pk,
        reason=campaign.status_reason,
        kind=kind,
    )
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign, note: str = "") -> Campaign:
    """Call again. `note` is what the page says afterwards (how it came to resume)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.PAUSED:
        raise CampaignError("Only a paused campaign can be resumed.")
    _ensure_consent(campaign)
    _ensure_can_dial(campaign.workspace)
    campaign.status = Campaign.Status.RUNNING
    campaign.status_reason = note
    campaign.pause_kind = Campaign.PauseKind.NONE
    campaign.provider_failures_in_row = 0
    campaign.save(update_fields=["status", "status_reason", "pause_kind", "provider_failures_in_row"])
    _wake(campaign)
    return campaign


def _pause_cause(campaign: Campaign, refusal: CampaignError) -> tuple[str, str]:
    """(kind, reason) for a campaign that could not resume by itself: what stops it now."""
    workspace = campaign.workspace
    if campaign.contact_list.consent_confirmed_at is None:
        return Campaign.PauseKind.CONSENT, state.consent_pause_reason(campaign)
    if not workspace.can_dial:
        return Campaign.PauseKind.ACCOUNT, state.account_pause_reason(workspace)
    balance = ledger.balance_of(workspace=workspace)
    if balance.available < Decimal(settings.CALL_MIN_CREDITS):
        return Campaign.PauseKind.CREDITS, state.credits_pause_reason(
            campaign=campaign, available=balance.available, held=balance.held
        )
    return Campaign.PauseKind.OTHER, f"Paused: {refusal}"


def _resume_by_itself(campaign: Campaign, *, note: str) -> bool:
    """Resume a campaign whose pause's cause is gone; when something else now stops it, it stays
    paused with that as its reason (and kind). Returns whether it resumed."""
    try:
        campaign_resume(campaign=campaign, note=note)
    except CampaignError as refusal:
        campaign.refresh_from_db()
        kind, reason = _pause_cause(campaign, refusal)
        Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.PAUSED).update(
            pause_kind=kind, status_reason=reason[: Campaign._meta.get_field("status_reason").max_length]
        )
        return False
    return True


def campaign_resume_for_credits(campaign_id: int) -> bool:
    """The sweep's: a campaign paused for credits resumes once its account can pay for a useful
    call (CALL_MIN_CREDITS available), whatever brought them (a purchase, a plan's credits, a staff
    adjustment, calls in progress that ended). Returns whether it resumed; harmless to repeat."""
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(of=("self",))
            .select_related("workspace", "contact_list")
            .filter(pk=campaign_id, status=Campaign.Status.PAUSED, pause_kind=Campaign.PauseKind.CREDITS)
            .first()
        )
        if campaign is None or not campaign.workspace.can_dial:
            return False
        if ledger.balance_of(workspace=campaign.workspace).available < Decimal(settings.CALL_MIN_CREDITS):
            return False
        return _resume_by_itself(campaign, note=state.RESUMED_FOR_CREDITS)


def campaigns_account_reactivated(*, workspace) -> int:
    """The account may call again. The campaigns its suspension (or termination) paused stay
    paused, for their owner to resume when ready (a campaign that calls people on its own after
    days away, or after a review of what it says, would surprise them); their reason now says the
    account is active again. Returns how many were paused that way."""
    return Campaign.objects.filter(
        workspace=workspace, status=Campaign.Status.PAUSED, pause_kind=Campaign.PauseKind.ACCOUNT
    ).update(status_reason=state.ACCOUNT_ACTIVE_AGAIN)


def campaign_stop(
    *, campaign: Campaign, reason: str = "Stopped by you.", result: str = "Campaign stopped", by=None
) -> Campaign:
    """End the campaign for good: nobody else is called (queued contacts are skipped with
    `result`), queued calls are canceled before they are dialled, and live calls are hung up."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status in (Campaign.Status.STOPPED, Campaign.Status.COMPLETED):
            raise CampaignError("This campaign has already ended.")
        if campaign.status == Campaign.Status.DRAFT:
            raise CampaignError("This campaign has not been launched.")
        campaign.status = Campaign.Status.STOPPED
        campaign.status_reason = reason[:300]
        if by is not None:
            audit.record(
                workspace=campaign.workspace_id,
                actor=by,
                action="campaign.stop",
                summary=f"Stopped the campaign “{campaign.name}”.",
            )
        campaign.pause_kind = Campaign.PauseKind.NONE
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "status_reason", "pause_kind", "finished_at"])
        campaign.targets.filter(status=CampaignContact.Status.PENDING).update(
            status=CampaignContact.Status.SKIPPED, result=result[:200], waiting_reason=""
        )
        live = list(campaign.calls.filter(status__in=Call.LIVE_STATUSES).exclude(provider_call_id=""))
    for call in live:
        try:
            get_provider(call.provider).hang_up(call.provider_call_id)
        except Exception:  # the call still ends at its time limit
            continue
    return campaign


# --- Settings, copies, deletion, archive ------------------------------------------------------

# What may change once a campaign has been launched (and is paused): not who calls or whom.
SETTINGS_WHILE_PAUSED = (
    "name",
    "purpose",
    "caller_number",
    "max_concurrent_calls",
    "calling_hours_start",
    "calling_hours_end",
    "calling_days",
    "retry_on",
    "max_attempts",
    "retry_delay_minutes",
    "budget_credits",
)
SETTINGS_OF_A_DRAFT = (*SETTINGS_WHILE_PAUSED, "agent", "contact_list")


def campaign_editable_settings(campaign: Campaign) -> tuple[str, ...]:
    """The settings the owner may change now: every one on a draft, all but the agent and the
    list on a paused campaign, none otherwise."""
    if campaign.status == Campaign.Status.DRAFT:
        return SETTINGS_OF_A_DRAFT
    if campaign.status == Campaign.Status.PAUSED:
        return SETTINGS_WHILE_PAUSED
    return ()


def campaign_edit_refusal(campaign: Campaign) -> str:
    """Why the campaign's settings cannot change now ("" when they can)."""
    if campaign.status == Campaign.Status.RUNNING:
        return "This campaign is running: pause it first, then change its settings."
    if campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.STOPPED):
        return "This campaign has ended, so its settings stay as they were. Duplicate it to run it again."
    return ""


@transaction.atomic
def campaign_update(*, campaign: Campaign, changes: dict) -> Campaign:
    """Change a draft's or a paused campaign's settings (`changes`: field name -> new value, as
    the campaign form cleaned them). A paused campaign's new hours and days apply to contacts
    waiting for a calling window at once; its budget must leave room for another call."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    allowed = campaign_editable_settings(campaign)
    if not allowed:
        raise CampaignError(campaign_edit_refusal(campaign))
    unknown = set(changes) - set(allowed)
    if unknown:
        raise CampaignError(
            "The agent and the contact list of a launched campaign cannot change. Duplicate it to call "
            "another list or with another agent."
        )
    budget = changes.get("budget_credits", campaign.budget_credits)
    if campaign.status == Campaign.Status.PAUSED and budget is not None:
        used = campaign_credits_used(campaign)
        needed = used + Decimal(settings.CALL_MIN_CREDITS)
        if budget < needed:
            raise CampaignError(
                f"This campaign has already used {state.credits_words(used)} credits, so a budget of "
                f"{state.credits_words(budget)} would leave no room for another call. Set at least "
                f"{state.credits_words(needed)}, or leave the budget empty."
            )
    windows_changed = any(
        name in changes and changes[name] != getattr(campaign, name)
        for name in ("calling_hours_start", "calling_hours_end", "calling_days")
    )
    for name, value in changes.items():
        setattr(campaign, name, value)
    campaign.save(update_fields=list(changes))
    if windows_changed and campaign.status == Campaign.Status.PAUSED:
        campaign.targets.filter(window_waits(), status=CampaignContact.Status.PENDING).update(
            next_attempt_at=None, waiting_reason="", updated_at=timezone.now()
        )
    return campaign


COPIED_SETTINGS = (*SETTINGS_OF_A_DRAFT,)


def campaign_duplicate(*, campaign: Campaign) -> Campaign:
    """A new draft with the same agent, list and settings (any campaign, whatever its state).
    A caller number the account may no longer use is replaced by its default one."""
    name_length = Campaign._meta.get_field("name").max_length
    copy = Campaign(workspace=campaign.workspace, status=Campaign.Status.DRAFT)
    for name in COPIED_SETTINGS:
        setattr(copy, name, getattr(campaign, name))
    copy.name = f"Copy of {campaign.name}"[:name_length]
    if not caller_number_usable(campaign.workspace, campaign.caller_number):
        copy.caller_number = default_caller_number(campaign.workspace)
    copy.save()
    return copy


@transaction.atomic
def campaign_delete(*, campaign: Campaign, by=None) -> None:
    """Delete a draft (nobody has been called by it). Launched campaigns keep their calls and
    bills: they are stopped or archived, never deleted."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        raise CampaignError(
            "Only a draft can be deleted: this campaign has called people, and its calls stay on record. "
            "Archive it once it has ended."
        )
    audit.record(
        workspace=campaign.workspace_id,
        actor=by,
        action="campaign.delete",
        summary=f"Deleted the draft campaign “{campaign.name}”.",
    )
    campaign.delete()


@transaction.atomic
def campaign_archive(*, campaign: Campaign, archived: bool = True) -> Campaign:
    """Put an ended campaign away (left out of the campaign list unless asked for), or back."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if archived and campaign.status not in (Campaign.Status.COMPLETED, Campaign.Status.STOPPED):
        raise CampaignError("Only a completed or stopped campaign can be archived.")
    campaign.archived_at = timezone.now() if archived else None
    campaign.save(update_fields=["archived_at"])
    return campaign


# --- Scheduled launches --------------------------------------------------------------------------

SCHEDULE_AHEAD_LIMIT = timedelta(days=90)


def _in_workspace_zone(moment: datetime, workspace) -> str:
    info = zone(workspace.time_zone) or zone("UTC")
    return f"{timezone.localtime(moment, info):%a %d %b %Y at %H:%M} ({workspace.time_zone or 'UTC'})"


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, launch_at: datetime, now: datetime | None = None) -> Campaign:
    """Launch a draft at `launch_at` (the scheduler does it, with a launch's checks then). What a
    launch needs that does not change by itself is checked now."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        raise CampaignError("Only a draft can be scheduled: this campaign has already been launched.")
    if launch_at <= now:
        raise CampaignError("Choose a launch time in the future.")
    if launch_at > now + SCHEDULE_AHEAD_LIMIT:
        raise CampaignError(f"Choose a launch time within the next {SCHEDULE_AHEAD_LIMIT.days} days.")
    _ensure_launchable(campaign)
    campaign.launch_at = launch_at
    campaign.status_reason = ""
    campaign.save(update_fields=["launch_at", "status_reason"])
    return campaign


@transaction.atomic
def campaign_unschedule(*, campaign: Campaign) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT or campaign.launch_at is None:
        raise CampaignError("This campaign has no scheduled launch.")
    campaign.launch_at = None
    campaign.save(update_fields=["launch_at"])
    return campaign


def campaign_launch_scheduled(campaign_id: int, *, now: datetime | None = None) -> bool | None:
    """Launch one draft whose time has come, with a launch's checks. True: launched; False: the
    launch was refused, and the draft keeps why (its scheduled time is cleared); None: nothing
    was due (launched, unscheduled or rescheduled meanwhile). Harmless to run twice."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("workspace")
            .filter(pk=campaign_id, status=Campaign.Status.DRAFT, launch_at__lte=now)
            .first()
        )
        if campaign is None:
            return None
        try:
            campaign_launch(campaign=campaign, by=None)
        except CampaignError as refusal:
            reason = (
                f"The launch scheduled for {_in_workspace_zone(campaign.launch_at, campaign.workspace)} "
                "did not happen: "
                f"{refusal} Once that is fixed, launch it or schedule it again."
            )
            campaign.launch_at = None
            campaign.status_reason = reason[: Campaign._meta.get_field("status_reason").max_length]
            campaign.save(update_fields=["launch_at", "status_reason"])
            return False
    return True


def campaign_launches_due(*, now: datetime | None = None) -> dict:
    """Scheduled every 30 s: launch every draft whose launch time has come. One failure is
    recorded on its campaign and does not stop the others."""
    now = now or timezone.now()
    report = {"launched": 0, "refused": 0, "errors": 0}
    due = Campaign.objects.filter(status=Campaign.Status.DRAFT, launch_at__lte=now).order_by("launch_at")
    for campaign_id in due.values_list("pk", flat=True):
        try:
            outcome = campaign_launch_scheduled(campaign_id, now=now)
        except Exception:
            report["errors"] += 1
            logger.exception("scheduled launch of campaign %s failed", campaign_id)
            continue
        if outcome is True:
            report["launched"] += 1
        elif outcome is False:
            report["refused"] += 1
    return report
