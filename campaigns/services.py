"""Campaign rules: launching, pausing, resuming, stopping; the do-not-call list."""

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from billing import ledger
from clozit.queueing import enqueue

from .errors import CampaignError
from .models import Call, Campaign, CampaignContact, DoNotCall


def dnc_add(*, owner, phone_number: str, reason: str = "") -> DoNotCall:
    """Put a number on the account's do-not-call list at once; adding it twice is harmless."""
    entry, _ = DoNotCall.objects.get_or_create(
        owner=owner, phone_number=phone_number, defaults={"reason": reason[:200]}
    )
    return entry


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


def _wake(campaign: Campaign) -> None:
    from . import dialer

    campaign_id = campaign.pk
    transaction.on_commit(lambda: enqueue("dialing", dialer.campaign_advance, campaign_id))


@transaction.atomic
def campaign_launch(*, campaign: Campaign, by) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        raise CampaignError("This campaign has already been launched.")
    _ensure_can_dial(campaign.owner)
    contacts = campaign.contact_list.contacts.annotate(
        blocked=Exists(DoNotCall.objects.filter(owner=campaign.owner, phone_number=OuterRef("phone_number")))
    ).values_list("pk", "blocked")
    CampaignContact.objects.bulk_create(
        [
            CampaignContact(
                campaign=campaign,
                contact_id=pk,
                status=CampaignContact.Status.SKIPPED if blocked else CampaignContact.Status.PENDING,
                result="On the do-not-call list" if blocked else "",
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
    _ensure_can_dial(campaign.owner)
    campaign.status = Campaign.Status.RUNNING
    campaign.status_reason = ""
    campaign.provider_failures_in_row = 0
    campaign.save(update_fields=["status", "status_reason", "provider_failures_in_row"])
    _wake(campaign)
    return campaign


def campaign_stop(*, campaign: Campaign) -> Campaign:
    """End the campaign for good: nobody else is called and live calls are hung up."""
    from telephony.registry import get_provider

    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status in (Campaign.Status.STOPPED, Campaign.Status.COMPLETED):
            raise CampaignError("This campaign has already ended.")
        if campaign.status == Campaign.Status.DRAFT:
            raise CampaignError("This campaign has not been launched.")
        campaign.status = Campaign.Status.STOPPED
        campaign.status_reason = "Stopped by you."
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "status_reason", "finished_at"])
        campaign.targets.filter(status=CampaignContact.Status.PENDING).update(
            status=CampaignContact.Status.SKIPPED, result="Campaign stopped"
        )
        live = list(campaign.calls.filter(status__in=Call.LIVE_STATUSES).exclude(provider_call_id=""))
    for call in live:
        try:
            get_provider(call.provider).hang_up(call.provider_call_id)
        except Exception:  # the call still ends at its time limit
            continue
    return campaign
