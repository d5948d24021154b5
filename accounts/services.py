"""Account rules: creation, mobile verification, status changes, deletion and purge."""

import logging
import zoneinfo
from datetime import timedelta

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateformat import format as format_date

from billing import ledger
from billing.models import CreditAccount, CreditHold, LedgerEntry, PaddleEvent, Purchase, RefundRequest, Subscription
from billing.paddle.events import account_token
from campaigns import models as c
from campaigns.lifecycle.services import campaign_pause, campaign_stop, campaigns_account_reactivated
from campaigns.models import (
    Agent,
    AssistantQuestion,
    Call,
    CallTurn,
    Campaign,
    ContactList,
    ContactUpload,
    DoNotCall,
    ImportRejection,
    KnowledgeSource,
    PlaygroundSession,
)
from telephony.models import PhoneNumber, ProviderEvent
from telephony.numbers import NumberError, numbers_release_all
from telephony.recordings import recordings_delete_at_carrier

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
    also blocks logging in. Reactivation resumes the campaigns they paused (see
    campaigns.lifecycle.services.campaigns_account_reactivated). With `forfeit_credits` (termination only),
    the credits available (not held by calls in progress) are forfeited through the ledger with
    `by` and `reason`; the returned user's `forfeited_credits` says how many.
    """
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
            campaign_pause(
                campaign=campaign,
                reason=f"Paused: the account is {user.get_status_display().lower()}.",
                kind=Campaign.PauseKind.ACCOUNT,
            )
    else:
        campaigns_account_reactivated(owner=user)
    # Last, after the campaign locks: the credit account's lock comes after them everywhere.
    user.forfeited_credits = ledger.credit_forfeit(user=user, reason=reason, by=by) if forfeit_credits else None
    return user


@transaction.atomic
def account_delete(*, user: User) -> User:
    """Close the account now; its personal data is purged ACCOUNT_PURGE_AFTER_DAYS later."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.deletion_requested_at is not None:
        return user
    user.deletion_requested_at = timezone.now()
    user.is_active = False
    user.save(update_fields=["deletion_requested_at", "is_active"])
    email = user.email
    purge_on = account_restore_deadline(user=user)
    running = list(Campaign.objects.filter(owner=user, status__in=[Campaign.Status.RUNNING, Campaign.Status.PAUSED]))
    user_id = user.pk
    transaction.on_commit(lambda: _after_delete(user_id=user_id, email=email, purge_on=purge_on, campaigns=running))
    return user


def account_restore_deadline(*, user: User):
    """Until when a closed account can be restored: its personal data is purged then."""
    if user.deletion_requested_at is None:
        return None
    return user.deletion_requested_at + timedelta(days=settings.ACCOUNT_PURGE_AFTER_DAYS)


@transaction.atomic
def account_restore(*, user: User, by: User | None, reason: str) -> User:
    """Reopen an account its holder closed, before its personal data is purged (support does
    this, in admin, when the holder asks). What closing stopped stays stopped: campaigns, and
    phone numbers already released. A terminated account stays terminated and cannot log in."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.deletion_requested_at is None:
        raise AccountError("This account was not closed: there is nothing to restore.")
    if user.purged_at is not None or timezone.now() >= account_restore_deadline(user=user):
        raise AccountError("This account can no longer be restored: its personal data is erased (or being erased).")
    user.deletion_requested_at = None
    user.is_active = user.status != User.Status.TERMINATED
    user.save(update_fields=["deletion_requested_at", "is_active"])
    AccountStatusChange.objects.create(
        user=user, status=user.status, reason=f"Restored after closing: {reason.strip()}".strip(": "), changed_by=by
    )
    return user


def account_inactive_notice(*, user: User) -> dict:
    """Why an account that gave the right password cannot log in, for the page that says so:
    closed by its holder (and until when support can restore it), or terminated by staff (and
    why). Plain strings, kept in the session until that page shows them."""
    if user.deletion_requested_at is not None:
        restore_until = account_restore_deadline(user=user)
        return {
            "kind": "closed",
            "closed_on": _date(user.deletion_requested_at, user),
            "restore_until": _date(restore_until, user),
            "restorable": user.purged_at is None and timezone.now() < restore_until,
        }
    if user.status == User.Status.TERMINATED:
        when = user.status_changed_at
        return {"kind": "terminated", "on": _date(when, user) if when else "", "reason": user.status_reason}
    return {"kind": "inactive"}


def _date(moment, user: User) -> str:
    """ "7 December 2026", in the account's own time zone."""

    try:
        zone = zoneinfo.ZoneInfo(user.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = timezone.get_default_timezone()
    return format_date(timezone.localtime(moment, zone), "j F Y")


def _after_delete(*, user_id: int, email: str, purge_on, campaigns) -> None:
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
    """Erase everything that identifies a person or that they wrote, calls and contacts included.

    Kept, anonymised, because the books must be: the calls (when, how long, what they cost) and
    the campaigns and agents they belong to, as empty shells; purchases, refunds and subscriptions
    (Paddle's ids and the amounts); the ledger, which the database never lets change (its memos
    carry no personal text); the carriers' and Paddle's event ids, so a webhook delivered again is
    still recognised. Running it again changes nothing.
    """
    user = User.objects.select_for_update().get(pk=user_id)
    if user.purged_at is not None:
        return
    _purge_admin_history(user)  # first: it names rows deleted below
    _purge_sign_in(user)
    _purge_calls(user)
    _purge_contacts(user)
    _purge_agents_and_campaigns(user)
    _purge_billing(user)
    user.email = f"deleted-{user.pk}@deleted.invalid"
    user.first_name = user.last_name = user.company_name = user.mobile_number = ""
    user.mobile_verified_at = None
    user.status_reason = ""
    user.time_zone = "UTC"
    user.set_unusable_password()
    user.purged_at = timezone.now()
    user.save()
    user.status_changes.update(reason="(purged)")


def _account_rows(user: User) -> list:
    """A query for each kind of row the account owns (the admin's history names them)."""

    return [
        User.objects.filter(pk=user.pk),
        AccountStatusChange.objects.filter(user=user),
        EmailAddress.objects.filter(user=user),
        SocialAccount.objects.filter(user=user),
        SocialToken.objects.filter(account__user=user),
        Authenticator.objects.filter(user=user),
        CreditAccount.objects.filter(user=user),
        LedgerEntry.objects.filter(account__user=user),
        CreditHold.objects.filter(account__user=user),
        Purchase.objects.filter(user=user),
        RefundRequest.objects.filter(user=user),
        Subscription.objects.filter(user=user),
        PhoneNumber.objects.filter(owner=user),
        c.Agent.objects.filter(owner=user),
        c.KnowledgeSource.objects.filter(agent__owner=user),
        c.KnowledgePassage.objects.filter(agent__owner=user),
        c.PlaygroundSession.objects.filter(owner=user),
        c.ContactList.objects.filter(owner=user),
        c.ContactUpload.objects.filter(contact_list__owner=user),
        c.ImportRejection.objects.filter(contact_list__owner=user),
        c.Contact.objects.filter(contact_list__owner=user),
        c.DoNotCall.objects.filter(owner=user),
        c.Campaign.objects.filter(owner=user),
        c.CampaignContact.objects.filter(campaign__owner=user),
        c.Call.objects.filter(owner=user),
        c.CallTurn.objects.filter(call__owner=user),
        c.AssistantQuestion.objects.filter(owner=user),
    ]


def _purge_admin_history(user: User) -> None:
    """The admin's log of staff changes stays, but not the names it showed for the account's
    rows (an email address, an agent's name): only which fields were changed, when and by whom."""
    for rows in _account_rows(user):
        entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(rows.model))
        if entries.exists():  # most kinds of row are never changed by staff
            entries.filter(object_id__in=rows.annotate(id_text=Cast("pk", TextField())).values("id_text")).update(
                object_repr="(purged)"
            )


def _purge_sign_in(user: User) -> None:
    EmailAddress.objects.filter(user=user).delete()
    SocialAccount.objects.filter(user=user).delete()  # with its tokens
    Authenticator.objects.filter(user=user).delete()
    # Sessions name the account they signed in (and allauth keeps sign-in state in them). They
    # cannot be found by account without reading each: expired ones are of no use to anyone and
    # go first, then the few still live are read.
    Session.objects.filter(expire_date__lt=timezone.now()).delete()
    for session in Session.objects.iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()


def _purge_calls(user: User) -> None:
    calls = Call.objects.filter(owner=user)
    CallTurn.objects.filter(call__owner=user).delete()
    recordings_delete_at_carrier(list(calls.exclude(recording_id="").values_list("provider", "recording_id")))
    calls.update(
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
    # An agent's own outcomes are its owner's words; the platform's outcomes are codes.
    calls.exclude(outcome__in=Call.Outcome.values).update(outcome="")
    # The carrier's webhooks as received: they name the callee ("To") and more.
    ProviderEvent.objects.filter(call_id__in=calls.values("pk")).update(payload={})


def _purge_contacts(user: User) -> None:
    ContactList.objects.filter(owner=user, campaigns__isnull=True).delete()
    # Rejected rows and stored uploads hold the same personal data as contacts.
    ImportRejection.objects.filter(contact_list__owner=user).delete()
    ContactUpload.objects.filter(contact_list__owner=user).delete()
    for contact_list in ContactList.objects.filter(owner=user):
        contact_list.contacts.all().delete()  # with their places in campaigns
        contact_list.name = "Deleted list"
        contact_list.source_filename = ""
        contact_list.import_problems = {}
        contact_list.tags = []
        contact_list.column_mapping = {}
        contact_list.import_error = ""
        contact_list.save()
    DoNotCall.objects.filter(owner=user).delete()


def _purge_agents_and_campaigns(user: User) -> None:
    KnowledgeSource.objects.filter(agent__owner=user).delete()  # with their passages
    PlaygroundSession.objects.filter(owner=user).delete()
    AssistantQuestion.objects.filter(owner=user).delete()  # what they cost stays in the ledger
    Agent.objects.filter(owner=user).update(
        name="Deleted agent",
        opening_line="",
        questions="",
        answers="",
        closing_line="",
        persona="",
        goal="",
        outcomes=[],
        capture_fields=[],
        transfer_when="",
        end_call_phrases="",
        voicemail_message="",
        transfer_number="",
        ai_disclosure="",
        # A new version: processes that cached the agent for live calls read it afresh.
        updated_at=timezone.now(),
    )
    user.campaigns.update(
        name="Deleted campaign", caller_number="", status_reason="", flag_reason="", calling_days=[], retry_on=[]
    )
    PhoneNumber.objects.filter(owner=user).update(label="")


def paddle_events_of(user: User):
    """Paddle's webhooks about the account's payments and subscriptions, as received: found by
    the payment or subscription they are about, or by the account token in their custom data."""

    payments = Purchase.objects.filter(user=user).values("paddle_transaction_id")
    subscriptions = Subscription.objects.filter(user=user).values("paddle_subscription_id")
    return PaddleEvent.objects.alias(
        about=KT("payload__data__id"),
        payment=KT("payload__data__transaction_id"),
        subscription=KT("payload__data__subscription_id"),
        token=KT("payload__data__custom_data__clozit_account_token"),
    ).filter(
        Q(about__in=payments)
        | Q(about__in=subscriptions)
        | Q(payment__in=payments)
        | Q(subscription__in=subscriptions)
        | Q(token=account_token(user.pk))
    )


def _purge_billing(user: User) -> None:
    RefundRequest.objects.filter(user=user).update(reason="(purged)", staff_note="")
    # Paddle's webhooks name the buyer (the cardholder's name, custom data).
    events = paddle_events_of(user)
    # One not applied yet never will be: the account it would change is gone.
    events.filter(processed_at__isnull=True).update(processed_at=timezone.now())
    events.update(payload={})
