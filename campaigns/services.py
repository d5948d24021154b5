"""Campaign rules: launching, pausing, resuming, stopping; the do-not-call list."""

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from billing import ledger
from clozit.queueing import enqueue

from .errors import CampaignError
from .models import Call, Campaign, CampaignContact, ContactList, DoNotCall

DNC_RESULT = "On the do-not-call list"


def _dnc_skip_pending(*, phone_number: str, owner=None) -> int:
    """Contacts with this number still waiting in a campaign (the owner's, or everyone's) are
    skipped at once. The dialer checks both lists again when it claims and just before it dials,
    so a number listed mid-campaign is never called even if this races with a claim."""
    targets = CampaignContact.objects.filter(status=CampaignContact.Status.PENDING, contact__phone_number=phone_number)
    if owner is not None:
        targets = targets.filter(campaign__owner=owner)
    return CampaignContact.objects.filter(pk__in=targets.values("pk")).update(
        status=CampaignContact.Status.SKIPPED, result=DNC_RESULT, waiting_reason="", updated_at=timezone.now()
    )


def dnc_add(*, owner, phone_number: str, reason: str = "") -> DoNotCall:
    """Put a number on the account's do-not-call list at once; adding it twice is harmless."""
    entry, _ = DoNotCall.objects.get_or_create(
        owner=owner, phone_number=phone_number, defaults={"reason": reason[:200]}
    )
    _dnc_skip_pending(phone_number=phone_number, owner=owner)
    return entry


def dnc_add_platform(*, phone_number: str, reason: str = "", by=None) -> DoNotCall:
    """Staff: put a number on the platform-wide list, which no account may call."""
    entry, _ = DoNotCall.objects.get_or_create(
        owner=None, phone_number=phone_number, defaults={"reason": reason[:200], "added_by": by}
    )
    _dnc_skip_pending(phone_number=phone_number)
    return entry


def campaign_targets_recheck(*, contact) -> int:
    """Call after a contact's time zone (or number) changed: its queued places that wait for a
    zone or a calling window are looked at again at once (a retry's spacing is kept). Returns
    how many; running campaigns are woken after the commit."""
    from .windows import WINDOW_WAIT_PREFIXES

    waiting = Q()
    for prefix in WINDOW_WAIT_PREFIXES:
        waiting |= Q(waiting_reason__startswith=prefix)
    targets = CampaignContact.objects.filter(waiting, contact=contact, status=CampaignContact.Status.PENDING)
    campaign_ids = set(targets.filter(campaign__status=Campaign.Status.RUNNING).values_list("campaign_id", flat=True))
    changed = targets.update(next_attempt_at=None, waiting_reason="", updated_at=timezone.now())
    for campaign_id in campaign_ids:
        _wake(Campaign(pk=campaign_id))
    return changed


def _ensure_can_dial(owner) -> None:
    from telephony.registry import provider_problem

    problem = provider_problem()
    if problem:
        raise CampaignError(f"Calls cannot be placed: {problem} Ask your administrator.")
    if not owner.can_dial:
        raise CampaignError("Your account is suspended, so calls cannot be placed. Contact support.")
    if ledger.balance_of(user=owner).available < Decimal(settings.CALL_MIN_CREDITS):
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
    from . import dialer

    campaign_id = campaign.pk
    transaction.on_commit(lambda: enqueue("dialing", dialer.campaign_advance, campaign_id))


@transaction.atomic
def campaign_launch(*, campaign: Campaign, by) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        raise CampaignError("This campaign has already been launched.")
    if not campaign.calling_days or campaign.calling_hours_start >= campaign.calling_hours_end:
        raise CampaignError("Choose the campaign's calling hours and at least one calling day first.")
    if campaign.contact_list.import_status != ContactList.ImportStatus.DONE:
        raise CampaignError("The contact list is still being imported. Launch once the import has finished.")
    _ensure_consent(campaign)
    _ensure_can_dial(campaign.owner)
    blocked = DoNotCall.objects.filter(
        Q(owner=campaign.owner) | Q(owner__isnull=True), phone_number=OuterRef("phone_number")
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
    campaign.started_at = timezone.now()
    campaign.save(update_fields=["status", "status_reason", "started_at"])
    _wake(campaign)
    return campaign


@transaction.atomic
def campaign_pause(*, campaign: Campaign, reason: str = "Paused by you.") -> Campaign:
    """Stop placing new calls; calls already in progress finish normally."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.RUNNING:
        raise CampaignError("Only a running campaign can be paused.")
    campaign.status = Campaign.Status.PAUSED
    campaign.status_reason = reason[:300]
    campaign.save(update_fields=["status", "status_reason"])
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.PAUSED:
        raise CampaignError("Only a paused campaign can be resumed.")
    _ensure_consent(campaign)
    _ensure_can_dial(campaign.owner)
    campaign.status = Campaign.Status.RUNNING
    campaign.status_reason = ""
    campaign.provider_failures_in_row = 0
    campaign.save(update_fields=["status", "status_reason", "provider_failures_in_row"])
    _wake(campaign)
    return campaign


def campaign_stop(*, campaign: Campaign, reason: str = "Stopped by you.", result: str = "Campaign stopped") -> Campaign:
    """End the campaign for good: nobody else is called (queued contacts are skipped with
    `result`), queued calls are canceled before they are dialled, and live calls are hung up."""
    from telephony.registry import get_provider

    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status in (Campaign.Status.STOPPED, Campaign.Status.COMPLETED):
            raise CampaignError("This campaign has already ended.")
        if campaign.status == Campaign.Status.DRAFT:
            raise CampaignError("This campaign has not been launched.")
        campaign.status = Campaign.Status.STOPPED
        campaign.status_reason = reason[:300]
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "status_reason", "finished_at"])
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
