#!/usr/bin/env python
"""Check: the campaign pages and the analytics reads with a million calls, before and after the
counters (migration 0016), in the same run.

    .venv/bin/python bench/counters_check.py [--calls 1000000] [--runs 7]

One account, one running campaign of 10,000 contacts and --calls calls over 90 days (bench/
dialer_bench.py's INSERT ... SELECT, which the counters' triggers count as one statement). Each
read is timed with today's code and with the code before the counters (the selectors as they were
at commit BEFORE, loaded from git), median of --runs after a warm-up; the pages are timed through
the test client, the old ones with the old selectors put in the views' place. Also: what the
triggers cost a single call's counted update. Prints a table; writes nothing.
"""

import argparse
import statistics
import subprocess
import sys
import time
import types
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, throwaway_database  # noqa: E402 - importing it sets Django up
from dialer_bench import Queries, counting, insert_calls, make_campaign, make_contacts, make_owner, page  # noqa: E402

BEFORE = "35c8de0"  # the last commit before the counters


def old_module(path: str, package: str) -> types.ModuleType:
    """`path` as it was at BEFORE, loaded inside `package` (for its relative imports)."""
    source = subprocess.run(["git", "show", f"{BEFORE}:{path}"], cwd=ROOT, check=True, capture_output=True).stdout
    module = types.ModuleType(f"{package}._before_counters")
    module.__package__ = package
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{path}@{BEFORE}", "exec"), module.__dict__)  # noqa: S102 - our own file at a commit
    return module


def median_ms(run, runs: int) -> tuple[float, int]:
    """Median milliseconds of `run()` over `runs` after a warm-up, and the queries of one run."""
    run()
    queries = Queries()
    with counting(queries):
        run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    with throwaway_database():
        from django.conf import settings
        from django.db import connection
        from django.test import Client
        from django.urls import reverse
        from django.utils import timezone

        from campaigns.analytics import selectors as analytics
        from campaigns.analytics import views as analytics_views
        from campaigns.lifecycle import selectors as lifecycle
        from campaigns.lifecycle import views as lifecycle_views
        from campaigns.models import Agent, Call, Campaign
        from telephony.models import PhoneNumber

        old_analytics = old_module("campaigns/analytics/selectors.py", "campaigns.analytics")
        old_lifecycle = old_module("campaigns/lifecycle/selectors.py", "campaigns.lifecycle")
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        PhoneNumber.objects.get_or_create(number="+12025550100", status="active", defaults={"provider": "simulated"})
        owner = make_owner("bench-counters@example.com")
        agent = Agent.objects.create(owner=owner, name="b", opening_line="Hi", closing_line="Bye", max_call_seconds=120)
        contact_list = make_contacts(owner, 10_000, "counters")
        contact_ids = list(contact_list.contacts.order_by("pk").values_list("pk", flat=True))
        campaign = make_campaign(
            owner, agent, contact_list, contact_ids, status=Campaign.Status.RUNNING, target_status="done"
        )
        target_ids = list(campaign.targets.order_by("pk").values_list("pk", flat=True))
        started = time.perf_counter()
        insert_calls(
            owner=owner,
            campaign=campaign,
            agent=agent,
            first=1,
            last=args.calls,
            contact_ids=contact_ids,
            target_ids=target_ids,
        )
        inserted = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE campaigns_callcount")
            cursor.execute("VACUUM ANALYZE campaigns_callhourcount")
        print(f"{args.calls:,} calls inserted in {inserted:.0f} s (triggers included)", flush=True)

        def chart_and_stats(module):
            def run():
                stats = module.campaign_live_stats(campaign=campaign)
                module.calls_over_time(
                    campaign=campaign, span=(stats.first_call_at, stats.last_call_at), kinds=stats.kinds
                )

            return run

        reads = [
            ("campaign_progress", lambda m: lambda: m.campaign_progress(campaign=campaign), old_lifecycle, lifecycle),
            ("campaign_live_stats + calls_over_time", chart_and_stats, old_analytics, analytics),
        ]
        for days in (7, 30, 90, None):
            since = timezone.now() - timedelta(days=days) if days else None
            reads.append(
                (
                    f"account_analytics ({days or 'all'} days)",
                    lambda m, since=since: lambda: m.account_analytics(owner=owner, since=since),
                    old_analytics,
                    analytics,
                )
            )
        month = timezone.now() - timedelta(days=30)
        reads.append(
            (
                "activity_last_days (dashboard)",
                lambda m: lambda: m.activity_last_days(owner=owner),
                old_analytics,
                analytics,
            )
        )
        reads.append(
            (
                "reply_latency (30 days)",
                lambda m: lambda: m.reply_latency(owner=owner, since=month),
                old_analytics,
                analytics,
            )
        )

        client = Client()
        client.force_login(owner)
        detail = reverse("campaign_detail", args=[campaign.pk])
        stats_url = reverse("campaign_stats", args=[campaign.pk])
        htmx = {"HTTP_HX_REQUEST": "true"}
        pages = [
            ("Campaign page", page(client, detail, {})),
            ("Campaign progress fragment (htmx)", page(client, detail, htmx)),
            ("Campaign results panel (campaign_stats)", page(client, stats_url, htmx)),
            ("Trivial page (/healthz), reference", page(client, "/healthz", {})),
        ]

        def use_selectors(progress, stats) -> None:
            """The pages' views with these selectors in their place (old ones: the page before)."""
            lifecycle_views.selectors = types.SimpleNamespace(
                campaign_progress=progress.campaign_progress, campaigns_for_owner=lifecycle.campaigns_for_owner
            )
            analytics_views.campaign_live_stats = stats.campaign_live_stats
            analytics_views.calls_over_time = stats.calls_over_time

        rows = []
        for name, make, old, new in reads:
            before, q_before = median_ms(make(old), args.runs)
            after, q_after = median_ms(make(new), args.runs)
            rows.append(
                f"| {name} | {before:,.1f} ms ({q_before} q) | {after:,.1f} ms ({q_after} q) | {before / after:,.0f}× |"
            )
            print(rows[-1], flush=True)
        for name, run in pages:
            use_selectors(old_lifecycle, old_analytics)
            before, q_before = median_ms(run, args.runs)
            use_selectors(lifecycle, analytics)
            after, q_after = median_ms(run, args.runs)
            rows.append(
                f"| {name} | {before:,.1f} ms ({q_before} q) | {after:,.1f} ms ({q_after} q) | {before / after:,.1f}× |"
            )
            print(rows[-1], flush=True)

        # What the trigger costs one call's counted update (a finish writes two), next to an update it ignores.
        call_id = Call.objects.filter(campaign=campaign, status="completed").values_list("pk", flat=True).first()
        counted = Call.objects.filter(pk=call_id)

        def flip():
            counted.update(outcome="interested")
            counted.update(outcome="not_interested")

        def ignored():
            counted.update(engine_state={"turn": 1})
            counted.update(engine_state={"turn": 2})

        flip_ms = ignored_ms = float("inf")
        for _ in range(3):  # alternated, best of three: the machine is shared
            flip_ms = min(flip_ms, median_ms(lambda: [flip() for _ in range(100)], args.runs)[0])
            ignored_ms = min(ignored_ms, median_ms(lambda: [ignored() for _ in range(100)], args.runs)[0])
        rows.append(
            f"| 200 single-call UPDATEs: outcome changed (trigger moves the call between counters) "
            f"| {ignored_ms:,.1f} ms when uncounted (engine_state) | {flip_ms:,.1f} ms "
            f"| {flip_ms / ignored_ms:,.1f}× the cost |"
        )
        print(rows[-1])
        print("\n| Read | Before (scans the calls) | With the counters | Speed-up |\n|---|---|---|---|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
