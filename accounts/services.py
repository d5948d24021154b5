"""Account rules: creation, mobile verification, status changes, deletion and purge."""

import logging
import zoneinfo
from datetime import timedelta

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount, SocialToken
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Replace
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateformat import format as format_date

from billing import ledger
from billing.models import (
    CallCreditBack,
    CallDispute,
    CreditAccount,
    CreditHold,
    LedgerEntry,
    PaddleEvent,
    Purchase,
    RefundRequest,
    Subscription,
)
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
from clozit import events
from notices import kinds as notice_kinds
from notices.services import notice_send, notice_send_to_workspace
from telephony.models import PhoneNumber, ProviderEvent
from telephony.numbers import NumberError, numbers_release_all
from telephony.recordings import recordings_delete_at_carrier

from . import audit, roles
from .admin_history import admin_history_purge
from .models import (
    AccountStatusChange,
    Invitation,
    Membership,
    SecurityEvent,
    User,
    Workspace,
    WorkspaceEvent,
    WorkspaceStatusChange,
)
from .workspaces import personal_workspace_of

logger = logging.getLogger(__name__)


class AccountError(Exception):
    """A request the account rules refuse; the message is written for the user."""


@transaction.atomic
def account_created(*, user: User) -> Workspace:
    """Everything a brand-new account gets: its personal workspace, with the user as owner, and
    that workspace's credit balance and starter grant."""
    workspace = personal_workspace_of(user)
    ledger.starter_grant(workspace=workspace)
    return workspace


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


def _check_status_change(status: str, reason: str, forfeit_credits: bool) -> None:
    if status not in User.Status.values:
        raise AccountError(f"Unknown account status {status!r}.")
    if not reason.strip():
        raise AccountError("Give a reason: the account holder sees it.")
    if forfeit_credits and status != User.Status.TERMINATED:
        raise AccountError("Credits can be forfeited only when terminating an account.")


@transaction.atomic
def workspace_set_status(
    *,
    workspace: Workspace,
    status: str,
    reason: str,
    by: User | None,
    forfeit_credits: bool = False,
    tell_owners: bool = True,
) -> Workspace:
    """Suspend, terminate or reactivate a workspace, recording who, when and why.

    Suspension and termination pause its running campaigns at once and stop it dialling and
    buying. Reactivation leaves the campaigns they paused for the members to resume (see
    campaigns.lifecycle.services.campaigns_account_reactivated). With `forfeit_credits`
    (termination only) the credits available (not held by calls in progress) are forfeited
    through the ledger; the returned workspace's `forfeited_credits` says how many. The owners
    are told by a notice (why, and how to appeal) unless `tell_owners` is False.
    """
    _check_status_change(status, reason, forfeit_credits)
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    unchanged = (workspace.status, workspace.status_reason) == (status, reason.strip())
    workspace.status = status
    workspace.status_reason = reason.strip()
    workspace.status_changed_at = timezone.now()
    workspace.save(update_fields=["status", "status_reason", "status_changed_at"])
    change = WorkspaceStatusChange.objects.create(
        workspace=workspace, status=status, reason=reason.strip(), changed_by=by
    )
    if status != Workspace.Status.ACTIVE:
        for campaign in Campaign.objects.filter(workspace=workspace, status=Campaign.Status.RUNNING):
            campaign_pause(
                campaign=campaign,
                reason=f"Paused: the account is {workspace.get_status_display().lower()}.",
                kind=Campaign.PauseKind.ACCOUNT,
            )
    else:
        campaigns_account_reactivated(workspace=workspace)
    # Last, after the campaign locks: the credit account's lock comes after them everywhere.
    workspace.forfeited_credits = (
        ledger.credit_forfeit(workspace=workspace, reason=reason, by=by) if forfeit_credits else None
    )
    if tell_owners and not unchanged:
        notice_send_to_workspace(
            workspace=workspace,
            kind=_STATUS_NOTICE[status],
            key=f"workspace:{workspace.pk}:status:{change.pk}",
            context={"scope": "workspace", "reason": reason.strip(), "forfeited": workspace.forfeited_credits},
        )
    return workspace


# What a status change tells the people it concerns (notices.kinds).
_STATUS_NOTICE = {
    User.Status.SUSPENDED: notice_kinds.ACCOUNT_SUSPENDED,
    User.Status.TERMINATED: notice_kinds.ACCOUNT_TERMINATED,
    User.Status.ACTIVE: notice_kinds.ACCOUNT_REACTIVATED,
}


def _solo_personal_workspace(user: User) -> Workspace | None:
    """The user's personal workspace when nobody else belongs to it: staff acting on such an
    account act on its business too, as they did when an account was one person."""
    workspace = Workspace.objects.filter(personal_for=user).first()
    if workspace is None or workspace.memberships.exclude(user=user).exists():
        return None
    return workspace


@transaction.atomic
def account_set_status(*, user: User, status: str, reason: str, by: User | None, forfeit_credits: bool = False) -> User:
    """Suspend, terminate or reactivate a person's account, recording who, when and why.

    A suspended user is shut out of every workspace they belong to (the gate shows them only
    why); a terminated one cannot log in. The workspaces themselves go on, except the user's
    personal workspace when they are its only member: it takes the same status (its campaigns
    pause; `forfeit_credits` forfeits its credits), so a one-person account is stopped whole.
    The returned user's `forfeited_credits` says how many were forfeited.
    """
    _check_status_change(status, reason, forfeit_credits)
    user = User.objects.select_for_update().get(pk=user.pk)
    unchanged = (user.status, user.status_reason) == (status, reason.strip())
    user.status = status
    user.status_reason = reason.strip()
    user.status_changed_at = timezone.now()
    if status == User.Status.TERMINATED:
        user.is_active = False
    elif status == User.Status.ACTIVE and user.deletion_requested_at is None:
        user.is_active = True
    user.save(update_fields=["status", "status_reason", "status_changed_at", "is_active"])
    change = AccountStatusChange.objects.create(user=user, status=status, reason=reason.strip(), changed_by=by)
    user.forfeited_credits = None
    workspace = _solo_personal_workspace(user)
    if workspace is not None:
        # The person is told once, below, about their account and the workspace it stops with it.
        workspace = workspace_set_status(
            workspace=workspace,
            status=status,
            reason=reason,
            by=by,
            forfeit_credits=forfeit_credits,
            tell_owners=False,
        )
        user.forfeited_credits = workspace.forfeited_credits
    elif forfeit_credits:
        raise AccountError("This account shares its workspace: terminate the workspace to forfeit its credits.")
    if not unchanged:
        notice_send(
            user=user,
            kind=_STATUS_NOTICE[status],
            key=f"account:{user.pk}:status:{change.pk}",
            context={
                "scope": "account",
                "reason": reason.strip(),
                "workspace": workspace,
                "forfeited": user.forfeited_credits,
            },
            workspace=workspace,
        )
    return user


def workspaces_closing_with(user: User) -> list[Workspace]:
    """The open workspaces `user` is the only active owner of: closing the account closes them."""
    owned = Workspace.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.OWNER, closing_requested_at__isnull=True
    )
    others = Membership.objects.filter(role=Membership.Role.OWNER, user__is_active=True).exclude(user=user)
    return list(owned.exclude(pk__in=others.values("workspace")))


@transaction.atomic
def account_delete(*, user: User) -> User:
    """Close the account now; its personal data is purged ACCOUNT_PURGE_AFTER_DAYS later. The
    workspaces it alone owns close with it (their business data is purged then too); in the
    others it only loses its place."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.deletion_requested_at is not None:
        return user
    closing = workspaces_closing_with(user)
    user.deletion_requested_at = timezone.now()
    user.is_active = False
    user.save(update_fields=["deletion_requested_at", "is_active"])
    email = user.email
    purge_on = account_restore_deadline(user=user)
    running = []
    for workspace in closing:
        running += workspace_close_now(workspace=workspace, at=user.deletion_requested_at)
    workspace_ids = [w.pk for w in closing]
    transaction.on_commit(
        lambda: _after_delete(email=email, purge_on=purge_on, campaigns=running, workspace_ids=workspace_ids)
    )
    return user


def workspace_close_now(*, workspace: Workspace, at) -> list:
    """Mark the workspace closing from `at` (it stops dialling and buying at once); the running
    and paused campaigns to stop once this commits."""
    Workspace.objects.filter(pk=workspace.pk).update(closing_requested_at=at)
    return list(
        Campaign.objects.filter(workspace=workspace, status__in=[Campaign.Status.RUNNING, Campaign.Status.PAUSED])
    )


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
    Workspace.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.OWNER, closing_requested_at=user.deletion_requested_at
    ).update(closing_requested_at=None)
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


@transaction.atomic
def workspace_close(*, by: Membership) -> Workspace:
    """An owner closes the workspace: it stops dialling and buying now, its campaigns stop, its
    numbers are given back, and its data is purged ACCOUNT_PURGE_AFTER_DAYS later (members
    keep their accounts; support can reopen it until then)."""
    roles.require(by, roles.Action.OWN)
    workspace = Workspace.objects.select_for_update().get(pk=by.workspace_id)
    if workspace.closing_requested_at is not None:
        return workspace
    workspace.closing_requested_at = timezone.now()
    running = workspace_close_now(workspace=workspace, at=workspace.closing_requested_at)
    audit.record(workspace=workspace, actor=by.user, action="workspace.close", summary="Closed the workspace.")
    workspace_id = workspace.pk
    transaction.on_commit(lambda: _stop_and_release(campaigns=running, workspace_ids=[workspace_id]))
    return workspace


@transaction.atomic
def workspace_reopen(*, workspace: Workspace, by: User, reason: str) -> Workspace:
    """Support reopens a workspace its owner closed, before its data is purged. What closing
    stopped stays stopped (campaigns, numbers given back); members find it as it was otherwise."""
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if workspace.closing_requested_at is None:
        raise AccountError("This workspace was not closed: there is nothing to reopen.")
    deadline = workspace.closing_requested_at + timedelta(days=settings.ACCOUNT_PURGE_AFTER_DAYS)
    if workspace.purged_at is not None or timezone.now() >= deadline:
        raise AccountError("This workspace can no longer be reopened: its data is erased (or being erased).")
    workspace.closing_requested_at = None
    workspace.save(update_fields=["closing_requested_at"])
    audit.record(workspace=workspace, actor=by, action="workspace.reopen", summary=f"Reopened: {reason.strip()}")
    return workspace


def _stop_and_release(*, campaigns, workspace_ids) -> None:
    for campaign in campaigns:
        try:
            campaign_stop(campaign=campaign)
        except Exception:  # already ended: nothing to stop
            continue
    # A closed workspace keeps no numbers (and pays no more monthly fees).
    for workspace_id in workspace_ids:
        try:
            numbers_release_all(workspace_id)
        except NumberError as exc:
            logger.error("closing workspace %s: %s (the daily renewal will retry)", workspace_id, exc)


def _after_delete(*, email: str, purge_on, campaigns, workspace_ids) -> None:
    _stop_and_release(campaigns=campaigns, workspace_ids=workspace_ids)
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
    closed = Workspace.objects.filter(closing_requested_at__lte=cutoff, purged_at__isnull=True)
    for workspace_id in closed.values_list("pk", flat=True):
        workspace_purge(workspace_id=workspace_id)
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
    # The workspaces nobody else owns closed with the account (account_delete): they go with it.
    owned = Membership.objects.filter(user=user, role=Membership.Role.OWNER).values("workspace")
    others = Membership.objects.filter(role=Membership.Role.OWNER).exclude(user=user).values("workspace")
    for workspace_id in Workspace.objects.filter(pk__in=owned).exclude(pk__in=others).values_list("pk", flat=True):
        workspace_purge(workspace_id=workspace_id)
    admin_history_purge(_user_rows(user))  # first: it names rows deleted below
    _purge_sign_in(user)
    events.account_purging.send(sender=User, user_id=user.pk)
    # What other workspaces keep of the person: who did what, without their name or address.
    gone = "a former member"
    WorkspaceEvent.objects.filter(actor=user).update(actor_name=gone)
    WorkspaceEvent.objects.filter(summary__contains=user.email).update(
        summary=Replace("summary", Value(user.email), Value(gone))
    )
    Invitation.objects.filter(email__iexact=user.email).update(email=f"deleted-{user.pk}@deleted.invalid")
    Membership.objects.filter(user=user).delete()
    user.email = f"deleted-{user.pk}@deleted.invalid"
    user.first_name = user.last_name = user.company_name = user.mobile_number = ""
    user.mobile_verified_at = None
    user.status_reason = ""
    user.time_zone = "UTC"
    user.set_unusable_password()
    user.purged_at = timezone.now()
    user.save()
    user.status_changes.update(reason="(purged)")


@transaction.atomic
def workspace_purge(*, workspace_id: int) -> None:
    """Erase everything in a closed workspace that identifies a person or that its members wrote,
    calls and contacts included.

    Kept, anonymised, because the books must be: the calls (when, how long, what they cost) and
    the campaigns and agents they belong to, as empty shells; purchases, refunds and subscriptions
    (Paddle's ids and the amounts); the ledger, which the database never lets change (its memos
    carry no personal text); the carriers' and Paddle's event ids, so a webhook delivered again is
    still recognised. Running it again changes nothing.
    """
    workspace = Workspace.objects.select_for_update().get(pk=workspace_id)
    if workspace.purged_at is not None:
        return
    admin_history_purge(_workspace_rows(workspace))  # first: it names rows deleted below
    # The integrations (API keys, webhook deliveries, HubSpot) erase what they keep for it.
    events.workspace_purging.send(sender=Workspace, workspace_id=workspace.pk)
    _purge_calls(workspace)
    _purge_contacts(workspace)
    _purge_agents_and_campaigns(workspace)
    _purge_billing(workspace)
    workspace.invitations.all().delete()
    workspace.events.all().delete()  # who did what: names and addresses
    workspace.name = f"Deleted workspace {workspace.pk}"
    workspace.company_name = workspace.status_reason = ""
    workspace.time_zone = "UTC"
    workspace.purged_at = timezone.now()
    workspace.save()
    workspace.status_changes.update(reason="(purged)")


def _user_rows(user: User) -> list:
    """A query for each kind of row about the person (the admin's history names them)."""
    return [
        User.objects.filter(pk=user.pk),
        AccountStatusChange.objects.filter(user=user),
        EmailAddress.objects.filter(user=user),
        SocialAccount.objects.filter(user=user),
        SocialToken.objects.filter(account__user=user),
        Authenticator.objects.filter(user=user),
        SecurityEvent.objects.filter(user=user),
        UserSession.objects.filter(user=user),
    ]


def _workspace_rows(workspace: Workspace) -> list:
    """A query for each kind of row the workspace owns (the admin's history names them)."""
    return [
        Workspace.objects.filter(pk=workspace.pk),
        WorkspaceStatusChange.objects.filter(workspace=workspace),
        Membership.objects.filter(workspace=workspace),
        Invitation.objects.filter(workspace=workspace),
        WorkspaceEvent.objects.filter(workspace=workspace),
        CreditAccount.objects.filter(workspace=workspace),
        LedgerEntry.objects.filter(account__workspace=workspace),
        CreditHold.objects.filter(account__workspace=workspace),
        Purchase.objects.filter(workspace=workspace),
        RefundRequest.objects.filter(workspace=workspace),
        CallDispute.objects.filter(workspace=workspace),
        CallCreditBack.objects.filter(call__workspace=workspace),
        Subscription.objects.filter(workspace=workspace),
        PhoneNumber.objects.filter(workspace=workspace),
        c.Agent.objects.filter(workspace=workspace),
        c.KnowledgeSource.objects.filter(agent__workspace=workspace),
        c.KnowledgePassage.objects.filter(agent__workspace=workspace),
        c.PlaygroundSession.objects.filter(workspace=workspace),
        c.ContactList.objects.filter(workspace=workspace),
        c.ContactUpload.objects.filter(contact_list__workspace=workspace),
        c.ImportRejection.objects.filter(contact_list__workspace=workspace),
        c.Contact.objects.filter(contact_list__workspace=workspace),
        c.DoNotCall.objects.filter(workspace=workspace),
        c.Campaign.objects.filter(workspace=workspace),
        c.CampaignContact.objects.filter(campaign__workspace=workspace),
        c.Call.objects.filter(workspace=workspace),
        c.CallTurn.objects.filter(call__workspace=workspace),
        c.AssistantQuestion.objects.filter(workspace=workspace),
    ]


def _purge_sign_in(user: User) -> None:
    EmailAddress.objects.filter(user=user).delete()
    SocialAccount.objects.filter(user=user).delete()  # with its tokens
    Authenticator.objects.filter(user=user).delete()
    # The security log: where and with what browser the person signed in, what they changed.
    SecurityEvent.objects.filter(user=user).delete()
    UserSession.objects.filter(user=user).delete()
    # Sessions name the account they signed in (and allauth keeps sign-in state in them). They
    # cannot be found by account without reading each: expired ones are of no use to anyone and
    # go first, then the few still live are read.
    Session.objects.filter(expire_date__lt=timezone.now()).delete()
    for session in Session.objects.iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()


def _purge_calls(workspace: Workspace) -> None:
    calls = Call.objects.filter(workspace=workspace)
    CallTurn.objects.filter(call__workspace=workspace).delete()
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


def _purge_contacts(workspace: Workspace) -> None:
    ContactList.objects.filter(workspace=workspace, campaigns__isnull=True).delete()
    # Rejected rows and stored uploads hold the same personal data as contacts.
    ImportRejection.objects.filter(contact_list__workspace=workspace).delete()
    ContactUpload.objects.filter(contact_list__workspace=workspace).delete()
    for contact_list in ContactList.objects.filter(workspace=workspace):
        contact_list.contacts.all().delete()  # with their places in campaigns
        contact_list.name = "Deleted list"
        contact_list.source_filename = ""
        contact_list.import_problems = {}
        contact_list.tags = []
        contact_list.column_mapping = {}
        contact_list.import_error = ""
        contact_list.save()
    DoNotCall.objects.filter(workspace=workspace).delete()


def _purge_agents_and_campaigns(workspace: Workspace) -> None:
    KnowledgeSource.objects.filter(agent__workspace=workspace).delete()  # with their passages
    PlaygroundSession.objects.filter(workspace=workspace).delete()
    AssistantQuestion.objects.filter(workspace=workspace).delete()  # what they cost stays in the ledger
    Agent.objects.filter(workspace=workspace).update(
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
    workspace.campaigns.update(
        name="Deleted campaign",
        purpose="",
        caller_number="",
        status_reason="",
        flag_reason="",
        calling_days=[],
        retry_on=[],
    )
    PhoneNumber.objects.filter(workspace=workspace).update(label="")


def paddle_events_of(workspace: Workspace):
    """Paddle's webhooks about the account's payments and subscriptions, as received: found by
    the payment or subscription they are about, or by the account token in their custom data."""

    payments = Purchase.objects.filter(workspace=workspace).values("paddle_transaction_id")
    subscriptions = Subscription.objects.filter(workspace=workspace).values("paddle_subscription_id")
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
        | Q(token=account_token(workspace.pk))
    )


def _purge_billing(workspace: Workspace) -> None:
    RefundRequest.objects.filter(workspace=workspace).update(reason="(purged)", staff_note="")
    # Paddle's webhooks name the buyer (the cardholder's name, custom data).
    events = paddle_events_of(workspace)
    # One not applied yet never will be: the account it would change is gone.
    events.filter(processed_at__isnull=True).update(processed_at=timezone.now())
    events.update(payload={})
