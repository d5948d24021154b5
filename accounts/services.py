"""Account rules: creation, mobile verification, status changes, deletion and purge."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from billing import ledger

from .models import AccountStatusChange, User

logger = logging.getLogger(__name__)


class AccountError(Exception):
    """A request the account rules refuse; the message is written for the user."""


@transaction.atomic
def account_created(*, user: User) -> None:
    """Everything a brand-new account gets: its credit balance and the starter grant."""
    ledger.starter_grant(user=user)


def mobile_verified(*, user: User, phone: str) -> None:
    """The code sent to `phone` was entered: it becomes the account's verified mobile."""
    user.mobile_number = phone
    user.mobile_verified_at = timezone.now()
    try:
        with transaction.atomic():
            user.save(update_fields=["mobile_number", "mobile_verified_at"])
    except IntegrityError:
        # Verified on another account in the meantime: the database keeps one owner.
        raise AccountError("This number is already in use on another account.") from None


@transaction.atomic
def account_set_status(*, user: User, status: str, reason: str, by: User | None, forfeit_credits: bool = False) -> User:
    """Suspend, terminate or reactivate an account, recording who, when and why.

    Suspension and termination pause the account's running campaigns at once; termination
    also blocks logging in. With `forfeit_credits` (termination only), the credits available
    (not held by calls in progress) are forfeited through the ledger with `by` and `reason`;
    the returned user's `forfeited_credits` says how many.
    """
    from campaigns.models import Campaign
    from campaigns.services import campaign_pause

    if status not in User.Status.values:
        raise AccountError(f"Unknown account status {status!r}.")
    if not reason.strip():
        raise AccountError("Give a reason: the account holder sees it.")
    if forfeit_credits and status != User.Status.TERMINATED:
        raise AccountError("Credits can be forfeited only when terminating an account.")
    user = User.objects.select_for_update().get(pk=user.pk)
    user.status = status
    user.status_reason = reason.strip()
    user.status_changed_at = timezone.now()
    if status == User.Status.TERMINATED:
        user.is_active = False
    elif status == User.Status.ACTIVE and user.deletion_requested_at is None:
        user.is_active = True
    user.save(update_fields=["status", "status_reason", "status_changed_at", "is_active"])
    AccountStatusChange.objects.create(user=user, status=status, reason=reason.strip(), changed_by=by)
    if status != User.Status.ACTIVE:
        for campaign in Campaign.objects.filter(owner=user, status=Campaign.Status.RUNNING):
            campaign_pause(campaign=campaign, reason=f"Paused: the account is {user.get_status_display().lower()}.")
    # Last, after the campaign locks: the credit account's lock comes after them everywhere.
    user.forfeited_credits = ledger.credit_forfeit(user=user, reason=reason, by=by) if forfeit_credits else None
    return user


@transaction.atomic
def account_delete(*, user: User) -> User:
    """Close the account now; its personal data is purged ACCOUNT_PURGE_AFTER_DAYS later."""
    from campaigns.models import Campaign

    user = User.objects.select_for_update().get(pk=user.pk)
    if user.deletion_requested_at is not None:
        return user
    user.deletion_requested_at = timezone.now()
    user.is_active = False
    user.save(update_fields=["deletion_requested_at", "is_active"])
    email = user.email
    purge_on = user.deletion_requested_at + timedelta(days=settings.ACCOUNT_PURGE_AFTER_DAYS)
    running = list(Campaign.objects.filter(owner=user, status__in=[Campaign.Status.RUNNING, Campaign.Status.PAUSED]))
    user_id = user.pk
    transaction.on_commit(lambda: _after_delete(user_id=user_id, email=email, purge_on=purge_on, campaigns=running))
    return user


def _after_delete(*, user_id: int, email: str, purge_on, campaigns) -> None:
    from campaigns.services import campaign_stop
    from telephony.numbers import NumberError, numbers_release_all

    for campaign in campaigns:
        try:
            campaign_stop(campaign=campaign)
        except Exception:  # already ended: nothing to stop
            continue
    # A closed account keeps no numbers (and pays no more monthly fees).
    try:
        numbers_release_all(user_id)
    except NumberError as exc:
        logger.error("closing account %s: %s (the daily renewal will retry)", user_id, exc)
    send_mail(
        subject="Your Clozit account has been closed",
        message=render_to_string("emails/account_deleted.txt", {"purge_on": purge_on}),
        from_email=None,
        recipient_list=[email],
    )


def accounts_purge_due(*, now=None) -> int:
    """Scheduled daily: purge the personal data of accounts deleted long enough ago."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ACCOUNT_PURGE_AFTER_DAYS)
    due = User.objects.filter(deletion_requested_at__lte=cutoff, purged_at__isnull=True).values_list("pk", flat=True)
    count = 0
    for user_id in due:
        account_purge(user_id=user_id)
        count += 1
    return count


@transaction.atomic
def account_purge(*, user_id: int) -> None:
    """Erase everything that identifies a person; keep calls and the ledger, anonymised,
    because billing records must be kept."""
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount

    from campaigns.models import Agent, Call, CallTurn, ContactList, ContactUpload, DoNotCall, ImportRejection
    from telephony.models import ProviderEvent
    from telephony.recordings import recordings_delete_at_carrier

    user = User.objects.select_for_update().get(pk=user_id)
    if user.purged_at is not None:
        return
    CallTurn.objects.filter(call__owner=user).delete()
    recordings_delete_at_carrier(
        list(Call.objects.filter(owner=user).exclude(recording_id="").values_list("provider", "recording_id"))
    )
    Call.objects.filter(owner=user).update(
        to_number="",
        from_number="",
        captured=[],
        engine_state={},
        contact=None,
        failure_reason="",
        recording_id="",
        recording_url="",
        recording_seconds=0,
    )
    # The carrier's webhooks as received: they name the callee ("To") and more.
    ProviderEvent.objects.filter(call_id__in=Call.objects.filter(owner=user).values("pk")).update(payload={})
    ContactList.objects.filter(owner=user, campaigns__isnull=True).delete()
    # Rejected rows and stored uploads hold the same personal data as contacts.
    ImportRejection.objects.filter(contact_list__owner=user).delete()
    ContactUpload.objects.filter(contact_list__owner=user).delete()
    for contact_list in ContactList.objects.filter(owner=user):
        contact_list.contacts.all().delete()
        contact_list.name = "Deleted list"
        contact_list.source_filename = ""
        contact_list.import_problems = {}
        contact_list.tags = []
        contact_list.column_mapping = {}
        contact_list.import_error = ""
        contact_list.save()
    DoNotCall.objects.filter(owner=user).delete()
    Agent.objects.filter(owner=user).update(
        name="Deleted agent", opening_line="", questions="", answers="", closing_line="", voicemail_message=""
    )
    user.campaigns.update(name="Deleted campaign", caller_number="")
    EmailAddress.objects.filter(user=user).delete()
    SocialAccount.objects.filter(user=user).delete()
    user.email = f"deleted-{user.pk}@deleted.invalid"
    user.first_name = user.last_name = user.company_name = user.mobile_number = ""
    user.mobile_verified_at = None
    user.status_reason = ""
    user.set_unusable_password()
    user.purged_at = timezone.now()
    user.save()
    user.status_changes.update(reason="(purged)")
