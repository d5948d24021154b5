#!/usr/bin/env python
"""Benchmark: `GET /api/v1/calls` for a workspace with a million calls.

    .venv/bin/python bench/api_calls_bench.py [--calls 1000000] [--campaigns 100] [--runs 20]
                                              [--explain] [--keep] [--no-write]

Needs PostgreSQL and Redis on 127.0.0.1 (`scripts/ensure-services`); works on a throwaway
database (the test settings) and writes its table between the "API calls list benchmark" markers
of docs/benchmarks.md unless --no-write.

The account is bench/pages_bench.py's "many campaigns" one: --calls calls over --campaigns
campaigns of three agents over 90 days, with realistic statuses and outcomes. Each request goes
through the Django test client with a read key (`Authorization: Bearer …`): the first page, a page
90% of the way down (its cursor found once, beforehand), each with and without a filter. p50 and
p95 over --runs requests after a warm-up, and the queries of one request (they must not grow with
the depth of the cursor nor with the number of calls). Target: p50 at most 50 ms.
"""

import argparse
import os
import statistics
import warnings
from datetime import timedelta

from common import analyze, explain, machine_heading, results_replace, throwaway_database  # sets Django up
from pages_bench import build_account, percentile, timed

DEEP = 0.9  # how far down the list the deep pages start
KEPT_DATABASE = "clozit_bench_api_calls"
TARGET_MS = 50
START_MARKER = "<!-- API calls list benchmark: bench/api_calls_bench.py -->"
END_MARKER = "<!-- end of API calls list benchmark -->"


def deep_cursor(queryset, fraction: float) -> str:
    """The API's cursor for the page starting `fraction` of the way down `queryset` (newest first)."""
    from campaigns.calls.selectors import Cursor
    from integrations.api.routers.calls import _cursor_encode

    total = queryset.count()
    row = queryset.order_by("-created_at", "-pk").values_list("created_at", "pk")[int(total * fraction)]
    return _cursor_encode(Cursor(*row))


def requests_to_time(owner, campaigns) -> list[tuple[str, dict]]:
    """(name, query parameters) of every request measured."""
    from campaigns.calls.selectors import calls_filtered
    from campaigns.models import Call

    workspace = owner.personal_workspace
    campaign = campaigns[len(campaigns) // 3]
    newest = Call.objects.filter(workspace=workspace).order_by("-created_at").values_list("created_at", flat=True)[0]
    # A week of calls, ending a day before the newest.
    day_before = newest - timedelta(days=1)
    week_before = day_before - timedelta(days=7)
    everything = calls_filtered(workspace=workspace)
    busy = calls_filtered(workspace=workspace, status="busy")
    one_campaign = calls_filtered(workspace=workspace, campaign=campaign.pk)
    interested = calls_filtered(workspace=workspace, outcome="interested")
    return [
        ("first page (50)", {}),
        ("first page, limit 200", {"limit": 200}),
        (f"deep page ({DEEP:.0%} down)", {"cursor": deep_cursor(everything, DEEP)}),
        ("status busy, first page", {"status": "busy"}),
        (f"status busy, deep page ({DEEP:.0%} down)", {"status": "busy", "cursor": deep_cursor(busy, DEEP)}),
        ("status in progress (rare)", {"status": "in_progress"}),
        ("one campaign, first page", {"campaign_id": campaign.pk}),
        (
            f"one campaign, deep page ({DEEP:.0%} down)",
            {"campaign_id": campaign.pk, "cursor": deep_cursor(one_campaign, DEEP)},
        ),
        ("outcome interested, first page", {"outcome": "interested"}),
        (
            f"outcome interested, deep page ({DEEP:.0%} down)",
            {"outcome": "interested", "cursor": deep_cursor(interested, DEEP)},
        ),
        ("a week's calls", {"created_after": week_before.isoformat(), "created_before": day_before.isoformat()}),
        ("outcome transferred (none)", {"outcome": "transferred"}),
    ]


def bench(args) -> tuple[str, list[str], list[float]]:
    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from campaigns.models import Call, CallTurn, Campaign, CampaignContact, Contact
    from integrations.api.keys import api_key_create

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # The bench sends far more than a key's per-minute allowance: measure the list, not the limit.
    settings.API_RATE_LIMIT_PER_MINUTE = 1_000_000
    email = f"bench-api-{args.calls}@example.com"
    if not User.objects.filter(email=email).exists():
        build_account(email=email, calls=args.calls, campaigns=args.campaigns, agents=3)
        analyze(Call, CallTurn, CampaignContact, Contact)
    else:
        analyze(Call)
    owner = User.objects.get(email=email)
    campaigns = list(Campaign.objects.filter(workspace=owner.personal_workspace).order_by("pk"))
    secret = api_key_create(workspace=owner.personal_workspace, by=owner, name="bench", scope="read").secret
    client, headers = Client(), {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def get(params):
        def run():
            response = client.get("/api/v1/calls", params, **headers)
            assert response.status_code == 200, response.content[:300]
            assert response.json()["data"] or params.get("outcome") == "transferred", params

        return run

    results = []
    for name, params in requests_to_time(owner, campaigns):
        times, queries = timed(get(params), args.runs)
        results.append((name, times, queries))
        print(f"  {name}: {statistics.median(times) * 1000:,.1f} ms, {len(queries)} queries", flush=True)
    lines = [
        f"| {name} | {statistics.median(times) * 1000:,.1f} | {percentile(times, 0.95) * 1000:,.1f} | "
        f"{len(queries)} | {queries.slowest()[0] * 1000:,.1f} |"
        for name, times, queries in results
    ]
    table = (
        "| GET /api/v1/calls | p50 ms | p95 ms | queries | slowest query ms |\n"
        "|---|---|---|---|---|\n" + "\n".join(lines) + "\n"
    )
    plans = []
    if args.explain:
        for name, _times, queries in results:
            seconds, sql, params = queries.slowest()
            plans.append(f"### {name}: slowest query {seconds * 1000:,.1f} ms\n\n    {sql}\n")
            plans.append("\n".join("    " + line for line in explain(sql, params)) + "\n")
    return table, plans, [statistics.median(times) for _, times, _ in results]


def main() -> None:
    from django.test.utils import setup_databases

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls of the account (default 1,000,000)")
    parser.add_argument("--campaigns", type=int, default=100, help="campaigns of the account (default 100)")
    parser.add_argument("--runs", type=int, default=20, help="timed requests each (default 20)")
    parser.add_argument("--explain", action="store_true", help="print the plan of each request's slowest query")
    parser.add_argument("--keep", action="store_true", help="keep the database and its data for the next run")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md alone")
    args = parser.parse_args()

    warnings.filterwarnings("ignore", message="No directory at")
    load_before = os.getloadavg()[0]
    if args.keep:
        from django.db import connections

        connections["default"].settings_dict["TEST"]["NAME"] = KEPT_DATABASE
        setup_databases(verbosity=0, interactive=False, keepdb=True, serialized_aliases=set())
        table, plans, medians = bench(args)
    else:
        with throwaway_database():
            table, plans, medians = bench(args)
    verdict = "met" if max(medians) <= TARGET_MS / 1000 else "NOT met"
    out = (
        "## API: listing calls\n"
        + machine_heading().replace("\n## ", "\n### ")
        + f"`GET /api/v1/calls` for one workspace with {args.calls:,} calls over {args.campaigns} campaigns and 90 "
        "days (bench/api_calls_bench.py, `make bench-api`): test settings, PostgreSQL, Redis; requests through the "
        f"Django test client with a read key, p50/p95 of {args.runs} requests after a warm-up; load average "
        f"{load_before:.2f} before the run. Target p50 ≤ {TARGET_MS} ms for every request: {verdict}. Two "
        "queries each, however deep the cursor: the key, and the page (one keyset range of the index its filter "
        "has); the time beyond the slowest query is the request's Python (auth, serialising the rows).\n\n" + table
    )
    print(out)
    if plans:
        print("\n".join(plans))
    if not args.no_write:
        results_replace(out, start=START_MARKER, end=END_MARKER)


if __name__ == "__main__":
    main()
