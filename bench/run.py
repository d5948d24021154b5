#!/usr/bin/env python
"""Benchmarks: `make bench`. Results are appended to docs/benchmarks.md with machine and date.

Runs against real PostgreSQL and Redis (the test settings, on a throwaway database):
- CSV import: rows per second and peak Python memory for a 50,000-row contact list;
- ledger: credit postings per second, sequential;
- dialer: contacts claimed (call row + credit hold) per second by `campaign_advance`.
"""

import os
import platform
import sys
import time
import tracemalloc
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozit.settings_test")

import django  # noqa: E402

django.setup()

from django.test.utils import setup_databases, teardown_databases  # noqa: E402


def bench_csv_import(owner) -> str:
    from campaigns.contacts import contacts_import

    rows = 50_000
    data = "phone,first_name,company\n" + "".join(f"+1202{2000000 + i:07d},Name{i},Co{i}\n" for i in range(rows))
    tracemalloc.start()
    started = time.perf_counter()
    report = contacts_import(owner=owner, name="bench", filename="bench.csv", data=data.encode())
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (
        f"| CSV import, {rows:,} rows | {report.imported / elapsed:,.0f} rows/s ({elapsed:.1f} s) "
        f"| peak {peak / 2**20:.0f} MiB |"
    )


def bench_ledger(owner) -> str:
    from billing import ledger

    n = 2000
    started = time.perf_counter()
    for i in range(n):
        ledger.credit_post(user=owner, amount=Decimal("1.5"), kind="staff_adjustment", reference=f"bench:{i}")
    elapsed = time.perf_counter() - started
    return f"| Ledger postings, {n:,} sequential | {n / elapsed:,.0f} postings/s | |"


def bench_claims(owner) -> str:
    from billing import ledger
    from campaigns import dialer
    from campaigns.models import Agent, Campaign, CampaignContact, ContactList

    ledger.credit_post(user=owner, amount=Decimal(10_000_000), kind="staff_adjustment", reference="bench:claims")
    agent = Agent.objects.create(owner=owner, name="b", opening_line="Hi", closing_line="Bye", max_call_seconds=60)
    contact_list = ContactList.objects.get(owner=owner, name="bench")
    campaign = Campaign.objects.create(
        owner=owner,
        name="bench",
        agent=agent,
        contact_list=contact_list,
        caller_number="+12025550100",
        max_concurrent_calls=50,
        status=Campaign.Status.RUNNING,
    )
    contacts = list(contact_list.contacts.values_list("pk", flat=True)[:5000])
    CampaignContact.objects.bulk_create([CampaignContact(campaign=campaign, contact_id=pk) for pk in contacts])
    started = time.perf_counter()
    claimed = len(dialer._claim_calls(campaign.pk))
    elapsed = time.perf_counter() - started
    return f"| Dialer claims (call row + credit hold), batch of {claimed} | {claimed / elapsed:,.0f} claims/s | |"


def main() -> None:
    from accounts.models import User

    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        owner = User.objects.create_user(email="bench@example.com", password="x")
        lines = [bench_csv_import(owner), bench_ledger(owner), bench_claims(owner)]
    finally:
        teardown_databases(old_config, verbosity=0)
    header = (
        f"\n## {date.today().isoformat()} — {platform.node()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n\n| benchmark | speed | memory |\n|---|---|---|\n"
    )
    out = header + "\n".join(lines) + "\n"
    print(out)
    path = ROOT / "docs" / "benchmarks.md"
    if not path.exists():
        path.write_text("# Benchmarks\n\nProduced by `make bench` (bench/run.py); newest last.\n")
    with path.open("a") as f:
        f.write(out)


if __name__ == "__main__":
    main()
