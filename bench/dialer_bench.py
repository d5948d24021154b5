#!/usr/bin/env python
"""Benchmark: the dialer's dispatch rate.

    .venv/bin/python bench/dialer_bench.py [--contacts 2000] [--no-write]

Needs PostgreSQL and Redis on 127.0.0.1 (`scripts/ensure-services`); works on a throwaway
database (the test settings, as bench/run.py does) and appends to docs/benchmarks.md.

1. Dispatch on the simulated provider: --contacts contacts in campaigns of 50 (a campaign's
   concurrency limit), every campaign woken at once. One in-process RQ worker (SimpleWorker) on
   the "dialing" queue runs `campaign_advance` (abuse check, claim, call row, credit hold) and
   then `call_place` for every call (last-moment checks, marked dialling, handed to the
   simulated carrier: a job on the "simulator" queue that nobody runs here, so no callee
   answers). Calls placed per second from the wake-up to the last dial, next to the same worker
   running as many no-op jobs. No calls-per-second pacing (the test settings turn it off).

The pages with a million calls are bench/pages_bench.py's (`make bench-pages`).
"""

import argparse
import os
import time
import warnings

from common import (  # importing it sets Django up
    Queries,
    counting,
    machine_heading,
    make_owner,
    results_append,
    throwaway_database,
)

CAMPAIGN_SIZE = 50  # the most calls a campaign may have in progress at once
CALLER = "+12025550100"


def noop() -> None:
    """The baseline job: RQ's own cost per job, and nothing else."""


def make_contacts(owner, count: int, name: str):
    from django.utils import timezone

    from campaigns.models import Contact, ContactList

    contact_list = ContactList.objects.create(
        workspace=owner.personal_workspace, name=name, consent_confirmed_at=timezone.now(), consent_confirmed_by=owner
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
        workspace=owner.personal_workspace,
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
    agent = Agent.objects.create(
        workspace=owner.personal_workspace, name="b", opening_line="Hi", closing_line="Bye", max_call_seconds=60
    )
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


def main() -> None:
    import logging

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=2000, help="contacts dispatched (default 2000)")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md alone")
    args = parser.parse_args()

    logging.getLogger("rq.worker").setLevel(logging.WARNING)  # one line per job otherwise
    warnings.filterwarnings("ignore", message="No directory at")  # no collected static files here
    load_before = os.getloadavg()[0]
    with throwaway_database():
        print("dispatch...", flush=True)
        dispatch = bench_dispatch(args.contacts)
        print("\n".join(dispatch), flush=True)
    header = (
        machine_heading() + "Dialer dispatch (bench/dialer_bench.py, `make bench-dialer`): test settings "
        "(no calls-per-second pacing), PostgreSQL, Redis; "
        f"load average {load_before:.2f} before the run "
        "(other work on the machine slows every figure alike).\n\n"
    )
    out = header + "| benchmark | speed | notes |\n|---|---|---|\n" + "\n".join(dispatch) + "\n"
    print(out)
    if not args.no_write:
        results_append(out)


if __name__ == "__main__":
    main()
