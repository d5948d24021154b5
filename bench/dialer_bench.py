#!/usr/bin/env python
"""Benchmark: the dialer's dispatch rate, and the campaign pages with a million calls.

    .venv/bin/python bench/dialer_bench.py [--contacts 2000] [--calls 1000000] [--runs 5] [--no-write]

Needs PostgreSQL and Redis on 127.0.0.1 (`scripts/ensure-services`); works on a throwaway
database (the test settings, as bench/run.py does) and appends to docs/benchmarks.md.

1. Dispatch on the simulated provider: --contacts contacts in campaigns of 50 (a campaign's
   concurrency limit), every campaign woken at once. One in-process RQ worker (SimpleWorker) on
   the "dialing" queue runs `campaign_advance` (abuse check, claim, call row, credit hold) and
   then `call_place` for every call (last-moment checks, marked dialling, handed to the
   simulated carrier: a job on the "simulator" queue that nobody runs here, so no callee
   answers). Calls placed per second from the wake-up to the last dial, next to the same worker
   running as many no-op jobs. No calls-per-second pacing (the test settings turn it off).
2. Pages with --calls calls of one account in one campaign (inserted with one INSERT ... SELECT
   over generate_series): the campaign page, its progress fragment (htmx, polled every 2 s), its
   results panel (campaign_stats, polled every 5 s), the call list, and the abuse check the
   dialer runs before every claim. Median time over --runs (after one warm-up) and the number of
   queries, at 1,000 calls and at --calls. A page slower than 1 s gets the plan of its slowest
   query (EXPLAIN ANALYZE) in the output.
"""

import argparse
import os
import statistics
import time
import warnings
from decimal import Decimal

from common import machine_heading, results_append, throwaway_database  # importing it sets Django up

CAMPAIGN_SIZE = 50  # the most calls a campaign may have in progress at once
CALLER = "+12025550100"
SLOW_SECONDS = 1.0


def noop() -> None:
    """The baseline job: RQ's own cost per job, and nothing else."""


class Queries:
    """Every query run on this thread's connection while installed, with its time. (Django's
    CaptureQueriesContext keeps the last 9,000 only: fewer than the dispatch runs.)"""

    def __init__(self):
        self.log: list[tuple[float, str, object]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.log.append((time.perf_counter() - started, sql, params))

    def __len__(self) -> int:
        return len(self.log)

    def slowest(self) -> tuple[float, str, object]:
        return max(self.log, key=lambda q: q[0])


def counting(queries: Queries):
    from django.db import connection

    return connection.execute_wrapper(queries)


# --- shared set-up ---------------------------------------------------------------------------


def make_owner(email: str):
    from django.utils import timezone

    from accounts.models import User
    from billing import ledger

    owner = User.objects.create_user(
        email=email,
        password="bench password 1234",
        mobile_number=f"+1415555{User.objects.count():04d}",
        mobile_verified_at=timezone.now(),  # the pages are closed to accounts without one
    )
    ledger.credit_post(user=owner, amount=Decimal(100_000_000), kind="staff_adjustment", reference=f"bench:{email}")
    owner.max_concurrent_calls = 30_000  # measure the dialer, not the account's limit
    owner.save(update_fields=["max_concurrent_calls"])
    return owner


def make_contacts(owner, count: int, name: str):
    from django.utils import timezone

    from campaigns.models import Contact, ContactList

    contact_list = ContactList.objects.create(
        owner=owner, name=name, consent_confirmed_at=timezone.now(), consent_confirmed_by=owner
    )
    Contact.objects.bulk_create(
        [
            Contact(contact_list=contact_list, phone_number=f"+1202{2000000 + i:07d}", first_name=f"P{i}")
            for i in range(count)
        ],
        batch_size=5000,
    )
    return contact_list


def make_campaign(owner, agent, contact_list, contact_ids, *, status, target_status="pending"):
    from campaigns.models import Campaign, CampaignContact

    campaign = Campaign.objects.create(
        owner=owner,
        name=f"bench {contact_list.name}",
        agent=agent,
        contact_list=contact_list,
        caller_number=CALLER,
        max_concurrent_calls=CAMPAIGN_SIZE,
        status=status,
        retry_on=[],
        max_attempts=1,
    )
    CampaignContact.objects.bulk_create(
        [CampaignContact(campaign=campaign, contact_id=pk, status=target_status) for pk in contact_ids],
        batch_size=5000,
    )
    return campaign


# --- 1. dispatch -----------------------------------------------------------------------------


def bench_dispatch(contacts: int) -> list[str]:
    import django_rq
    from django.urls import get_resolver
    from rq import SimpleWorker

    from campaigns.dialing import dialer
    from campaigns.models import Agent, Call, Campaign
    from clozit.queueing import enqueue
    from telephony.models import PhoneNumber

    PhoneNumber.objects.get_or_create(number=CALLER, status="active", defaults={"provider": "simulated"})
    owner = make_owner("bench-dispatch@example.com")
    agent = Agent.objects.create(owner=owner, name="b", opening_line="Hi", closing_line="Bye", max_call_seconds=60)
    contact_list = make_contacts(owner, contacts, "dispatch")
    ids = list(contact_list.contacts.values_list("pk", flat=True))
    campaigns = [
        make_campaign(owner, agent, contact_list, ids[i : i + CAMPAIGN_SIZE], status=Campaign.Status.RUNNING).pk
        for i in range(0, len(ids), CAMPAIGN_SIZE)
    ]
    dialing, simulator = django_rq.get_queue("dialing"), django_rq.get_queue("simulator")
    for queue in (dialing, simulator):
        queue.empty()
    # A real worker has loaded the URLs (webhook addresses) in its system checks before its first
    # job, and forks every job from that process; this one would load them in its first dial.
    get_resolver().url_patterns  # noqa: B018

    def run_worker() -> None:
        SimpleWorker([dialing], connection=dialing.connection).work(burst=True)
        failed = dialing.failed_job_registry.get_job_ids()
        assert not failed, f"jobs failed: {failed}"

    queries = Queries()
    with counting(queries):
        started = time.perf_counter()
        for campaign_id in campaigns:  # what launches and the sweep do: wake every campaign
            enqueue("dialing", dialer.campaign_advance, campaign_id)
        run_worker()
        elapsed = time.perf_counter() - started
    placed = Call.objects.filter(campaign_id__in=campaigns, status=Call.Status.DIALING).exclude(provider_call_id="")
    assert placed.count() == contacts, (placed.count(), contacts)
    assert simulator.count == contacts
    jobs = len(campaigns) + contacts  # one advance per campaign, one place per call

    started = time.perf_counter()
    for _ in range(jobs):
        dialing.enqueue("bench.dialer_bench.noop")  # by name: RQ refuses functions of __main__
    run_worker()
    noop_elapsed = time.perf_counter() - started
    simulator.empty()

    rate, noop_rate = contacts / elapsed, jobs / noop_elapsed
    return [
        f"| Dialer dispatch, simulated provider: {contacts:,} contacts in {len(campaigns)} campaigns of "
        f"{CAMPAIGN_SIZE}, 1 SimpleWorker ({jobs:,} jobs: advance + place) | {rate:,.0f} calls/s "
        f"({elapsed:.1f} s) | {len(queries) / contacts:.1f} queries per call, "
        f"{sum(q[0] for q in queries.log) / elapsed:.0%} of the time in them |",
        f"| No-op RQ job, same queue and worker, {jobs:,} jobs (enqueue + run) | {noop_rate:,.0f} jobs/s "
        f"({noop_elapsed:.1f} s) | dispatch = {rate / noop_rate:.2f}× the no-op job rate per call |",
    ]


# --- 2. pages with a million calls -------------------------------------------------------------


def insert_calls(*, owner, campaign, agent, first: int, last: int, contact_ids: list[int], target_ids: list[int]):
    """Calls numbered first..last (inclusive), spread over the last 90 days: 70% completed
    (answered by a person or a machine, with outcomes), the rest no answer, busy or failed. One
    INSERT ... SELECT: every column the model has, from an unsaved prototype row, with the ones
    that vary computed from the row number."""
    from django.db import connection

    from campaigns.models import Call

    prototype = Call(
        owner=owner,
        campaign=campaign,
        agent=agent,
        to_number="+12025550100",
        from_number=CALLER,
        provider="simulated",
        time_limit_seconds=120,
    )
    varying = {
        "created_at": "now() - make_interval(secs => (%(last)s - i) * 7.776)",
        "dialing_started_at": "now() - make_interval(secs => (%(last)s - i) * 7.776)",
        "status": "(ARRAY['completed','completed','completed','completed','completed','completed','completed',"
        "'no_answer','busy','failed'])[1 + i %% 10]",
        "answered_by": "CASE WHEN i %% 10 < 6 THEN 'human' WHEN i %% 10 = 6 THEN 'machine' ELSE '' END",
        "outcome": "CASE WHEN i %% 10 >= 7 THEN '' WHEN i %% 10 = 6 THEN 'voicemail' ELSE "
        "(ARRAY['interested','not_interested','call_back','hung_up','time_limit','do_not_call'])[1 + i %% 6] END",
        "duration_seconds": "CASE WHEN i %% 10 < 7 THEN 5 + i %% 115 ELSE 0 END",
        "credits_charged": "CASE WHEN i %% 10 < 7 THEN 5 + i %% 115 ELSE 0 END",
        "answered_at": "CASE WHEN i %% 10 < 7 THEN now() - make_interval(secs => (%(last)s - i) * 7.776 - 5) END",
        "ended_at": "now() - make_interval(secs => (%(last)s - i) * 7.776 - 130)",
        "to_number": "'+1202' || (2000000 + i %% %(contacts)s)::text",
        "contact_id": "(%(contact_ids)s::bigint[])[1 + i %% %(contacts)s]",
        "target_id": "(%(target_ids)s::bigint[])[1 + i %% %(contacts)s]",
        "provider_call_id": "'SMbench' || i::text",
        "hold_reference": "'bench:call:' || i::text",
    }
    columns, expressions, params = (
        [],
        [],
        {
            "last": last,
            "contacts": len(contact_ids),
            "contact_ids": contact_ids,
            "target_ids": target_ids,
        },
    )
    for field in Call._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.name in varying or field.attname in varying:
            expressions.append(varying.get(field.name) or varying[field.attname])
        else:
            key = f"p_{field.attname}"
            params[key] = field.get_db_prep_save(field.pre_save(prototype, add=True), connection)
            expressions.append(f"%({key})s")
    sql = (
        f"INSERT INTO {Call._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(expressions)} FROM generate_series(%(first)s, %(last)s) AS i"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "first": first})
        cursor.execute(f"VACUUM ANALYZE {Call._meta.db_table}")


def measure(run, runs: int) -> tuple[float, Queries]:
    """Median seconds of `run()` over `runs` (after a warm-up), and the queries of one run."""
    run()
    queries = Queries()
    with counting(queries):
        run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), queries


def page(client, url: str, headers: dict):
    def get():
        response = client.get(url, **headers)
        assert response.status_code in (200, 286), (url, response.status_code)

    return get


def abuse_check(campaign_id: int):
    from campaigns.dialing.abuse import campaign_abuse_check

    def check():
        assert campaign_abuse_check(campaign_id) == ""

    return check


def explain(sql: str, params) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def bench_pages(total_calls: int, runs: int) -> tuple[list[str], list[str]]:
    from django.conf import settings
    from django.test import Client
    from django.urls import reverse

    from campaigns.models import Agent, Campaign

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # The abuse check runs as it would, but no rate can pass 100%: it never pauses the campaign.
    settings.ABUSE_OPT_OUT_RATE = settings.ABUSE_SHORT_CALL_RATE = 1.0
    owner = make_owner("bench-pages@example.com")
    agent = Agent.objects.create(owner=owner, name="b", opening_line="Hi", closing_line="Bye", max_call_seconds=120)
    contact_list = make_contacts(owner, 10_000, "pages")
    contact_ids = list(contact_list.contacts.order_by("pk").values_list("pk", flat=True))
    campaign = make_campaign(
        owner, agent, contact_list, contact_ids, status=Campaign.Status.RUNNING, target_status="done"
    )
    target_ids = list(campaign.targets.order_by("pk").values_list("pk", flat=True))
    client = Client()
    client.force_login(owner)
    detail = reverse("campaign_detail", args=[campaign.pk])
    htmx = {"HTTP_HX_REQUEST": "true"}
    pages = [
        ("Campaign page", detail, {}),
        ("Campaign progress fragment (htmx, polled every 2 s)", detail, htmx),
        (
            "Campaign results panel (campaign_stats, polled every 5 s)",
            reverse("campaign_stats", args=[campaign.pk]),
            htmx,
        ),
        ("Call list", reverse("call_list"), {}),
    ]
    small = 1_000
    results: dict[str, dict[int, tuple]] = {}
    inserted = 0
    for size in (small, total_calls):
        started = time.perf_counter()
        insert_calls(
            owner=owner,
            campaign=campaign,
            agent=agent,
            first=inserted + 1,
            last=size,
            contact_ids=contact_ids,
            target_ids=target_ids,
        )
        print(f"  {size - inserted:,} calls inserted in {time.perf_counter() - started:.0f} s", flush=True)
        inserted = size
        for name, url, headers in pages:
            results.setdefault(name, {})[size] = measure(page(client, url, headers), runs)
        checks = results.setdefault("Abuse check (the dialer runs it before every claim)", {})
        checks[size] = measure(abuse_check(campaign.pk), runs)

    lines, plans = [], []
    for name, by_size in results.items():
        (t_small, q_small), (t_big, q_big) = by_size[small], by_size[total_calls]
        same = "same" if len(q_small) == len(q_big) else "GROWS"
        lines.append(
            f"| {name} | {t_small * 1000:,.0f} ms at {small:,} calls, {t_big * 1000:,.0f} ms at {total_calls:,} "
            f"| {len(q_small)} → {len(q_big)} queries ({same}) |"
        )
        if t_big > SLOW_SECONDS:
            seconds, sql, params = q_big.slowest()
            plans.append(f"{name}: slowest query {seconds * 1000:,.0f} ms\n\n    {sql}\n")
            plans.append("\n".join("    " + line for line in explain(sql, params)) + "\n")

    grew = [name for name, by_size in results.items() if len(by_size[small][1]) != len(by_size[total_calls][1])]
    slowest_name = max(results, key=lambda name: results[name][total_calls][0])
    t_slowest, q_slowest = results[slowest_name][total_calls]
    seconds, sql, params = q_slowest.slowest()
    scans = [line.strip().split("  (cost=")[0].lstrip("-> ") for line in explain(sql, params) if " Scan " in line]
    summary = (
        ("Queries per page: the same at {small:,} and at {big:,} calls. " if not grew else "Queries GREW: {grew}. ")
        + "Slowest at {big:,} calls: {name}, {page_ms:,.0f} ms; its slowest query {query_ms:,.0f} ms ({scans})."
    ).format(
        small=small,
        big=total_calls,
        grew=", ".join(grew),
        name=slowest_name.split(" (")[0].lower(),
        page_ms=t_slowest * 1000,
        query_ms=seconds * 1000,
        scans="; ".join(dict.fromkeys(scans)) or "no scan",
    )
    return lines, plans, summary


def main() -> None:
    import logging

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=2000, help="contacts dispatched (default 2000)")
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls in the database (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=5, help="timed requests per page (default 5)")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md alone")
    args = parser.parse_args()

    logging.getLogger("rq.worker").setLevel(logging.WARNING)  # one line per job otherwise
    warnings.filterwarnings("ignore", message="No directory at")  # no collected static files here
    load_before = os.getloadavg()[0]
    with throwaway_database():
        print("dispatch...", flush=True)
        dispatch = bench_dispatch(args.contacts)
        print("\n".join(dispatch), flush=True)
        print(f"pages with {args.calls:,} calls...", flush=True)
        pages, plans, summary = bench_pages(args.calls, args.runs)
    header = (
        machine_heading()
        + "Dialer dispatch and pages at scale (bench/dialer_bench.py, `make bench-dialer`): test settings "
        "(no calls-per-second pacing), PostgreSQL, Redis; pages through the Django test client, logged in, "
        f"median of {args.runs} requests after a warm-up; load average {load_before:.2f} before the run "
        "(other work on the machine slows every figure alike).\n\n"
    )
    out = header + "| benchmark | speed | notes |\n|---|---|---|\n" + "\n".join(dispatch) + "\n"
    out += "\n| page (one account, one campaign) | median response | queries |\n|---|---|---|\n"
    out += "\n".join(pages) + "\n\n" + summary + "\n"
    if plans:
        out += f"\nSlower than {SLOW_SECONDS:.0f} s at {args.calls:,} calls, the slowest query's plan:\n\n"
        out += "\n".join(plans)
    print(out)
    if not args.no_write:
        results_append(out)


if __name__ == "__main__":
    main()
