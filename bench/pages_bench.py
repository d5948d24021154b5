#!/usr/bin/env python
"""Benchmark: an account's pages with a million calls (issue 15).

    .venv/bin/python bench/pages_bench.py [--calls 1000000] [--campaigns 100] [--runs 20]
                                          [--explain] [--keep] [--no-write]

Needs PostgreSQL and Redis on 127.0.0.1 (`scripts/ensure-services`); works on a throwaway
database (the test settings) and appends to docs/benchmarks.md unless --no-write.

Two accounts, built with INSERT ... SELECT over generate_series (a few minutes for 2 × 1,000,000):

- "one campaign": one running campaign with --calls calls, one per target (and contact);
- "many campaigns": --calls calls over --campaigns campaigns (each its own list, targets and
  contacts) of three agents, spread over the last 90 days; the newest campaigns running or
  paused, the others completed.

Calls have realistic statuses (45% answered by a person, 10% by a machine, no answer, busy, failed,
canceled; the newest few still live), outcomes, durations, credits, failure reasons, captured
answers (on interested, call-back and not-interested calls) and, for 1 in 50 answered calls, a
transcript of six turns. Then VACUUM ANALYZE.

Every page through the Django test client, logged in: p50 and p95 over --runs requests after one
warm-up, and the queries of one request; /healthz first, as the machine's cost of any request at
the time of the run (a loaded machine slows every row alike). The calls CSV export is timed to its first chunk (the
header: what a browser waits for before the download starts) and to its first 500 rows (the first
batch an ASGI server sends, clozit.csvsafe.StreamedResponse). --explain prints the plan (EXPLAIN
ANALYZE) of each page's slowest query. --keep keeps the database (clozit_bench_pages, and its data) for the next run;
drop it with `dropdb clozit_bench_pages` when done.
"""

import argparse
import os
import statistics
import time
import warnings
from datetime import timedelta

from common import (  # importing it sets Django up
    Queries,
    analyze,
    counting,
    explain,
    insert_select,
    machine_heading,
    make_owner,
    results_append,
    throwaway_database,
)

CALLER = "+12025550100"
DAYS = 90
LIVE_CALLS = 20  # the newest calls of each account are still in progress
KEPT_DATABASE = "clozit_bench_pages"  # --keep: never one of the test runs' databases
FIRST_BATCH = 500  # rows in the first chunk an ASGI server sends (clozit.csvsafe.StreamedResponse.batch)

# A pseudo-random percentile of row i (0..99), the same on every run; `salt` gives another one.
_R = "((hashint4(i + {salt}) & 2147483647) %% 100)"
R, S, D = _R.format(salt=0), _R.format(salt=1_000_003), _R.format(salt=2_000_003)

# Calls: 45% answered by a person, 10% by a machine, 25% no answer, 8% busy, 7% failed, 5% canceled.
CALL_STATUS = (
    f"CASE WHEN i > %(last)s - {LIVE_CALLS} THEN 'in_progress' WHEN {R} < 55 THEN 'completed' "
    f"WHEN {R} < 80 THEN 'no_answer' WHEN {R} < 88 THEN 'busy' WHEN {R} < 95 THEN 'failed' ELSE 'canceled' END"
)
HUMAN = f"({R} < 45 OR i > %(last)s - {LIVE_CALLS})"
ANSWERED = f"({R} < 55 OR i > %(last)s - {LIVE_CALLS})"
OUTCOME = (
    f"CASE WHEN i > %(last)s - {LIVE_CALLS} THEN '' WHEN {R} >= 55 THEN '' WHEN {R} >= 45 THEN 'voicemail' "
    f"WHEN {S} < 15 THEN 'interested' WHEN {S} < 50 THEN 'not_interested' WHEN {S} < 62 THEN 'call_back' "
    f"WHEN {S} < 82 THEN 'hung_up' WHEN {S} < 87 THEN 'do_not_call' WHEN {S} < 93 THEN 'time_limit' "
    "ELSE 'wrong_person' END"
)
DURATION = f"CASE WHEN {HUMAN} THEN 10 + {D} * 3 WHEN {R} < 55 THEN 20 + {D} / 3 ELSE 0 END"
CREATED = "%(start)s::timestamptz + make_interval(secs => (i - %(first)s) * %(spacing)s)"


def build_calls(*, owner, campaign_ids: list[int], agent_ids: list[int], first_target: int, first_contact: int, count):
    """`count` calls of `owner`, call i (1..count) to target and contact i, in campaign
    i / (count / campaigns), oldest first over the last DAYS days."""
    from django.utils import timezone

    from campaigns.models import Call

    prototype = Call(
        workspace=owner.personal_workspace,
        to_number=CALLER,
        from_number=CALLER,
        provider="simulated",
        time_limit_seconds=600,
    )
    per_campaign = -(-count // len(campaign_ids))
    varying = {
        "campaign_id": "(%(campaigns)s::bigint[])[1 + (i - 1) / %(per_campaign)s]",
        "agent_id": "(%(agents)s::bigint[])[1 + ((i - 1) / %(per_campaign)s) %% cardinality(%(agents)s::bigint[])]",
        "target_id": "%(first_target)s + i - 1",
        "contact_id": "%(first_contact)s + i - 1",
        "to_number": "'+1202' || lpad(i::text, 7, '0')",
        "provider_call_id": "'CAbench' || %(owner)s || '-' || i",
        "hold_reference": "'call:bench-' || %(owner)s || '-' || i",
        "status": CALL_STATUS,
        "answered_by": f"CASE WHEN {HUMAN} THEN 'human' WHEN {R} < 55 THEN 'machine' ELSE '' END",
        "outcome": OUTCOME,
        "failure_reason": f"CASE WHEN {R} BETWEEN 55 AND 79 THEN 'No answer' WHEN {R} BETWEEN 80 AND 87 THEN 'Busy' "
        f"WHEN {R} BETWEEN 88 AND 94 THEN 'Number not in service' ELSE '' END",
        "duration_seconds": DURATION,
        "credits_charged": DURATION,
        "captured": f"(CASE WHEN ({OUTCOME}) IN ('interested', 'call_back') THEN "
        '\'[["email", "p\' || i || \'@example.com"], ["best_time", "mornings"]]\' '
        f"WHEN ({OUTCOME}) = 'not_interested' THEN '[[\"reason\", \"price\"]]' ELSE '[]' END)::jsonb",
        "created_at": CREATED,
        "dialing_started_at": f"{CREATED} + interval '1 second'",
        "answered_at": f"CASE WHEN {ANSWERED} THEN {CREATED} + interval '15 seconds' END",
        "ended_at": f"CASE WHEN i > %(last)s - {LIVE_CALLS} THEN NULL WHEN {ANSWERED} THEN {CREATED} "
        f"+ make_interval(secs => 15 + {DURATION}) ELSE {CREATED} + interval '30 seconds' END",
    }
    start = timezone.now() - timedelta(days=DAYS)
    params = {
        "campaigns": campaign_ids,
        "agents": agent_ids,
        "per_campaign": per_campaign,
        "first_target": first_target,
        "first_contact": first_contact,
        "owner": owner.personal_workspace.pk,
        "start": start,
        "spacing": DAYS * 86400 / count,
    }
    insert_select(Call, prototype=prototype, varying=varying, first=1, last=count, params=params)


def build_turns(*, owner) -> None:
    """Six transcript lines for 1 in 50 of `owner`'s answered calls."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO campaigns_callturn (call_id, sequence, speaker, text, passages, interrupted, created_at)
            SELECT c.id, s, CASE WHEN s %% 2 = 1 THEN 'agent' ELSE 'callee' END,
                   CASE WHEN s %% 2 = 1 THEN 'Hi, this is Sam from Clozit. Is now a good time?'
                        ELSE 'Yes, go ahead, tell me more.' END,
                   '[]'::jsonb, false, c.created_at + make_interval(secs => 15 + s * 5)
            FROM campaigns_call c CROSS JOIN generate_series(1, 6) AS s
            WHERE c.owner_id = %s AND c.answered_by = 'human' AND c.id %% 50 = 0
            """,
            [owner.personal_workspace.pk],
        )


def build_account(*, email: str, calls: int, campaigns: int, agents: int):
    """An account with `calls` calls over `campaigns` campaigns (each with its own list of
    contacts and its targets, one per call). Returns the owner and its campaigns, oldest first."""
    from django.db.models import Max, Min
    from django.utils import timezone

    from campaigns.models import Agent, Call, Campaign, CampaignContact, Contact, ContactList

    owner = make_owner(email)
    agent_rows = [
        Agent.objects.create(
            workspace=owner.personal_workspace, name=f"Agent {n}", opening_line="Hi", closing_line="Bye"
        )
        for n in range(agents)
    ]
    per_campaign = -(-calls // campaigns)
    now = timezone.now()
    lists, campaign_rows = [], []
    for k in range(campaigns):
        contact_list = ContactList.objects.create(
            workspace=owner.personal_workspace, name=f"List {k}", consent_confirmed_at=now, consent_confirmed_by=owner
        )
        # The newest campaigns are still running (the last) or paused; the others are done.
        status = (
            Campaign.Status.RUNNING
            if k >= campaigns - max(1, campaigns // 30)
            else Campaign.Status.PAUSED
            if k >= campaigns - max(1, campaigns // 20)
            else Campaign.Status.COMPLETED
        )
        campaign_rows.append(
            Campaign.objects.create(
                workspace=owner.personal_workspace,
                name=f"Campaign {k}",
                agent=agent_rows[k % agents],
                contact_list=contact_list,
                caller_number=CALLER,
                max_concurrent_calls=50,
                status=status,
                started_at=now - timedelta(days=DAYS * (campaigns - k) / campaigns),
            )
        )
        lists.append(contact_list.pk)
    insert_select(
        Contact,
        prototype=Contact(),
        varying={
            "contact_list_id": "(%(lists)s::bigint[])[1 + (i - 1) / %(per)s]",
            "phone_number": "'+1202' || lpad(i::text, 7, '0')",
            "first_name": "(ARRAY['Ana','Ben','Chloe','Dan','Eve','Farid','Gus','Hana'])[1 + i %% 8]",
            "last_name": "'Person' || i",
            "source_line": "i",
        },
        first=1,
        last=calls,
        params={"lists": lists, "per": per_campaign},
    )
    contacts = Contact.objects.filter(contact_list__workspace=owner.personal_workspace).aggregate(
        first=Min("pk"), last=Max("pk")
    )
    assert contacts["last"] - contacts["first"] + 1 == calls, "contacts' ids are not consecutive"
    campaign_ids = [c.pk for c in campaign_rows]
    insert_select(
        CampaignContact,
        prototype=CampaignContact(status=CampaignContact.Status.DONE, attempts=1, updated_at=now),
        varying={
            "campaign_id": "(%(campaigns)s::bigint[])[1 + (i - 1) / %(per)s]",
            "contact_id": "%(first_contact)s + i - 1",
        },
        first=1,
        last=calls,
        params={"campaigns": campaign_ids, "per": per_campaign, "first_contact": contacts["first"]},
    )
    first_target = CampaignContact.objects.filter(campaign__workspace=owner.personal_workspace).aggregate(
        first=Min("pk")
    )["first"]
    build_calls(
        owner=owner,
        campaign_ids=campaign_ids,
        agent_ids=[a.pk for a in agent_rows],
        first_target=first_target,
        first_contact=contacts["first"],
        count=calls,
    )
    build_turns(owner=owner)
    assert Call.objects.filter(workspace=owner.personal_workspace).count() == calls
    return owner, campaign_rows


# --- timing --------------------------------------------------------------------------------------


def timed(run, runs: int) -> tuple[list[float], Queries]:
    """Seconds of each of `runs` calls of `run()` (after a warm-up), and the queries of one more."""
    run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    queries = Queries()
    with counting(queries):
        run()
    return times, queries


def percentile(times: list[float], fraction: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def page(client, url: str, headers: dict | None = None):
    def get():
        response = client.get(url, **(headers or {}))
        assert response.status_code in (200, 286), (url, response.status_code)

    return get


def export_start(client, url: str, rows: int):
    """The calls CSV download until its first `rows` chunks (rows) are produced, then abandoned."""

    def get():
        response = client.get(url)
        assert response.status_code == 200 and response.streaming, url
        chunks = iter(response.streaming_content)
        for _ in range(rows):
            if next(chunks, None) is None:
                break
        response.close()  # what a server does when the browser goes away: the cursor is closed

    return get


def pages_to_time(*, one_campaign, many_owner, many_campaign, filters_campaign) -> list[tuple[str, str, object]]:
    """(account, page, the request to time) for every page measured."""
    from django.urls import reverse

    htmx = {"HTTP_HX_REQUEST": "true"}
    calls = reverse("call_list")
    export = reverse("calls_export")
    day = many_campaign.started_at.date()
    detail = reverse("campaign_detail", args=[one_campaign.pk])
    stats = reverse("campaign_stats", args=[one_campaign.pk])
    many = [
        # Not a page: the cost of any request on this machine now (session, user, middleware, a query).
        ("Reference: /healthz", reverse("healthz"), None),
        ("Dashboard", reverse("dashboard"), None),
        ("Calls list", calls, None),
        ("Calls list, one campaign", f"{calls}?campaign={filters_campaign.pk}", None),
        ("Calls list, status busy", f"{calls}?status=busy", None),
        ("Calls list, status in progress (rare)", f"{calls}?status=in_progress", None),
        ("Calls list, outcome interested", f"{calls}?outcome=interested", None),
        ("Calls list, outcome transferred (none)", f"{calls}?outcome=transferred", None),
        ("Calls list, not answered", f"{calls}?answered=no", None),
        ("Calls list, one day", f"{calls}?date_from={day}&date_to={day}", None),
        ("Calls list, phone number", f"{calls}?phone=%2B12020500123", None),
        ("Calls list, phone number's last 4 digits", f"{calls}?phone=0123", None),
        ("Calls list, campaign + interested", f"{calls}?campaign={filters_campaign.pk}&outcome=interested", None),
        ("Analytics, 7 days", reverse("analytics") + "?days=7", None),
        ("Analytics, 30 days", reverse("analytics") + "?days=30", None),
        ("Analytics, all time", reverse("analytics") + "?days=all", None),
    ]
    one = [
        ("Campaign page", detail, None),
        ("Campaign progress fragment (htmx, every 2 s)", detail, htmx),
        ("Campaign results panel (campaign_stats, every 5 s)", stats, htmx),
        ("Calls list, the campaign", f"{calls}?campaign={one_campaign.pk}", None),
    ]
    rows = [(f"many: {name}", url, headers) for name, url, headers in many]
    rows += [(f"one: {name}", url, headers) for name, url, headers in one]
    exports = [
        ("many: CSV export, account", export, many_owner),
        ("many: CSV export, one campaign", f"{export}?campaign={many_campaign.pk}", many_owner),
        ("one: CSV export, the campaign", f"{export}?campaign={one_campaign.pk}", one_campaign.workspace.personal_for),
    ]
    return rows, exports


def abuse_check(campaign_id: int):
    from campaigns.dialing.abuse import campaign_abuse_check

    def check():
        assert campaign_abuse_check(campaign_id) == ""

    return check


def bench(args) -> tuple[str, list[str]]:
    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from campaigns.models import Call, CallTurn, Campaign, CampaignContact, Contact

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    many_email, one_email = f"bench-many-{args.calls}@example.com", f"bench-one-{args.calls}@example.com"
    if not User.objects.filter(email=one_email).exists():
        started = time.perf_counter()
        build_account(email=many_email, calls=args.calls, campaigns=args.campaigns, agents=3)
        built_many = time.perf_counter() - started
        build_account(email=one_email, calls=args.calls, campaigns=1, agents=1)
        analyze(Call, CallTurn, CampaignContact, Contact)
        print(
            f"  built in {time.perf_counter() - started:.0f} s ({built_many:.0f} s for the first account)", flush=True
        )
    else:  # a kept database: indexes a new migration just built have no statistics yet
        analyze(Call)
    many_owner, one_owner = User.objects.get(email=many_email), User.objects.get(email=one_email)
    many_campaigns = list(Campaign.objects.filter(workspace=many_owner.personal_workspace).order_by("pk"))
    one_campaign = Campaign.objects.get(workspace=one_owner.personal_workspace)
    pages, exports = pages_to_time(
        one_campaign=one_campaign,
        many_owner=many_owner,
        many_campaign=many_campaigns[len(many_campaigns) // 2],
        filters_campaign=many_campaigns[len(many_campaigns) // 3],
    )
    clients = {}
    for owner in (many_owner, one_owner):
        clients[owner.pk] = Client()
        clients[owner.pk].force_login(owner)

    results = []  # (name, times, queries)
    for name, url, headers in pages:
        owner = one_owner if name.startswith("one:") else many_owner
        times, queries = timed(page(clients[owner.pk], url, headers), args.runs)
        results.append((name, times, queries))
        print(f"  {name}: {statistics.median(times) * 1000:,.1f} ms, {len(queries)} queries", flush=True)
    # Not a page: what the dialer runs before every claim of the running campaign.
    times, queries = timed(abuse_check(one_campaign.pk), args.runs)
    results.append(("one: abuse check before each claim (campaign_abuse_check)", times, queries))
    for name, url, owner in exports:
        for rows, label in ((1, "first chunk (header)"), (FIRST_BATCH, f"first {FIRST_BATCH} rows")):
            times, queries = timed(export_start(clients[owner.pk], url, rows), args.runs)
            results.append((f"{name}, {label}", times, queries))
            print(f"  {name}, {label}: {statistics.median(times) * 1000:,.1f} ms", flush=True)

    lines = [
        f"| {name} | {statistics.median(times) * 1000:,.1f} | {percentile(times, 0.95) * 1000:,.1f} | "
        f"{len(queries)} | {queries.slowest()[0] * 1000:,.1f} |"
        for name, times, queries in results
    ]
    table = (
        f"| page (many: 1 account, {args.campaigns} campaigns; one: 1 campaign) | p50 ms | p95 ms | queries "
        "| slowest query ms |\n"
        "|---|---|---|---|---|\n" + "\n".join(lines) + "\n"
    )
    plans = []
    if args.explain:
        for name, _times, queries in results:
            seconds, sql, params = queries.slowest()
            plans.append(f"### {name}: slowest query {seconds * 1000:,.1f} ms\n\n    {sql}\n")
            plans.append("\n".join("    " + line for line in explain(sql, params)) + "\n")
    return table, plans


def main() -> None:
    from django.test.utils import setup_databases

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls of each account (default 1,000,000)")
    parser.add_argument("--campaigns", type=int, default=100, help="campaigns of the first account (default 100)")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--explain", action="store_true", help="print the plan of each page's slowest query")
    parser.add_argument("--keep", action="store_true", help="keep the database and its data for the next run")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md alone")
    args = parser.parse_args()

    warnings.filterwarnings("ignore", message="No directory at")  # no collected static files here
    load_before = os.getloadavg()[0]
    if args.keep:  # a database of its own, migrated, its data built only once
        from django.db import connections

        connections["default"].settings_dict["TEST"]["NAME"] = KEPT_DATABASE
        setup_databases(verbosity=0, interactive=False, keepdb=True, serialized_aliases=set())
        table, plans = bench(args)
    else:
        with throwaway_database():
            table, plans = bench(args)
    header = (
        machine_heading()
        + f"An account's pages with {args.calls:,} calls (bench/pages_bench.py, `make bench-pages`): test settings, "
        f"PostgreSQL, Redis; two accounts of {args.calls:,} calls each (one over {args.campaigns} campaigns and "
        f"{DAYS} days, one in a single campaign); pages through the Django test client, logged in, p50/p95 of "
        f"{args.runs} requests after a warm-up; load average {load_before:.2f} before the run (other work on the "
        "machine slows every figure alike).\n\n"
    )
    out = header + table
    print(out)
    if plans:
        print("\n".join(plans))
    if not args.no_write:
        results_append(out)


if __name__ == "__main__":
    main()
