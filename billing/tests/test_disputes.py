"""Customers dispute a call's charge from its page; staff approve or decline it in admin; the
customer is emailed; an approval credits the call back exactly once, through the ledger."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, User
from accounts.tests.test_roles import client_in, join, make_user
from billing import ledger
from billing.credit_backs import call_credit_back, call_credit_reference
from billing.disputes import DisputeError, call_dispute_approve, call_dispute_create
from billing.models import CallCreditBack, CallDispute, LedgerEntry
from billing.tests.test_credit_backs import finish, live_call
from billing.verification import ledger_problems
from campaigns.calls.services import call_finish
from campaigns.models import Call
from notices.models import Notice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def funded(user):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(1000), kind=LedgerEntry.Kind.PURCHASE, reference="test:funds"
    )


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="staff@example.com", password="admin pass 1234")


@pytest.fixture
def billing_person(user):
    person = make_user("books@example.com")
    join(user.personal_workspace, person, Membership.Role.BILLING)
    return person


@pytest.fixture
def charged_call(user, django_capture_on_commit_callbacks, run_jobs):
    """A call that went as calls go (the agent spoke at once), charged 30 credits."""
    call = live_call(user)
    finish(call, django_capture_on_commit_callbacks, run_jobs, status=Call.Status.COMPLETED, duration_seconds=30)
    assert call.credits_charged == Decimal(30)
    return call


def page(client, call) -> str:
    return client.get(reverse("call_detail", args=[call.pk])).content.decode()


def admin_action(client, action: str, dispute: CallDispute, note: str | None):
    """Staff tick the dispute and pick the action: the reason page, then (with a note) confirm."""
    url = reverse("admin:billing_calldispute_changelist")
    data = {"action": action, "_selected_action": [dispute.pk]}
    if note is None:
        return client.post(url, data)
    return client.post(url, {**data, "apply": "Confirm", "note": note}, follow=True)


def test_a_dispute_from_the_call_page_approved_by_staff_credits_the_call_back_once_and_emails_the_customer(
    user, billing_person, staff, charged_call, django_capture_on_commit_callbacks, run_jobs
):
    before = ledger.balance_of(workspace=user.personal_workspace).balance
    customer = client_in(billing_person, user.personal_workspace)
    assert "Dispute this charge" in page(customer, charged_call)

    form = customer.get(reverse("call_dispute", args=[charged_call.pk]))
    assert b"Send dispute" in form.content
    response = customer.post(
        reverse("call_dispute", args=[charged_call.pk]), {"reason": "The agent talked over the callee."}
    )
    assert response.status_code == 302
    dispute = CallDispute.objects.get()
    assert (dispute.status, dispute.charge, dispute.requested_by) == (CallDispute.Status.OPEN, 30, billing_person)
    assert "our staff are reviewing it" in page(customer, charged_call)
    assert "Dispute this charge" not in page(customer, charged_call)
    # One open dispute per call.
    customer.post(reverse("call_dispute", args=[charged_call.pk]), {"reason": "Again."})
    assert CallDispute.objects.count() == 1

    staff_client = client_in(staff, staff.personal_workspace)
    queue = staff_client.get(reverse("admin:billing_calldispute_changelist")).content.decode()
    assert "The agent talked over the callee." in queue
    detail = staff_client.get(reverse("admin:billing_calldispute_change", args=[dispute.pk])).content.decode()
    assert "Hi, this is Acme." in detail  # the transcript's start, for staff to judge
    assert b"add a note" in admin_action(staff_client, "approve", dispute, None).content
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_action(staff_client, "approve", dispute, "Our agent misheard; sorry.")
    run_jobs()
    assert "credited back" in done.content.decode()

    dispute.refresh_from_db()
    assert dispute.status == CallDispute.Status.APPROVED and dispute.decided_by == staff
    [entry] = LedgerEntry.objects.filter(reference=call_credit_reference(charged_call.pk))
    assert entry.amount == Decimal(30) and entry.created_by == staff
    assert ledger.balance_of(workspace=user.personal_workspace).balance == before + 30
    # The member who asked and the owner: one email each, and the notice on each one's notices page.
    assert sorted(email.to[0] for email in mail.outbox) == ["books@example.com", "owner@example.com"]
    email = mail.outbox[0]
    assert "approved" in email.subject and "30 credits" in email.body and "Our agent misheard" in email.body
    assert "30 credits" in email.alternatives[0][0]
    assert email.subject.removeprefix("[Clozit] ") in customer.get("/notices/").content.decode()
    assert Notice.objects.filter(key=f"dispute:{dispute.pk}:decided").count() == 2
    assert "Credited back: 30 credits" in page(customer, charged_call)
    assert "our staff approved your dispute" in page(customer, charged_call)
    assert user.personal_workspace.events.filter(action__startswith="credits.call_dispute").count() == 2

    # Approving again changes nothing.
    with pytest.raises(DisputeError, match="already approved"):
        call_dispute_approve(dispute=dispute, by=staff)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_CREDIT_BACK).count() == 1
    run_jobs()
    assert len(mail.outbox) == 2
    assert not ledger_problems()


def test_staff_decline_a_dispute_with_a_reason_the_customer_reads(
    user, staff, charged_call, django_capture_on_commit_callbacks, run_jobs
):
    before = ledger.balance_of(workspace=user.personal_workspace).balance
    owner = client_in(user, user.personal_workspace)
    owner.post(reverse("call_dispute", args=[charged_call.pk]), {"reason": "Too expensive."})
    dispute = CallDispute.objects.get()
    staff_client = client_in(staff, staff.personal_workspace)

    with django_capture_on_commit_callbacks(execute=True):
        no_reason = admin_action(staff_client, "decline", dispute, "")
    assert "This field is required" in no_reason.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_action(staff_client, "decline", dispute, "The call went as it should: the callee hung up.")
    run_jobs()

    dispute.refresh_from_db()
    assert dispute.status == CallDispute.Status.DECLINED
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_CREDIT_BACK).exists()
    assert ledger.balance_of(workspace=user.personal_workspace).balance == before
    [email] = mail.outbox
    assert email.to == ["owner@example.com"] and "declined" in email.subject
    assert "the callee hung up" in email.body and "the callee hung up" in email.alternatives[0][0]
    assert email.subject.removeprefix("[Clozit] ") in owner.get("/notices/").content.decode()
    text = page(owner, charged_call)
    assert "was declined: The call went as it should" in text and "Dispute this charge" not in text
    assert not ledger_problems()


def test_a_call_credited_back_automatically_cannot_be_disputed(user, django_capture_on_commit_callbacks, run_jobs):
    call = live_call(user, outcome=Call.Outcome.TECHNICAL_FAILURE)
    finish(call, django_capture_on_commit_callbacks, run_jobs, status=Call.Status.COMPLETED, duration_seconds=30)
    owner = client_in(user, user.personal_workspace)

    text = page(owner, call)
    assert "Credited back: 30 credits" in text and "Dispute this charge" not in text
    owner.post(reverse("call_dispute", args=[call.pk]), {"reason": "Silence."})
    assert not CallDispute.objects.exists()
    with pytest.raises(DisputeError, match="already credited back"):
        call_dispute_create(workspace=user.personal_workspace, call=call, reason="Silence.", by=user)
    assert not ledger_problems()


def test_an_approval_racing_the_automatic_credit_back_credits_once(
    user, staff, django_capture_on_commit_callbacks, run_jobs
):
    """Disputed while its credit-back job was still queued: the job and the approval share the
    call's one reference, so the call is credited back once."""
    call = live_call(user, agent_speaks_after=None)  # dead air, found by a job not run yet
    call_finish(call_id=call.pk, status=Call.Status.COMPLETED, duration_seconds=20)
    dispute = call_dispute_create(workspace=user.personal_workspace, call=call, reason="Silent.", by=user)
    call_credit_back(call_id=call.pk)
    with django_capture_on_commit_callbacks(execute=True):
        call_dispute_approve(dispute=dispute, by=staff)
    run_jobs()

    assert LedgerEntry.objects.filter(reference=call_credit_reference(call.pk)).count() == 1
    assert CallCreditBack.objects.get().reason == CallCreditBack.Reason.DEAD_AIR
    assert "20 credits" in mail.outbox[0].body
    assert not ledger_problems()


def test_only_recent_charged_calls_may_be_disputed_and_only_by_roles_that_handle_billing(user, charged_call):
    member = make_user("builder@example.com")
    join(user.personal_workspace, member, Membership.Role.MEMBER)
    builder = client_in(member, user.personal_workspace)
    assert "Dispute this charge" not in page(builder, charged_call)
    assert builder.post(reverse("call_dispute", args=[charged_call.pk]), {"reason": "x"}).status_code == 403

    Call.objects.filter(pk=charged_call.pk).update(created_at=timezone.now() - timedelta(days=8))
    owner = client_in(user, user.personal_workspace)
    assert "Dispute this charge" not in page(owner, charged_call)
    owner.post(reverse("call_dispute", args=[charged_call.pk]), {"reason": "Late."})
    assert not CallDispute.objects.exists()

    free = live_call(user, answered=False)
    Call.objects.filter(pk=free.pk).update(status=Call.Status.NO_ANSWER, ended_at=timezone.now())
    with pytest.raises(DisputeError, match="cost nothing"):
        call_dispute_create(workspace=user.personal_workspace, call=free, reason="?", by=user)
    ledger.hold_release(reference=free.hold_reference)


def test_a_purged_workspace_keeps_its_disputes_without_their_words(user, charged_call):
    from accounts.services import workspace_purge

    dispute = call_dispute_create(
        workspace=user.personal_workspace, call=charged_call, reason="My client Jane Roe was upset.", by=user
    )

    workspace_purge(workspace_id=dispute.workspace_id)

    dispute.refresh_from_db()
    assert dispute.reason == "(purged)" and dispute.charge == 30
