"""The counters the campaign and analytics pages read: exact after every kind of writer (the
triggers of migration 0016 count what any statement writes), under calls of one campaign
finishing at once, filled from existing rows by the migration, and checked by verify_counters.

Every database test of the suite is followed by the same check (conftest.py `counters_match`);
these tests also say what the counters hold, so that two empty sides cannot pass for exact."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F, Sum
from django.utils import timezone

from accounts.services import account_purge
from billing import ledger
from campaigns.analytics.selectors import account_analytics, activity_last_days, calls_over_time
from campaigns.calls.counters import counter_problems
from campaigns.calls.services import call_finish
from campaigns.contacts import donotcall, lists
from campaigns.dialing import dialer
from campaigns.lifecycle import services
from campaigns.lifecycle.selectors import campaign_progress
from campaigns.models import Call, CallCount, CallHourCount, Campaign, CampaignContact, TargetCount
from campaigns.tests.factories import make_agent, make_campaign

NUMBERS = [f"+120255502{n:02d}" for n in range(12)]


def topup(user, amount="5000"):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(amount), kind="staff_adjustment", reference=f"topup:{amount}"
    )


def add_call(campaign, *, created_at=None, owner_id=None, **fields) -> Call:
    call = Call.objects.create(
        workspace_id=owner_id or campaign.workspace_id,
        campaign=campaign,
        agent=campaign.agent,
        to_number=fields.pop("to_number", NUMBERS[0]),
        from_number=campaign.caller_number,
        provider="simulated",
        **fields,
    )
    if created_at is not None:
        Call.objects.filter(pk=call.pk).update(created_at=created_at)
    return call


def assert_exact():
    assert counter_problems() == []


@pytest.fixture
def running(user):
    """A launched campaign of 12 contacts, all queued."""
    topup(user)
    campaign = make_campaign(user, NUMBERS, concurrency=4)
    services.campaign_launch(campaign=campaign, by=user)
    return campaign


# --- Each kind of writer ----------------------------------------------------------------
@pytest.mark.django_db
def test_launch_claim_and_finish_are_counted(running):
    targets = TargetCount.objects.get(campaign_id=running.pk)
    assert (targets.pending, targets.claimed) == (12, 0)

    call_ids = dialer._claim_calls(running.pk)
    assert len(call_ids) == 4
    assert TargetCount.objects.get(campaign_id=running.pk).claimed == 4
    assert not CallCount.objects.exists()  # live calls are not counted: the pages read them
    Call.objects.filter(pk__in=call_ids).update(status=Call.Status.IN_PROGRESS, answered_at=timezone.now())
    call_finish(call_id=call_ids[0], status=Call.Status.COMPLETED, duration_seconds=42, answered_by="human")
    call_finish(call_id=call_ids[1], status=Call.Status.COMPLETED, duration_seconds=20, answered_by="machine")
    call_finish(call_id=call_ids[2], status=Call.Status.NO_ANSWER)
    assert_exact()

    progress = campaign_progress(campaign=running)
    assert (progress["queued"], progress["completed"], progress["failed"], progress["in_call"]) == (8, 2, 1, 1)
    assert (progress["placed"], progress["seconds"], progress["credits"]) == (4, 62, Decimal(62))
    answered = CallCount.objects.get(campaign_id=running.pk, answered=True)
    assert (answered.status, answered.outcome, answered.calls, answered.seconds) == ("completed", "hung_up", 1, 42)
    assert CallCount.objects.get(campaign_id=running.pk, outcome="voicemail").answered is False


@pytest.mark.django_db
def test_an_outcome_changed_after_the_finish_moves_the_call_between_counters(running):
    call = add_call(running, status=Call.Status.COMPLETED, outcome="hung_up", duration_seconds=30)
    call.outcome = "interested"  # a reply the model finished after the callee hung up
    call.save(update_fields=["outcome"])
    assert list(CallCount.objects.values_list("outcome", "calls")) == [("interested", 1)]
    assert list(CallHourCount.objects.values_list("outcome", "calls", "answered")) == [("interested", 1, 1)]
    Call.objects.filter(pk=call.pk).update(answered_by="machine_end_beep", credits_charged=Decimal("1.50"))
    count = CallCount.objects.get()
    assert (count.answered, count.credits) == (False, Decimal("1.50"))
    assert_exact()


@pytest.mark.django_db
def test_bulk_writers_are_counted(running):
    # A stop skips every queued contact in one UPDATE.
    dialer._claim_calls(running.pk)
    services.campaign_stop(campaign=running)
    assert (TargetCount.objects.get(campaign_id=running.pk).skipped, CampaignContact.objects.count()) == (8, 12)
    # A number put on the do-not-call list skips it in every queued campaign of the account.
    other = make_campaign(running.workspace, NUMBERS[:3])
    services.campaign_launch(campaign=other, by=running.workspace.personal_for)
    donotcall.dnc_add(workspace=running.workspace, phone_number=NUMBERS[0])
    assert (
        TargetCount.objects.get(campaign_id=other.pk).pending,
        TargetCount.objects.get(campaign_id=other.pk).skipped,
    ) == (2, 1)
    # Calls written straight in SQL, a million at a time in the benchmarks: one statement.
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO campaigns_call (owner_id, campaign_id, agent_id, direction, to_number, from_number,
                   provider, provider_call_id, status, failure_reason, answered_by, outcome, time_limit_seconds,
                   duration_seconds, credits_charged, hold_reference, recording_id, recording_url,
                   recording_seconds, engine_state, captured, created_at)
               SELECT %s, %s, %s, 'outbound', '+12025550199', '+14155550000', 'simulated', '',
                   (ARRAY['completed', 'busy', 'queued'])[1 + i %% 3], '', '', '', 60, i, i, '', '', '', 0,
                   '{}', '[]', now() - make_interval(mins => i)
               FROM generate_series(1, 300) AS i""",
            [running.workspace_id, running.pk, running.agent_id],
        )
    assert CallCount.objects.filter(campaign_id=running.pk).aggregate(n=Sum("calls"))["n"] == 200
    # Deleted: one call, then a contact (with its places in campaigns), then calls in bulk.
    Call.objects.filter(campaign=running, status=Call.Status.BUSY).first().delete()
    contact = other.contact_list.contacts.get(phone_number=NUMBERS[1])
    lists.contact_delete(contact=contact)
    assert TargetCount.objects.get(campaign_id=other.pk).pending == 1
    Call.objects.filter(campaign=running, status=Call.Status.COMPLETED).delete()
    assert set(CallCount.objects.values_list("status", flat=True)) == {"busy"}
    assert_exact()


@pytest.mark.django_db
def test_deleted_agents_campaigns_and_purged_accounts_leave_exact_counters(user, running):
    add_call(running, status=Call.Status.COMPLETED, outcome="customer_liked_it", duration_seconds=5)
    receptionist = make_agent(user, name="Receptionist")
    Call.objects.create(
        workspace=user.personal_workspace,
        agent=receptionist,
        to_number="+14155550000",
        from_number=NUMBERS[5],
        provider="simulated",
        direction=Call.Direction.INBOUND,
        status=Call.Status.COMPLETED,
        duration_seconds=9,
    )
    assert CallCount.objects.filter(campaign_id=0, agent_id=receptionist.pk).exists()
    receptionist.delete()  # its calls outside campaigns keep counting, without an agent
    assert CallCount.objects.filter(campaign_id=0, agent_id=0, calls=1).exists()
    account_purge(user_id=user.pk)  # the agent's own outcome words go; the calls stay
    assert CallCount.objects.filter(campaign_id=running.pk, outcome="").exists()
    assert not TargetCount.objects.filter(campaign_id=running.pk).exists()  # contacts purged
    assert_exact()
    Campaign.objects.filter(pk=running.pk).delete()  # cascaded to its calls
    assert not CallCount.objects.filter(campaign_id=running.pk).exists()
    assert not CallHourCount.objects.filter(campaign_id=running.pk).exists()
    assert_exact()


# --- Concurrency --------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_calls_of_one_campaign_finishing_at_once_stay_exact_without_deadlock(user):
    """Twelve calls finish at the same moment while the dialer claims the next ones: every
    counter row they share is taken in one order (the call counters, then the credit account,
    then the campaign's contact counter, as the claim takes them)."""
    topup(user)
    user.personal_workspace.max_concurrent_calls = 20
    user.personal_workspace.save(update_fields=["max_concurrent_calls"])
    numbers = [f"+120255503{n:02d}" for n in range(24)]
    campaign = make_campaign(user, numbers, concurrency=12)
    services.campaign_launch(campaign=campaign, by=user)
    call_ids = dialer._claim_calls(campaign.pk)
    assert len(call_ids) == 12
    now = timezone.now()
    # Half were already known as machines with the voicemail outcome; the others end with one.
    Call.objects.filter(pk__in=call_ids[::2]).update(
        status=Call.Status.IN_PROGRESS, answered_at=now, answered_by="machine", outcome="voicemail"
    )
    Call.objects.filter(pk__in=call_ids[1::2]).update(status=Call.Status.IN_PROGRESS, answered_at=now)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(call_ids) + 2)

    def run(work):
        try:
            barrier.wait()
            work()
        except BaseException as exc:  # a deadlock would surface here
            errors.append(exc)
        finally:
            connection.close()

    finishes = [
        (
            lambda call_id=call_id, n=n: call_finish(
                call_id=call_id,
                status=Call.Status.COMPLETED,
                duration_seconds=10 + n,
                answered_by="machine" if n % 4 == 1 else "",
            )
        )
        for n, call_id in enumerate(call_ids)
    ]
    claims = [lambda: dialer._claim_calls(campaign.pk)] * 2
    threads = [threading.Thread(target=run, args=(work,)) for work in finishes + claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert_exact()
    counted = CallCount.objects.filter(campaign_id=campaign.pk)
    assert sum(count.calls for count in counted) == 12
    assert sum(count.seconds for count in counted) == sum(10 + n for n in range(12))
    targets = TargetCount.objects.get(campaign_id=campaign.pk)
    assert targets.done + targets.pending + targets.claimed == 24


# --- The migration ------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_the_rows_already_there(user):
    campaign = make_campaign(user, NUMBERS[:4])
    executor = MigrationExecutor(connection)
    executor.migrate([("campaigns", "0015_passage_search_vector")])
    try:
        with connection.cursor() as cursor:
            for n, contact_id in enumerate(campaign.contact_list.contacts.values_list("pk", flat=True)):
                cursor.execute(
                    "INSERT INTO campaigns_campaigncontact (campaign_id, contact_id, status, waiting_reason, attempts,"
                    " result, updated_at) VALUES (%s, %s, %s, '', 1, '', now())",
                    [campaign.pk, contact_id, ["done", "done", "failed", "pending"][n]],
                )
        # Before the workspaces migration a call names its account (user) as its owner.
        for status, seconds in (("completed", 30), ("completed", 40), ("no_answer", 0), ("in_progress", 0)):
            add_call(
                campaign,
                owner_id=user.pk,
                status=status,
                duration_seconds=seconds,
                outcome="interested" if seconds else "",
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert_exact()
    targets = TargetCount.objects.get(campaign_id=campaign.pk)
    assert (targets.done, targets.failed, targets.pending) == (2, 1, 1)
    assert CallCount.objects.get(status="completed").calls == 2
    assert campaign_progress(campaign=campaign)["placed"] == 4


# --- The check ------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.counters_corrupted
def test_verify_counters_reports_drift(running, capsys):
    add_call(running, status=Call.Status.COMPLETED, duration_seconds=30)
    call_command("verify_counters")
    assert "match" in capsys.readouterr().out

    CallCount.objects.update(calls=F("calls") + 1)
    TargetCount.objects.update(pending=F("pending") - 1)
    CallHourCount.objects.all().delete()
    with pytest.raises(CommandError, match="3 counter"):
        call_command("verify_counters")
    reported = capsys.readouterr().err
    assert "campaign contacts" in reported and "calls per hour" in reported and "counted (2, 30" in reported


# --- Figures read from the counters ---------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"])
def test_days_and_periods_are_exact_in_any_zone(user, zone):
    """Local days and a period's start fall inside an hour in zones whose offset is not whole
    hours: the calls of that hour are read, so every figure matches the calls themselves."""
    campaign = make_campaign(user, NUMBERS)
    now = timezone.now()
    moments = [now - timedelta(minutes=17 * n) for n in range(0, 600)]  # about a week, every 17 minutes
    for n, moment in enumerate(moments):
        add_call(
            campaign,
            created_at=moment,
            status=[Call.Status.COMPLETED, Call.Status.BUSY, Call.Status.IN_PROGRESS][n % 3],
            outcome="interested" if n % 3 == 0 else "",
            duration_seconds=n % 50,
            credits_charged=Decimal(n % 7),
        )
    calls = list(
        Call.objects.filter(workspace=user.personal_workspace).values("created_at", "status", "credits_charged")
    )
    with timezone.override(zone):
        tz = timezone.get_current_timezone()
        series = activity_last_days(workspace=user.personal_workspace, days=7)
        for day in series:
            on_day = [c for c in calls if timezone.localtime(c["created_at"], tz).date() == day["day"]]
            assert (day["calls"], day["credits"]) == (len(on_day), sum(c["credits_charged"] for c in on_day))
        since = now - timedelta(days=3, minutes=7)
        report = account_analytics(workspace=user.personal_workspace, since=since)
        in_period = [c for c in calls if c["created_at"] >= since]
        assert report.total.calls == len(in_period)
        assert report.total.finished == len([c for c in in_period if c["status"] != Call.Status.IN_PROGRESS])
        assert report.total.credits == sum(c["credits_charged"] for c in in_period)
        chart = calls_over_time(campaign=campaign)
        per_day: dict = {}
        for call in calls:
            label = timezone.localtime(call["created_at"], tz).strftime("%b %d")
            per_day[label] = per_day.get(label, 0) + 1
    assert chart["unit"] == "day"
    assert dict(zip(chart["labels"], chart["started"], strict=True)) == per_day
    assert sum(chart["positive"]) == 200


@pytest.mark.django_db
def test_a_long_campaign_is_charted_per_day_from_its_hour_counters(user):
    campaign = make_campaign(user, NUMBERS)
    start = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    for n in range(40):
        add_call(
            campaign, created_at=start + timedelta(hours=9 * n), status=Call.Status.COMPLETED, outcome="interested"
        )
    with timezone.override("Asia/Kolkata"):
        chart = calls_over_time(campaign=campaign)
        tz = timezone.get_current_timezone()
        per_day: dict = {}
        for n in range(40):
            day = timezone.localtime(start + timedelta(hours=9 * n), tz).strftime("%b %d")
            per_day[day] = per_day.get(day, 0) + 1
    assert chart["unit"] == "day"
    assert dict(zip(chart["labels"], chart["started"], strict=True)) == {
        label: per_day.get(label, 0) for label in chart["labels"]
    }
    assert sum(chart["answered"]) == sum(chart["positive"]) == 40


@pytest.mark.django_db
def test_verify_counters_rebuild_refills_drifted_counters(running, capsys):
    add_call(running, status=Call.Status.COMPLETED, duration_seconds=30)
    CallCount.objects.update(calls=F("calls") + 5)
    TargetCount.objects.all().delete()
    CallHourCount.objects.all().delete()

    call_command("verify_counters", "--rebuild")

    assert "rebuilt" in capsys.readouterr().out
    assert counter_problems() == []
    assert CallCount.objects.aggregate(n=Sum("calls"))["n"] == 1
