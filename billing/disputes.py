"""Customers dispute a call's charge; staff decide.

Within 7 days of a call, a member who may handle billing asks, with a short reason, for what the
call was charged back. The request waits in the staff queue (admin: the call, its transcript's
start, the charge and the customer's words). Approving posts the credit back through the ledger
under the call's one credit-back reference (billing.credit_backs), so a call is never credited
back twice, whether by two approvals or by an approval racing the automatic credit back;
declining needs a reason. The requester and the workspace's owners are emailed the decision.
One open dispute per call; a call already credited back cannot be disputed.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import dateformat, timezone

from accounts import audit
from campaigns.models import Call, CallTurn
from notices import kinds
from notices.services import notice_send, workspace_recipients

from .credit_backs import call_charge, call_credit_back_post
from .models import CallCreditBack, CallDispute

DISPUTE_WINDOW = timedelta(days=7)


class DisputeError(Exception):
    """A dispute action the rules refuse; the message is written for whoever asked."""


def dispute_refusal(*, workspace, call: Call, now=None) -> str | None:
    """Why the call's charge may not be disputed now, or None when it may. Reads the call's
    credit back and disputes (prefetch them for a list)."""
    now = now or timezone.now()
    if call.workspace_id != workspace.pk:
        return "That call is not in this workspace."
    if call.is_live:
        return "The call is still in progress; its charge is known once it ends."
    credit_back = CallCreditBack.objects.filter(call_id=call.pk).first()
    if credit_back is not None:
        why = credit_back.get_reason_display()
        return f"This call was already credited back ({credit_back.amount} credits) because {why}."
    if now - call.created_at > DISPUTE_WINDOW:
        placed = dateformat.format(timezone.localtime(call.created_at), "M j, Y")
        return f"A call's charge can be disputed within 7 days; this call was placed on {placed}."
    statuses = set(CallDispute.objects.filter(call_id=call.pk).values_list("status", flat=True))
    if CallDispute.Status.OPEN in statuses:
        return "A dispute of this call is already being reviewed."
    if CallDispute.Status.DECLINED in statuses:
        return "Our staff already reviewed a dispute of this call and declined it (see the email they sent)."
    if call_charge(call=call) <= 0:
        return "This call cost nothing, so there is nothing to dispute."
    return None


def _locked_call(call_id: int) -> Call:
    # The call's row first, as call_finish and the automatic credit back lock it.
    return Call.objects.select_for_update(of=("self",)).select_related("workspace").get(pk=call_id)


@transaction.atomic
def call_dispute_create(*, workspace, call: Call, reason: str, by) -> CallDispute:
    reason = (reason or "").strip()
    if not reason:
        raise DisputeError("Tell us what went wrong on this call.")
    call = _locked_call(call.pk)
    refusal = dispute_refusal(workspace=workspace, call=call)
    if refusal:
        raise DisputeError(refusal)
    try:
        with transaction.atomic():
            dispute = CallDispute.objects.create(
                workspace=workspace, call=call, requested_by=by, reason=reason, charge=call_charge(call=call)
            )
    except IntegrityError as exc:  # pragma: no cover - the call's lock makes this a last resort
        raise DisputeError("A dispute of this call is already being reviewed.") from exc
    audit.record(
        workspace=workspace,
        actor=by,
        action="credits.call_dispute",
        summary=f"Disputed the charge of call {call.pk} ({dispute.charge} credits).",
    )
    return dispute


def _open_dispute_for_update(dispute: CallDispute) -> tuple[CallDispute, Call]:
    call = _locked_call(dispute.call_id)
    dispute = CallDispute.objects.select_for_update().get(pk=dispute.pk)
    if dispute.status != CallDispute.Status.OPEN:
        raise DisputeError(f"Dispute #{dispute.pk} was already {dispute.get_status_display().lower()}.")
    return dispute, call


@transaction.atomic
def call_dispute_approve(*, dispute: CallDispute, by, note: str = "") -> CallDispute:
    """Credit the call back (once: a call already credited back keeps its one entry) and tell
    the customer."""
    dispute, call = _open_dispute_for_update(dispute)
    credit_back = call_credit_back_post(call=call, reason=CallCreditBack.Reason.DISPUTE, by=by)
    dispute.status = CallDispute.Status.APPROVED
    dispute.staff_note = (note or "").strip()
    dispute.decided_by, dispute.decided_at = by, timezone.now()
    dispute.save(update_fields=["status", "staff_note", "decided_by", "decided_at"])
    amount = credit_back.amount if credit_back is not None else 0
    audit.record(
        workspace=dispute.workspace_id,
        actor=by,
        action="credits.call_dispute_approved",
        summary=f"Dispute of call {call.pk} approved: {amount} credits back.",
    )
    _send_decision(dispute=dispute)
    return dispute


@transaction.atomic
def call_dispute_decline(*, dispute: CallDispute, by, note: str) -> CallDispute:
    note = (note or "").strip()
    if not note:
        raise DisputeError("Give a reason: the customer reads it.")
    dispute, call = _open_dispute_for_update(dispute)
    dispute.status = CallDispute.Status.DECLINED
    dispute.staff_note = note
    dispute.decided_by, dispute.decided_at = by, timezone.now()
    dispute.save(update_fields=["status", "staff_note", "decided_by", "decided_at"])
    audit.record(
        workspace=dispute.workspace_id,
        actor=by,
        action="credits.call_dispute_declined",
        summary=f"Dispute of call {call.pk} declined: {note}",
    )
    _send_decision(dispute=dispute)
    return dispute


def _recipients(dispute: CallDispute) -> list:
    """The member who asked and the workspace's owners, each once."""
    owners = workspace_recipients(workspace=dispute.workspace_id)
    requester = dispute.requested_by
    if requester is not None and requester.is_active and requester.purged_at is None:
        owners = [requester] + [u for u in owners if u.pk != requester.pk]
    return owners


def _send_decision(*, dispute: CallDispute) -> None:
    """Tell the member who asked and the owners (a notice each, emailed after commit), once per
    dispute: a dispute is decided once."""
    credit_back = CallCreditBack.objects.filter(call_id=dispute.call_id).first()
    context = {
        "dispute": dispute,
        "call": dispute.call,
        "workspace": dispute.workspace,
        "approved": dispute.status == CallDispute.Status.APPROVED,
        "credited": credit_back.amount if credit_back is not None else 0,
        "call_url": settings.PUBLIC_BASE_URL + reverse("call_detail", args=[dispute.call_id]),
    }
    for user in _recipients(dispute):
        notice_send(
            user=user,
            kind=kinds.CALL_DISPUTE_DECIDED,
            key=f"dispute:{dispute.pk}:decided",
            context=context,
            workspace=dispute.workspace,
            link=reverse("call_detail", args=[dispute.call_id]),
        )


def call_charge_state(*, workspace, call: Call) -> dict:
    """What the call page says about the call's charge: its credit back, its latest dispute, and
    whether (or why not) it may be disputed now."""
    return {
        "credit_back": CallCreditBack.objects.filter(call_id=call.pk).first(),
        "dispute": CallDispute.objects.filter(call_id=call.pk).order_by("-created_at").first(),
        "refusal": dispute_refusal(workspace=workspace, call=call),
    }


def transcript_excerpt(*, call_id: int, turns: int = 12) -> list[tuple[str, str]]:
    """The first lines of a call, (speaker, text), for staff deciding a dispute."""
    return list(CallTurn.objects.filter(call_id=call_id).order_by("sequence").values_list("speaker", "text")[:turns])


def disputes_purge(sender=None, *, workspace_id: int, **kwargs) -> None:
    """clozit.events.workspace_purging: the customer's words and staff's answers go; the disputes
    stay, as the refund requests do, because the credits they moved stay in the books."""
    CallDispute.objects.filter(workspace_id=workspace_id).update(reason="(purged)", staff_note="")
