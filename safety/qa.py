"""The QA review queue: calls staff listen to, and what their verdicts lead to.

Queued (one QAReview per call, whatever is replayed):
- a sample of answered calls, QA_SAMPLE_RATE of them, chosen by a hash of the call's id: the same
  call is always in or out of the sample (a replayed event, a test), and nothing is stored to
  decide it;
- every call that ended with an opt-out (outcome "do_not_call"), a transfer to a person, or a
  technical failure (outcome "technical_failure", or a call that failed after it was answered);
  calls that failed before anyone answered have no conversation to review (the circuit breaker,
  campaigns/dialing/breaker.py, watches those);
- every call a callee reported (safety.services.report_submit) or opted out of afterwards on the
  "Who called me?" page.

`qa_on_call_end` hears `call.completed` / `call.failed` (clozit.events) inside the transaction that
finished the call, and only writes rows.

Staff mark a review fine, coaching or violation with notes (`qa_reviews_mark`, from the admin). A
violation flags the call's campaign for review (the flag the abuse signals and reports use) and
emails the workspace's owners; QA_VIOLATIONS_TO_SUSPEND violations of one workspace within
QA_VIOLATION_WINDOW_DAYS suspend it (accounts.services.workspace_set_status, which pauses its
running campaigns).
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import Workspace
from accounts.services import workspace_set_status
from campaigns.conversation.engine.intents import wants_a_person
from campaigns.models import Call, CallTurn, Campaign
from clozit import events
from notices import kinds
from notices.services import notice_send_to_workspace

from .errors import SafetyError
from .models import QAReview

Reason = QAReview.Reason
Verdict = QAReview.Verdict


def sample_point(call_id: int) -> float:
    """Where the call falls in [0, 1): the first 8 bytes of a SHA-256 of its id. Uniform enough
    that QA_SAMPLE_RATE of calls fall under QA_SAMPLE_RATE, and the same every time."""
    digest = hashlib.sha256(f"clozit-qa:{call_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def qa_sampled(call_id: int, *, rate: float | None = None) -> bool:
    """Whether an answered call is in the QA sample (rate 0: none; rate 1: all)."""
    rate = settings.QA_SAMPLE_RATE if rate is None else rate
    return sample_point(call_id) < rate


def qa_reasons(call: Call) -> list[str]:
    """Why a call that just ended waits for staff review ([] when it does not)."""
    answered = call.answered_at is not None and call.answered_by != "machine"
    reasons = []
    if answered and call.status == Call.Status.COMPLETED and qa_sampled(call.pk):
        reasons.append(Reason.SAMPLE)
    if call.outcome == Call.Outcome.DO_NOT_CALL:
        reasons.append(Reason.OPT_OUT)
    if call.outcome == Call.Outcome.TRANSFERRED or (answered and _asked_for_a_person(call)):
        reasons.append(Reason.TRANSFER)
    if call.outcome == Call.Outcome.TECHNICAL_FAILURE or (
        call.status == Call.Status.FAILED and call.answered_at is not None
    ):
        reasons.append(Reason.TECHNICAL_FAILURE)
    return reasons


def _asked_for_a_person(call: Call) -> bool:
    """The callee asked for a person, whether or not the agent could transfer them: with no
    transfer number the call ends as a callback (scripted) or the model promises one (LLM), so
    only the callee's own words tell. The scripted engine's own test of those words, for every
    engine alike."""
    said = CallTurn.objects.filter(call_id=call.pk, speaker=CallTurn.Speaker.CALLEE).values_list("text", flat=True)
    return any(wants_a_person(text) for text in said)


def qa_queue(*, call: Call, reasons: list[str]) -> QAReview | None:
    """Queue `call` for review for `reasons`, or add them to its review. Exactly one review per
    call (the unique call, and ON CONFLICT DO NOTHING for two finishes racing). A review already
    done is opened again when a new reason comes (a complaint after it was judged fine): staff
    see it again, with their earlier verdict and notes."""
    if not reasons:
        return None
    QAReview.objects.bulk_create(
        [QAReview(call=call, workspace_id=call.workspace_id, campaign_id=call.campaign_id, reasons=list(reasons))],
        ignore_conflicts=True,
    )
    review = QAReview.objects.select_for_update().get(call=call)
    new = [r for r in reasons if r not in review.reasons]
    if new:
        review.reasons = [*review.reasons, *new]
        review.status = QAReview.Status.OPEN
        review.save(update_fields=["reasons", "status"])
    return review


def qa_on_call_end(sender=None, *, event: events.Event, **kwargs) -> None:
    """The receiver of clozit.events.happened: queue the call that just ended if it needs review."""
    if event.type not in (events.CALL_COMPLETED, events.CALL_FAILED):
        return
    call = Call.objects.filter(pk=event.data.get("call_id")).first()
    if call is not None:
        qa_queue(call=call, reasons=qa_reasons(call))


# --- Staff verdicts -------------------------------------------------------------------------------


def _send_violation(*, workspace: Workspace, reviews: list, notes: str, suspended: bool) -> None:
    """Tell the workspace's owners (a notice each, emailed after commit), once per verdict: the
    key names the first review marked."""
    notice_send_to_workspace(
        workspace=workspace,
        kind=kinds.QA_VIOLATION,
        key=f"qa-violation:{reviews[0].pk}",
        context={"reviews": reviews, "notes": notes, "suspended": suspended},
    )


def _violations_lately(workspace_id: int) -> int:
    since = timezone.now() - timedelta(days=settings.QA_VIOLATION_WINDOW_DAYS)
    return QAReview.objects.filter(workspace_id=workspace_id, verdict=Verdict.VIOLATION, reviewed_at__gte=since).count()


@transaction.atomic
def qa_reviews_mark(*, review_ids: list[int], verdict: str, notes: str, by) -> int:
    """Staff's verdict on reviews: fine, coaching or violation, with notes (required for coaching
    and violations: the owners read them). A review already judged takes the new verdict (staff
    correcting themselves); the consequences of a violation follow only for reviews that were not
    violations already, so a call is never counted, flagged or emailed about twice. Returns how
    many were marked."""
    if verdict not in (Verdict.FINE, Verdict.COACHING, Verdict.VIOLATION):
        raise SafetyError("Choose fine, coaching or violation.")
    notes = notes.strip()
    if verdict != Verdict.FINE and not notes:
        raise SafetyError("Write what was wrong: the notes are kept with the call, and the owners read a violation's.")
    reviews = list(
        QAReview.objects.select_for_update(of=("self",))
        .filter(pk__in=review_ids)
        .select_related("workspace", "campaign")
        .order_by("pk")
    )
    now = timezone.now()
    violations: dict[int, list[QAReview]] = {}
    for review in reviews:
        already_violation = review.verdict == Verdict.VIOLATION
        review.status, review.verdict, review.notes = QAReview.Status.REVIEWED, verdict, notes
        review.reviewed_by, review.reviewed_at = by, now
        review.save(update_fields=["status", "verdict", "notes", "reviewed_by", "reviewed_at"])
        if verdict == Verdict.VIOLATION and not already_violation:
            violations.setdefault(review.workspace_id, []).append(review)
    for workspace_id, group in violations.items():
        _violation_consequences(workspace_id=workspace_id, reviews=group, notes=notes, by=by)
    return len(reviews)


def _violation_consequences(*, workspace_id: int, reviews: list[QAReview], notes: str, by) -> None:
    """Flag the campaigns for review, audit it, suspend the workspace at QA_VIOLATIONS_TO_SUSPEND
    violations within the window, and email the owners once after commit."""
    campaign_ids = {r.campaign_id for r in reviews if r.campaign_id}
    if campaign_ids:
        Campaign.objects.filter(pk__in=campaign_ids).update(
            flagged_at=timezone.now(), flag_reason=f"QA violation: {notes}"[:300]
        )
    audit.record(
        workspace=workspace_id,
        actor=by,
        action="qa.violation",
        summary=f"{len(reviews)} call(s) reviewed as a violation of our terms: {notes}",
    )
    count, limit = _violations_lately(workspace_id), settings.QA_VIOLATIONS_TO_SUSPEND
    workspace = Workspace.objects.get(pk=workspace_id)
    suspended = False
    if limit >= 1 and count >= limit and workspace.status == Workspace.Status.ACTIVE:
        days = settings.QA_VIOLATION_WINDOW_DAYS
        workspace_set_status(
            workspace=workspace,
            status=Workspace.Status.SUSPENDED,
            reason=f"{count} calls reviewed as violations of our terms within {days} days. Latest: {notes}",
            by=by,
            # The decision's own notice says the workspace is suspended, why and how to appeal: one
            # message for one decision, not a second "workspace suspended" notice beside it.
            tell_owners=False,
        )
        suspended = True
    _send_violation(workspace=workspace, reviews=reviews, notes=notes, suspended=suspended)
