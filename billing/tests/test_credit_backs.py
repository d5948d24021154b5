"""Calls that failed through our fault are given back their charge automatically, exactly once:
whichever fault, however often the event is replayed or the job runs, whatever it races with."""

import threading
from datetime import timedelta
from decimal import Decimal

import django_rq
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from billing.credit_backs import call_credit_back, call_credit_reference, credit_backs_due, platform_fault
from billing.models import CallCreditBack, LedgerEntry
from billing.verification import ledger_problems
from campaigns.calls.services import call_finish
from campaigns.dialing import dialer
from campaigns.models import Call, CallTurn
from campaigns.tests.factories import make_agent
from clozit import events

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def funded(user):
    """Credits enough for a few calls' holds."""
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(1000), kind=LedgerEntry.Kind.PURCHASE, reference="test:funds"
    )


def live_call(user, *, answered=True, agent_speaks_after: float | None = 0.0, **fields) -> Call:
    """A call in progress with its credits held, answered a minute ago by a person; the agent's
    first line `agent_speaks_after` seconds after the answer (None: never)."""
    agent = make_agent(user)
    answered_at = timezone.now() - timedelta(minutes=1)
    call = Call.objects.create(
        workspace=user.personal_workspace,
        agent=agent,
        to_number="+12025550101",
        from_number="+14155550000",
        provider="simulated",
        provider_call_id=f"SMcredit{Call.objects.count()}",
        status=Call.Status.IN_PROGRESS if answered else Call.Status.RINGING,
        answered_at=answered_at if answered else None,
        answered_by="human" if answered else "",
        **fields,
    )
    hold = ledger.hold_place(
        workspace=user.personal_workspace,
        reference=f"call:{call.pk}",
        max_amount=100,
        min_amount=10,
        lifetime=timedelta(minutes=5),
    )
    Call.objects.filter(pk=call.pk).update(hold_reference=hold.reference, time_limit_seconds=100)
    if answered and agent_speaks_after is not None:
        turn = CallTurn.objects.create(call=call, sequence=1, speaker=CallTurn.Speaker.AGENT, text="Hi, this is Acme.")
        CallTurn.objects.filter(pk=turn.pk).update(created_at=answered_at + timedelta(seconds=agent_speaks_after))
    call.refresh_from_db()
    return call


def balance(user) -> Decimal:
    return ledger.balance_of(workspace=user.personal_workspace).balance


def finish(call, django_capture_on_commit_callbacks, run_jobs, **kwargs):
    """The call's end as the carrier reports it, committed, then the queued jobs run."""
    with django_capture_on_commit_callbacks(execute=True):
        call_finish(call_id=call.pk, **kwargs)
    run_jobs()
    call.refresh_from_db()


def credit_entries(call) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(reference=call_credit_reference(call.pk)))


def test_a_technical_failure_is_credited_back_once_with_a_note_on_the_call_page(
    user, client, django_capture_on_commit_callbacks, run_jobs
):
    before = balance(user)
    call = live_call(user, outcome=Call.Outcome.TECHNICAL_FAILURE)

    finish(call, django_capture_on_commit_callbacks, run_jobs, status=Call.Status.COMPLETED, duration_seconds=30)

    assert call.credits_charged == Decimal(30)
    [entry] = credit_entries(call)
    assert entry.amount == Decimal(30) and entry.kind == LedgerEntry.Kind.CALL_CREDIT_BACK
    assert balance(user) == before
    assert call.credit_back.reason == CallCreditBack.Reason.TECHNICAL_FAILURE
    client.force_login(user)
    page = client.get(reverse("call_detail", args=[call.pk])).content.decode()
    assert "Credited back: 30 credits" in page and "the AI model did not answer, even after a retry" in page
    assert "Dispute this charge" not in page
    assert user.personal_workspace.events.filter(action="credits.call_credit_back").count() == 1
    assert not ledger_problems()


def test_dead_air_is_credited_back(user, settings, django_capture_on_commit_callbacks, run_jobs):
    settings.CREDIT_BACK_DEAD_AIR_SECONDS = 8
    before = balance(user)
    silent = live_call(user, agent_speaks_after=None)
    late = live_call(user, agent_speaks_after=20)

    finish(silent, django_capture_on_commit_callbacks, run_jobs, status=Call.Status.COMPLETED, duration_seconds=25)
    finish(late, django_capture_on_commit_callbacks, run_jobs, status=Call.Status.COMPLETED, duration_seconds=40)

    assert silent.credit_back.reason == late.credit_back.reason == CallCreditBack.Reason.DEAD_AIR
    assert [e.amount for e in credit_entries(silent) + credit_entries(late)] == [Decimal(25), Decimal(40)]
    assert balance(user) == before
    assert not ledger_problems()


def test_a_call_our_sweep_had_to_end_is_a_crash_and_costs_nothing(user, django_capture_on_commit_callbacks, run_jobs):
    """The sweep ends a call whose end never came (our crash lost it): call_finish charges a failed
    call nothing, so the customer's balance is whole and there is nothing to post."""
    before = balance(user)
    call = live_call(user)
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        dialer.sweep()
    run_jobs()

    call.refresh_from_db()
    assert call.status == Call.Status.FAILED
    assert platform_fault(call=call) == CallCreditBack.Reason.CRASH  # the sweep's words are still recognised
    assert call.credits_charged == 0 and not credit_entries(call)
    assert balance(user) == before
    assert not ledger_problems()


def test_a_normal_call_is_not_credited_back(user, django_capture_on_commit_callbacks, run_jobs):
    before = balance(user)
    spoke = live_call(user, agent_speaks_after=1)
    machine = live_call(user, agent_speaks_after=None)
    Call.objects.filter(pk=machine.pk).update(answered_by="machine")  # a voicemail greeting is waited out
    unanswered = live_call(user, answered=False)

    finish(spoke, django_capture_on_commit_callbacks, run_jobs, status=Call.Status.COMPLETED, duration_seconds=30)
    finish(machine, django_capture_on_commit_callbacks, run_jobs, status=Call.Status.COMPLETED, duration_seconds=12)
    finish(unanswered, django_capture_on_commit_callbacks, run_jobs, status=Call.Status.NO_ANSWER)

    assert not CallCreditBack.objects.exists()
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_CREDIT_BACK).exists()
    assert balance(user) == before - 42
    assert not ledger_problems()


def test_a_replayed_event_and_a_job_run_twice_credit_back_once(user, django_capture_on_commit_callbacks, run_jobs):
    before = balance(user)
    call = live_call(user, outcome=Call.Outcome.TECHNICAL_FAILURE)
    finish(call, django_capture_on_commit_callbacks, run_jobs, status=Call.Status.COMPLETED, duration_seconds=30)

    with django_capture_on_commit_callbacks(execute=True):
        events.publish(type=events.CALL_COMPLETED, workspace_id=call.workspace_id, call_id=call.pk)
        events.publish(type=events.CALL_COMPLETED, workspace_id=call.workspace_id, call_id=call.pk)
    assert django_rq.get_queue("default").count == 2
    run_jobs()
    call_credit_back(call_id=call.pk)
    # The carrier's final event delivered again finds the call finished: nothing moves.
    finish(call, django_capture_on_commit_callbacks, run_jobs, status=Call.Status.COMPLETED, duration_seconds=30)

    assert len(credit_entries(call)) == 1 and CallCreditBack.objects.count() == 1
    assert balance(user) == before
    assert not ledger_problems()


def test_a_credit_back_before_the_settlement_waits_for_it_and_one_after_changes_nothing(
    user, django_capture_on_commit_callbacks, run_jobs
):
    before = balance(user)
    call = live_call(user, outcome=Call.Outcome.TECHNICAL_FAILURE)

    assert call_credit_back(call_id=call.pk) is None  # still live, its hold not settled: no charge yet
    assert ledger.hold_is_active(reference=call.hold_reference)
    finish(call, django_capture_on_commit_callbacks, run_jobs, status=Call.Status.COMPLETED, duration_seconds=30)
    ledger.hold_settle(reference=call.hold_reference, amount_used=Decimal(50))  # a late second settle: no change
    call_credit_back(call_id=call.pk)

    assert [e.amount for e in credit_entries(call)] == [Decimal(30)]
    assert balance(user) == before
    assert ledger.balance_of(workspace=user.personal_workspace).held == 0
    assert not ledger_problems()


@pytest.mark.django_db(transaction=True)
def test_credit_backs_racing_the_settlement_and_each_other_post_once(user):
    """The call's end and two credit-back jobs at the same moment, in three connections."""
    before = balance(user)
    call = live_call(user, outcome=Call.Outcome.TECHNICAL_FAILURE)
    start = threading.Barrier(3)
    errors = []

    def run(action):
        try:
            start.wait(5)
            action()
        except Exception as exc:  # reported below, with the thread's own traceback lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=run,
            args=(lambda: call_finish(call_id=call.pk, status=Call.Status.COMPLETED, duration_seconds=30),),
        ),
        threading.Thread(target=run, args=(lambda: call_credit_back(call_id=call.pk),)),
        threading.Thread(target=run, args=(lambda: call_credit_back(call_id=call.pk),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    call_credit_back(call_id=call.pk)  # the job the call's own event enqueues, whichever came first

    assert [e.amount for e in credit_entries(call)] == [Decimal(30)]
    assert balance(user) == before
    assert not ledger_problems()


def test_the_hourly_check_credits_back_what_a_lost_job_missed(user, django_capture_on_commit_callbacks):
    """The job after a call's end was lost (Redis restarted, a worker killed): the scheduled
    check finds the call and credits it back once; normal calls are left alone."""
    before = balance(user)
    failed = live_call(user, outcome=Call.Outcome.TECHNICAL_FAILURE)
    silent = live_call(user, agent_speaks_after=None)
    normal = live_call(user, agent_speaks_after=1)
    for call, seconds in ((failed, 30), (silent, 20), (normal, 45)):
        with django_capture_on_commit_callbacks(execute=False):  # the job is never run
            call_finish(call_id=call.pk, status=Call.Status.COMPLETED, duration_seconds=seconds)

    assert credit_backs_due() == 2
    assert credit_backs_due() == 0  # once
    assert [len(credit_entries(c)) for c in (failed, silent, normal)] == [1, 1, 0]
    assert balance(user) == before - Decimal(45)
    assert not ledger_problems()
