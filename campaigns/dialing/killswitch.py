"""The kill switch: staff stop all dialling, one carrier's, or one workspace's, from admin.

While a stop is active (not lifted) the dialer claims no call in its scope (the campaign is
paused, remembering the stop: `campaign_pause_for_stop`) and, just before dialling, cancels a call
already claimed (dialer.CALL_TO_DIAL reads the stop in the statement that locks the call; the
contact goes back in the queue, its attempt not counted). Lifting a stop resumes exactly the
campaigns it paused: not those a person paused, nor those paused for credits or another cause.

Active stops are a handful of rows behind a partial index (lifted_at IS NULL), so asking costs
one index lookup at a claim and nothing extra at a dial; no cache to fall out of date."""

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import audit
from accounts.admin_history import admin_history_purge
from clozit.exporting import export_json, export_rows

from ..errors import CampaignError
from ..lifecycle.services import _resume_by_itself, campaign_pause  # its rule for a pause whose cause is gone
from ..models import Campaign, DialingStop

RESUMED = "Dialling resumed by Clozit."


def stop_reason_words(stop: DialingStop) -> str:
    return f"Dialling stopped by Clozit: {stop.reason}"


def _covering(*, workspace_id: int, carrier: str):
    return DialingStop.objects.filter(lifted_at__isnull=True).filter(
        Q(scope=DialingStop.Scope.PLATFORM)
        | Q(scope=DialingStop.Scope.CARRIER, carrier=carrier)
        | Q(scope=DialingStop.Scope.WORKSPACE, workspace_id=workspace_id)
    )


def stop_covering(*, workspace_id: int, carrier: str | None = None) -> DialingStop | None:
    """The oldest active stop that forbids the workspace's calls through `carrier` (the
    configured one by default: claims write calls for it), or None."""
    carrier = carrier or settings.TELEPHONY_PROVIDER
    return _covering(workspace_id=workspace_id, carrier=carrier).order_by("pk").first()


def campaign_pause_for_stop(*, campaign: Campaign, stop: DialingStop) -> Campaign:
    """Pause a running campaign for the stop, remembering which (lifting it resumes the campaign)."""
    campaign = campaign_pause(campaign=campaign, reason=stop_reason_words(stop), kind=Campaign.PauseKind.DIALING_STOP)
    campaign.paused_by_stop = stop
    campaign.save(update_fields=["paused_by_stop"])
    audit.record(
        workspace=campaign.workspace_id,
        actor=None,
        action="campaign.dialing_stop",
        summary=f"Clozit paused the campaign “{campaign.name}”: {stop.reason}"[:300],
    )
    return campaign


def _campaigns_in_scope(stop: DialingStop):
    running = Campaign.objects.filter(status=Campaign.Status.RUNNING)
    if stop.scope == DialingStop.Scope.WORKSPACE:
        return running.filter(workspace_id=stop.workspace_id)
    if stop.scope == DialingStop.Scope.CARRIER and stop.carrier != settings.TELEPHONY_PROVIDER:
        return running.none()  # claims write calls for the configured carrier only
    return running


def dialing_stop_add(*, scope: str, reason: str, by, carrier: str = "", workspace=None) -> DialingStop:
    """Stop dialling in the scope at once: running campaigns in it are paused now (the claim
    pauses any that start meanwhile), and calls already claimed are canceled before dialling."""
    reason = reason.strip()
    if not reason:
        raise CampaignError("Give a reason: the customers whose campaigns pause read it.")
    if scope not in DialingStop.Scope.values:
        raise CampaignError("Choose what to stop: the whole platform, one carrier or one workspace.")
    if scope == DialingStop.Scope.CARRIER and not carrier.strip():
        raise CampaignError("Name the carrier to stop (its provider name, e.g. twilio).")
    if scope == DialingStop.Scope.WORKSPACE and workspace is None:
        raise CampaignError("Choose the workspace to stop.")
    with transaction.atomic():
        stop = DialingStop.objects.create(
            scope=scope,
            carrier=carrier.strip() if scope == DialingStop.Scope.CARRIER else "",
            workspace=workspace if scope == DialingStop.Scope.WORKSPACE else None,
            reason=reason[:300],
            created_by=by,
        )
        if workspace is not None and scope == DialingStop.Scope.WORKSPACE:
            audit.record(
                workspace=workspace,
                actor=by,
                action="dialing.stopped",
                summary=f"Clozit stopped the workspace's dialling: {stop.reason}"[:300],
            )
    for campaign_id in _campaigns_in_scope(stop).values_list("pk", flat=True):
        with transaction.atomic():
            campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
            if campaign is not None and campaign.status == Campaign.Status.RUNNING:
                campaign_pause_for_stop(campaign=campaign, stop=stop)
    return stop


def dialing_stop_lift(*, stop_id: int, by) -> int:
    """Lift the stop and resume the campaigns it paused, and only those (a campaign since paused
    by its owner, or that another active stop still covers, stays paused). Returns how many
    resumed; lifting twice changes nothing."""
    with transaction.atomic():
        stop = DialingStop.objects.select_for_update().filter(pk=stop_id).first()
        if stop is None or stop.lifted_at is not None:
            return 0
        stop.lifted_at, stop.lifted_by = timezone.now(), by
        stop.save(update_fields=["lifted_at", "lifted_by"])
        if stop.workspace_id:
            audit.record(
                workspace=stop.workspace_id,
                actor=by,
                action="dialing.resumed",
                summary="Clozit lifted the stop on the workspace's dialling.",
            )
    resumed = 0
    paused = Campaign.objects.filter(
        paused_by_stop=stop, status=Campaign.Status.PAUSED, pause_kind=Campaign.PauseKind.DIALING_STOP
    )
    for campaign_id in paused.values_list("pk", flat=True):
        resumed += _resume_after_lift(campaign_id, stop)
    return resumed


def _resume_after_lift(campaign_id: int, stop: DialingStop) -> bool:
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(of=("self",))
            .select_related("workspace", "contact_list")
            .filter(pk=campaign_id, paused_by_stop=stop, status=Campaign.Status.PAUSED)
            .first()
        )
        if campaign is None or campaign.pause_kind != Campaign.PauseKind.DIALING_STOP:
            return False
        other = stop_covering(workspace_id=campaign.workspace_id)
        if other is not None:
            # Still stopped, by another: that one resumes it when lifted.
            campaign.paused_by_stop = other
            campaign.status_reason = stop_reason_words(other)[:500]
            campaign.save(update_fields=["paused_by_stop", "status_reason"])
            return False
        resumed = _resume_by_itself(campaign, note=RESUMED)
        # Either way it is no longer this stop's: resumed, or paused for what stops it now.
        Campaign.objects.filter(pk=campaign.pk).update(paused_by_stop=None)
        return resumed


def dialing_stops_purge(sender=None, *, workspace_id: int, **kwargs) -> None:
    """A purged workspace's stops stay on record (who stopped what, when), without staff's words
    about it (receiver of clozit.events.workspace_purging)."""
    stops = DialingStop.objects.filter(workspace_id=workspace_id)
    admin_history_purge([stops])
    stops.update(reason="(purged)")


def dialing_stops_export(sender=None, *, workspace_id: int, **kwargs) -> dict[str, str]:
    """The stops staff put on the workspace's dialling, for its data export."""
    return {"dialing_stops.json": export_json(export_rows(DialingStop.objects.filter(workspace_id=workspace_id)))}
