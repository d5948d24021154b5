"""Crash safety of the dialer with real processes: RQ workers (`manage.py rqworker`) on a private
redis-server, the simulated carrier calling a live server's webhooks, and the sweep run the way
the scheduler runs it (only faster).

Each test crashes something in the middle of a campaign — a worker killed with SIGKILL while
calls are live, Redis killed and restarted empty, several schedulers sweeping at once — lets the
sweep repair what was left behind, and then checks every contact:

- nobody was called twice at the same time: no two calls of a contact overlap in time (the
  partial unique index "call_one_live_per_target" forbids it), and no call was dialled twice at
  the carrier (one carrier call id per call);
- never more calls at once than the campaign allows;
- nobody is left waiting or claimed, and everybody has a call or a recorded reason;
- every attempt the claims counted is a call row, every call ended, every credit hold closed
  (and the books balance: the autouse `books_balance` check runs after each test);
- every event the carrier sent was applied: no webhook and no sweep failed (but for Redis being
  away, in the Redis test). A failed status webhook is an event lost for good, and the call would
  end as "no final status from the carrier", unpaid, however it really ended.

The sweep's waits (2 to 10 minutes in production) are shortened here to seconds: those are the
only production values changed. Deadlines are generous and everything is polled, for a busy
2-core machine shared with other test runs.
"""

import logging
import threading
import time
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from billing import ledger
from billing.models import CreditHold
from campaigns.calls import services as call_rules
from campaigns.dialing import dialer
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, CampaignContact
from campaigns.tests.factories import make_campaign
from telephony.models import ProviderEvent
from tests.crash_fixtures import RedisServer, Workers, wait_for, worker_env

# 40 fictional numbers (see telephony/simulator.py): by their last two digits, callees who are
# interested (long calls, cut at the time limit), not interested, voicemail, no answer, busy,
# silent, and carrier failures.
AREAS = (202, 212, 312, 415)
ENDINGS = ("01", "05", "12", "21", "25", "61", "71", "81", "91", "96")
NUMBERS = [f"+1{area}55501{ending}" for area in AREAS for ending in ENDINGS]
CONCURRENCY = 5
WORKERS = 3
# Wall-clock seconds per simulated second: a call lasts about a second, so kills land mid-call.
TIME_SCALE = 0.03
# Production: 2, 5 and 10 minutes. Shortened so the sweep repairs within the test.
QUEUED_RESEND_AFTER = timedelta(seconds=4)
DIALING_GIVE_UP_AFTER = timedelta(seconds=5)
STALE_AFTER = timedelta(seconds=4)
SWEEP_EVERY = 1.0  # production: 30 s
DEADLINE = 150  # seconds for a campaign to complete; typically 20-40


class ServerErrors(logging.Handler):
    """Errors the live server (webhooks) and the sweep logged: a webhook that failed is an event
    of the carrier's that was lost, and the carrier does not send it again."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def describe(self, records=None) -> list[str]:
        out = []
        for record in self.records if records is None else records:
            exc = record.exc_info[1] if record.exc_info else None
            detail = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}" if exc else ""
            out.append(f"{record.getMessage()} {detail}")
        return out

    def not_caused_by_redis(self) -> list[str]:
        import redis

        def redis_down(record):
            exc = record.exc_info[1] if record.exc_info else None
            while exc is not None:
                if isinstance(exc, redis.RedisError) or "unreachable" in str(exc):
                    return True
                exc = exc.__cause__ or exc.__context__
            return False

        return self.describe([r for r in self.records if not redis_down(r)])


@pytest.fixture
def server_errors():
    handler = ServerErrors()
    loggers = [logging.getLogger(name) for name in ("django.request", "campaigns.dialing.dialer")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture
def crash_env(live_server, settings, transactional_db, tmp_path, monkeypatch, server_errors):
    """A private Redis, the queues of this process and of the workers on it, and the settings
    the workers share with this process (the live server answers the carrier's webhooks)."""
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    settings.RQ_QUEUES = {name: {**config, "URL": redis_server.url} for name, config in settings.RQ_QUEUES.items()}
    settings.PUBLIC_BASE_URL = live_server.url
    # Abuse signals are tested elsewhere: here they run, but no rate can pass 100%.
    settings.ABUSE_OPT_OUT_RATE = settings.ABUSE_SHORT_CALL_RATE = 1.0
    monkeypatch.setattr(dialer, "QUEUED_RESEND_AFTER", QUEUED_RESEND_AFTER)
    monkeypatch.setattr(dialer, "DIALING_GIVE_UP_AFTER", DIALING_GIVE_UP_AFTER)
    monkeypatch.setattr(call_rules, "STALE_AFTER", STALE_AFTER)
    env = worker_env(
        database=connection.settings_dict,
        redis_url=redis_server.url,
        settings={
            "PUBLIC_BASE_URL": live_server.url,
            "SIMULATED_TIME_SCALE": TIME_SCALE,
            "ABUSE_OPT_OUT_RATE": 1.0,
            "ABUSE_SHORT_CALL_RATE": 1.0,
        },
    )
    workers = Workers(workdir=tmp_path, env=env)
    started = time.monotonic()
    timeline: list[str] = []

    def mark(event: str) -> None:
        timeline.append(f"{time.monotonic() - started:6.1f} s  {event}")

    try:
        yield SimpleNamespace(redis=redis_server, workers=workers, errors=server_errors, mark=mark, timeline=timeline)
    finally:
        workers.stop_all()
        redis_server.kill()
        print("\n".join(["timeline:", *timeline]))  # shown with -s, or when the test fails


def start_campaign(env, user, numbers=NUMBERS) -> Campaign:
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(10_000), kind="staff_adjustment", reference="crash-topup"
    )
    campaign = make_campaign(user, numbers, concurrency=CONCURRENCY, max_call_seconds=15)
    # One attempt each: redials an hour later (the default) would outlast the test.
    Campaign.objects.filter(pk=campaign.pk).update(retry_on=[], max_attempts=1)
    services.campaign_launch(campaign=campaign, by=user)
    env.mark("campaign launched")
    return campaign


def campaign_status(campaign) -> str:
    return Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).get()


def progress(campaign) -> dict:
    return Call.objects.filter(campaign=campaign).aggregate(
        ended=Count("id", filter=Q(ended_at__isnull=False)),
        live=Count("id", filter=Q(status__in=[Call.Status.RINGING, Call.Status.IN_PROGRESS])),
    )


def describe(campaign) -> str:
    targets = dict(CampaignContact.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id")))
    calls = dict(Call.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id")))
    return f"contacts {targets}, calls {calls}"


def sweep_until_complete(env, campaign, *, every: float = SWEEP_EVERY, deadline: float = DEADLINE) -> int:
    """Sweep the way the scheduler does, restarting any worker that died, until the campaign
    completes. Returns how many sweeps it took."""
    sweeps = 0
    started = time.monotonic()
    while campaign_status(campaign) != Campaign.Status.COMPLETED:
        if time.monotonic() - started > deadline:
            raise AssertionError(
                f"campaign not complete after {deadline} s: {describe(campaign)}\n"
                + "\n".join(env.timeline)
                + f"\n{env.workers.logs(tail=15)}"
            )
        for name in env.workers.supervise():
            env.mark(f"restarted a worker that died: {name}")
        dialer.sweep()
        sweeps += 1
        time.sleep(every)
    env.mark(f"campaign complete after {sweeps} sweeps")
    return sweeps


def current_simulated_call(env, worker_name: str) -> int | None:
    """The id of the call the worker is playing at the simulated carrier right now, if any."""
    from rq import Worker

    try:
        worker = next(w for w in Worker.all(connection=env.redis.connection()) if w.name == worker_name)
        job = worker.get_current_job()
    except Exception:
        return None
    if job is None or job.func_name != "telephony.simulator.run_call":
        return None
    call_id = int(job.kwargs["status_url"].rstrip("/").split("/")[-2])
    return call_id if Call.objects.filter(pk=call_id, status__in=Call.LIVE_STATUSES).exists() else None


def start_workers(env, count=WORKERS) -> list[str]:
    names = env.workers.start(count)
    env.workers.wait_until_listening(names, env.redis.connection())
    env.mark(f"{count} workers listening")
    return names


def assert_every_contact_is_safe(env, campaign) -> None:
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    targets = list(CampaignContact.objects.filter(campaign=campaign).select_related("contact"))
    assert len(targets) == len(NUMBERS)
    calls = list(Call.objects.filter(campaign=campaign).order_by("created_at", "id"))
    by_target = defaultdict(list)
    for call in calls:
        by_target[call.target_id].append(call)
    # When each call freed its slot: when its final status reached the platform. (A connected
    # call's record ends its billed seconds after the answer, which the simulator compressed.)
    final_kinds = [f"status:{status}" for status in ("completed", "busy", "no_answer", "failed", "canceled")]
    freed = {call.pk: call.ended_at for call in calls}
    reported = ProviderEvent.objects.filter(call_id__in=list(freed), kind__in=final_kinds)
    for call_id, received_at in reported.values_list("call_id", "received_at"):
        freed[call_id] = min(freed[call_id], received_at)

    # Every call ended; nothing is left live, waiting or claimed.
    assert not [c.pk for c in calls if c.is_live or c.ended_at is None]
    assert not [t.contact.phone_number for t in targets if t.status in ("pending", "claimed")]

    for target in targets:
        mine = by_target[target.pk]
        number = target.contact.phone_number
        # Nobody silently lost: a call, or a reason recorded for the contact.
        assert mine or target.result, f"{number}: no call and no reason ({target.status})"
        assert target.result, f"{number}: finished without a result"
        # Every attempt the claims counted is a call row, and every call was claimed.
        assert target.attempts == len(mine), f"{number}: {target.attempts} attempts, {len(mine)} calls"
        # Never two calls to one person at the same time.
        for earlier, later in zip(mine, mine[1:], strict=False):
            assert freed[earlier.pk] <= later.created_at, f"{number}: calls {earlier.pk} and {later.pk} overlap"

    # Never more calls at once than the campaign allows (concurrency counted from live rows).
    edges = sorted([(c.created_at, 1) for c in calls] + [(freed[c.pk], -1) for c in calls], key=lambda e: (e[0], e[1]))
    at_once = peak = 0
    for _, step in edges:
        at_once += step
        peak = max(peak, at_once)
    assert peak <= CONCURRENCY, f"{peak} calls at once, limit {CONCURRENCY}"

    # Each call was dialled at most once: one carrier call id per call, whatever was replayed.
    sids = defaultdict(set)
    events = ProviderEvent.objects.filter(call_id__in=[c.pk for c in calls]).values_list("call_id", "payload")
    for call_id, payload in events:
        sids[call_id].add(payload.get("CallSid"))
    assert not {k: v for k, v in sids.items() if len(v) > 1}, "a call was dialled twice at the carrier"
    for call in calls:
        if call.provider_call_id and sids.get(call.pk):
            assert sids[call.pk] == {call.provider_call_id}

    # Every credit hold was settled or released; nothing stays reserved.
    assert not CreditHold.objects.filter(status=CreditHold.Status.ACTIVE).exists()
    assert ledger.balance_of(workspace=campaign.workspace).held == 0


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_call_loses_nobody_and_calls_nobody_twice(crash_env, user):
    start_workers(crash_env)
    campaign = start_campaign(crash_env, user)

    # Kill a worker while it plays a live call (the carrier's end of the call dies with it),
    # once a few calls are done. A call whose last event was already on its way ends normally:
    # then kill another, until one call is cut off for good.
    def victim():
        if progress(campaign)["ended"] < 6:
            return None
        for name in crash_env.workers.alive():
            call_id = current_simulated_call(crash_env, name)
            if call_id:
                return name, call_id
        return None

    cut_off = None
    for _ in range(5):
        name, call_id = wait_for(victim, timeout=DEADLINE, interval=0.05, what="a worker in the middle of a call")
        crash_env.workers.kill(name)
        crash_env.mark(f"SIGKILL {name} while it played call {call_id}")
        crash_env.workers.supervise()  # a replacement starts, as under systemd
        time.sleep(1)
        if Call.objects.get(pk=call_id).is_live:
            cut_off = call_id
            break
        crash_env.mark(f"call {call_id} had ended all the same: {Call.objects.get(pk=call_id).status}")
    assert cut_off, "no call could be cut off:\n" + "\n".join(crash_env.timeline)
    # And one more worker, whatever it is doing.
    crash_env.workers.kill(crash_env.workers.alive()[0])
    crash_env.mark("SIGKILL another worker")

    sweeps = sweep_until_complete(crash_env, campaign)

    assert_every_contact_is_safe(crash_env, campaign)
    # Nobody could tell how the cut-off call ended: the sweep closed it without charge, and the
    # person was not called again (a call that may have been answered is never redialled).
    killed = Call.objects.get(pk=cut_off)
    assert killed.status == Call.Status.FAILED and killed.credits_charged == 0, killed.failure_reason
    assert Call.objects.filter(target=killed.target).count() == 1
    assert crash_env.workers.restarts >= 2 and sweeps > 1, crash_env.timeline
    # Every other call ended as the carrier reported it: no webhook failed, nothing else went stale.
    assert not crash_env.errors.describe(), crash_env.errors.describe()


@pytest.mark.django_db(transaction=True)
def test_redis_restarted_empty_mid_campaign_loses_nobody_and_calls_nobody_twice(crash_env, user):
    start_workers(crash_env)
    campaign = start_campaign(crash_env, user)
    wait_for(
        lambda: progress(campaign)["ended"] >= 6 and progress(campaign)["live"] >= 1,
        timeout=DEADLINE,
        interval=0.05,
        what="calls in progress",
    )
    in_flight = Call.objects.filter(campaign=campaign, status__in=Call.LIVE_STATUSES).count()
    pending = CampaignContact.objects.filter(campaign=campaign, status=CampaignContact.Status.PENDING).count()

    crash_env.redis.connection().set("crash:before-restart", 1)
    crash_env.redis.kill()  # every queued job and every wake-up is gone
    crash_env.mark(f"redis-server killed with {in_flight} calls in flight, {pending} contacts waiting")
    time.sleep(1)
    restarted_at = timezone.now()
    crash_env.redis.start()
    assert not crash_env.redis.connection().exists("crash:before-restart")  # nothing survived
    crash_env.mark("redis-server started again, empty")

    sweep_until_complete(crash_env, campaign)

    assert_every_contact_is_safe(crash_env, campaign)
    assert in_flight and pending  # the restart did hit calls in flight, with people still to call
    # The workers reconnected (or were restarted) and the campaign went on calling.
    assert Call.objects.filter(campaign=campaign, created_at__gt=restarted_at).exists()
    # Errors only from Redis being away (a webhook that could not wake the campaign, say).
    assert not crash_env.errors.not_caused_by_redis(), crash_env.errors.not_caused_by_redis()


@pytest.mark.django_db(transaction=True)
def test_several_schedulers_at_once_never_double_dial(crash_env, user, monkeypatch):
    # Every sweep re-sends every queued call at once: the most duplicate dial jobs possible.
    monkeypatch.setattr(dialer, "QUEUED_RESEND_AFTER", timedelta(0))
    # Nothing crashes here: no call needs the stale-call repair, so it keeps its production wait.
    monkeypatch.setattr(call_rules, "STALE_AFTER", timedelta(minutes=10))
    start_workers(crash_env)
    campaign = start_campaign(crash_env, user)
    schedulers, errors, stop = 3, [], threading.Event()
    barrier = threading.Barrier(schedulers)

    def scheduler():
        try:
            barrier.wait(timeout=30)
            while not stop.is_set():
                dialer.sweep()
                dialer.campaign_advance(campaign.pk)
                time.sleep(0.05)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(schedulers)]
    for t in threads:
        t.start()
    try:
        wait_for(
            lambda: campaign_status(campaign) == Campaign.Status.COMPLETED or errors or crash_env.errors.records,
            timeout=DEADLINE,
            interval=0.2,
            what=f"the campaign to complete ({describe(campaign)})",
        )
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    crash_env.mark("campaign complete")
    assert not errors, errors
    # No webhook failed and no sweep hit an error: every event of the carrier's was applied.
    assert not crash_env.errors.describe(), crash_env.errors.describe()

    assert_every_contact_is_safe(crash_env, campaign)
    # No call was left to the stale-call repair: all ended the ordinary way.
    assert not Call.objects.filter(campaign=campaign, failure_reason="No final status from the carrier").exists()
