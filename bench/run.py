#!/usr/bin/env python
"""Benchmarks: `make bench`. Results are appended to docs/benchmarks.md with machine and date.

    .venv/bin/python bench/run.py [--only csv ledger claims concurrent webhooks] [--no-write]

Runs against real PostgreSQL and Redis (the test settings, on a throwaway database):
- CSV import: rows per second and peak Python memory for a 50,000-row contact list;
- ledger: credit postings per second, sequential;
- dialer: contacts claimed (call row + credit hold) per second by `campaign_advance`;
- ledger under concurrency: hold_place + hold_settle pairs per second from 1, 8 and 16 threads
  all on one account (they queue on its row lock) and from 16 each on its own account, with
  verify_ledger after each;
- Paddle webhooks: signed `transaction.completed` events per second through
  /billing/paddle/webhook/, in-process (Django test Client, one and several threads) and over
  HTTP to a live server (several client threads, a new database connection per request).

The telephony turn webhook under concurrent load on gunicorn, against a trivial view, is a
separate script: bench/turn_webhook.py.
The conversation engines' own time per turn, the model's time excluded: bench/engine_overhead.py.
The public API's calls list with a million calls (`make bench-api`): bench/api_calls_bench.py.
Outgoing webhook deliveries per second for one worker: bench/webhook_delivery_bench.py.
"""

import hashlib
import hmac
import json
import threading
import time
import tracemalloc
import warnings
from datetime import timedelta
from decimal import Decimal

from common import machine_heading, results_append, throwaway_database  # importing it sets Django up


def bench_csv_import(owner) -> str:
    from campaigns.contacts.importing import contacts_import

    rows = 50_000
    data = "phone,first_name,company\n" + "".join(f"+1202{2000000 + i:07d},Name{i},Co{i}\n" for i in range(rows))
    tracemalloc.start()
    started = time.perf_counter()
    report = contacts_import(
        workspace=owner.personal_workspace, name="bench", filename="bench.csv", data=data.encode(), consent_by=owner
    )
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
        ledger.credit_post(
            workspace=owner.personal_workspace, amount=Decimal("1.5"), kind="staff_adjustment", reference=f"bench:{i}"
        )
    elapsed = time.perf_counter() - started
    return f"| Ledger postings, {n:,} sequential | {n / elapsed:,.0f} postings/s | |"


def bench_claims(owner) -> str:
    from billing import ledger
    from campaigns.dialing import dialer
    from campaigns.models import Agent, Campaign, CampaignContact, ContactList

    ledger.credit_post(
        workspace=owner.personal_workspace,
        amount=Decimal(10_000_000),
        kind="staff_adjustment",
        reference="bench:claims",
    )
    agent = Agent.objects.create(
        workspace=owner.personal_workspace, name="b", opening_line="Hi", closing_line="Bye", max_call_seconds=60
    )
    from telephony.models import PhoneNumber

    contact_list = ContactList.objects.get(workspace=owner.personal_workspace, name="bench")
    PhoneNumber.objects.get_or_create(number="+12025550100", status="active", defaults={"provider": "simulated"})
    owner.personal_workspace.max_concurrent_calls = 1000  # measure the claims, not the workspace's limit
    owner.personal_workspace.save(update_fields=["max_concurrent_calls"])
    campaign = Campaign.objects.create(
        workspace=owner.personal_workspace,
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


def _in_threads(count: int, work) -> float:
    """Run `work(i)` in `count` threads released together; returns the seconds until all finished."""
    from django.db import connection

    barrier = threading.Barrier(count + 1)
    errors = []

    def target(i):
        try:
            barrier.wait()
            work(i)
        except Exception as exc:  # reported below: a benchmark that failed measures nothing
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def bench_ledger_concurrent(owner) -> list[str]:
    """hold_place + hold_settle pairs (what every call does) from several threads at once. On one
    account they queue on its row lock, which each transaction keeps until its commit record is
    on disk: the commit's WAL flush, not the statements, bounds that row."""
    from accounts.models import User
    from billing import ledger
    from billing.verification import ledger_problems

    threads, pairs = 16, 60

    def pairs_for(user, prefix, count):
        for i in range(count):
            reference = f"{prefix}:{i}"
            ledger.hold_place(
                workspace=user.personal_workspace,
                reference=reference,
                max_amount=Decimal(60),
                min_amount=Decimal(10),
                lifetime=timedelta(minutes=5),
            )
            ledger.hold_settle(reference=reference, amount_used=Decimal(37))

    ledger.credit_post(
        workspace=owner.personal_workspace, amount=Decimal(1_000_000), kind="staff_adjustment", reference="bench:pairs"
    )
    others = []
    for i in range(threads):
        user = User.objects.create_user(email=f"bench-pairs-{i}@example.com", password="x")
        ledger.credit_post(
            workspace=user.personal_workspace,
            amount=Decimal(100_000),
            kind="staff_adjustment",
            reference=f"bench:pairs:{i}",
        )
        others.append(user)

    lines = []
    for label, count, user_of in [
        ("1 thread", 1, lambda i: owner),
        ("8 threads, one account", 8, lambda i: owner),
        (f"{threads} threads, one account", threads, lambda i: owner),
        (f"{threads} threads, separate accounts", threads, lambda i: others[i]),
    ]:
        n = pairs if count > 1 else 8 * pairs
        tag = label.replace(" ", "-").replace(",", "")
        elapsed = _in_threads(count, lambda i, tag=tag, n=n, user_of=user_of: pairs_for(user_of(i), f"p:{tag}:{i}", n))
        total = count * n
        problems = ledger_problems()
        lines.append(
            f"| Ledger hold_place + hold_settle, {label} ({total:,} pairs) "
            f"| {total / elapsed:,.0f} pairs/s ({2 * total / elapsed:,.0f} ledger ops/s) "
            f"| verify_ledger: {problems or 'clean'} |"
        )
    return lines


def _signed_completed(owner, txn: str, price_id: str) -> tuple[bytes, str]:
    from django.conf import settings

    from billing.paddle import events

    custom = {"clozit_account_token": events.account_token(owner.personal_workspace.pk)}
    body = json.dumps(
        {
            "event_id": f"evt_{txn}",
            "event_type": "transaction.completed",
            "occurred_at": "2026-11-24T08:00:00Z",
            "data": {
                "id": txn,
                "status": "completed",
                "custom_data": custom,
                "items": [{"price": {"id": price_id}, "quantity": 1}],
                "details": {"totals": {"total": "1000", "grand_total": "1000", "currency_code": "USD"}},
            },
        }
    ).encode()
    ts = int(time.time())
    digest = hmac.new(settings.PADDLE_WEBHOOK_SECRET.encode(), f"{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return body, f"ts={ts};h1={digest}"


def bench_webhooks(owner) -> list[str]:
    import requests
    from django.conf import settings
    from django.test import Client
    from django.test.testcases import LiveServerThread

    from billing import ledger
    from billing.models import CreditPackage, LedgerEntry

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    package = CreditPackage.objects.create(name="bench", credits=500, price=Decimal(10), paddle_price_id="pri_bench")
    url = "/billing/paddle/webhook/"
    before = ledger.balance_of(workspace=owner.personal_workspace).balance
    granted = 0
    lines = []

    def in_process(prefix, n):
        client = Client()
        for i in range(n):
            body, signature = _signed_completed(owner, f"txn_{prefix}_{i}", package.paddle_price_id)
            response = client.post(url, data=body, content_type="application/json", HTTP_PADDLE_SIGNATURE=signature)
            assert response.status_code == 200 and response.content == b"ok", response.content

    n = 300
    elapsed = _in_threads(1, lambda i: in_process("seq", n))
    granted += n
    lines.append(f"| Paddle webhooks (transaction.completed), in-process, 1 thread, {n} | {n / elapsed:,.0f} req/s | |")

    threads, per = 4, 75
    elapsed = _in_threads(threads, lambda i: in_process(f"thr{i}", per))
    granted += threads * per
    lines.append(
        f"| Paddle webhooks, in-process, {threads} threads, {threads * per} | {threads * per / elapsed:,.0f} req/s | |"
    )

    # Redeliveries of events already applied: stored once, answered "duplicate ignored".
    def redeliver(i):
        client = Client()
        for k in range(per):
            body, signature = _signed_completed(owner, f"txn_thr{i}_{k}", package.paddle_price_id)
            response = client.post(url, data=body, content_type="application/json", HTTP_PADDLE_SIGNATURE=signature)
            assert response.content == b"duplicate ignored", response.content

    elapsed = _in_threads(threads, redeliver)
    lines.append(
        f"| Paddle webhook redeliveries (duplicates), in-process, {threads} threads, {threads * per} "
        f"| {threads * per / elapsed:,.0f} req/s | |"
    )

    server = LiveServerThread("127.0.0.1", lambda handler: handler)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    try:
        live = f"http://127.0.0.1:{server.port}{url}"

        def over_http(i):
            with requests.Session() as session:
                for k in range(per):
                    body, signature = _signed_completed(owner, f"txn_live{i}_{k}", package.paddle_price_id)
                    response = session.post(
                        live,
                        data=body,
                        headers={"Content-Type": "application/json", "Paddle-Signature": signature},
                        timeout=30,
                    )
                    assert response.status_code == 200 and response.content == b"ok", response.content

        elapsed = _in_threads(threads, over_http)
        granted += threads * per
        lines.append(
            f"| Paddle webhooks, live HTTP server, {threads} client threads, {threads * per} "
            f"| {threads * per / elapsed:,.0f} req/s | |"
        )
    finally:
        server.terminate()
    # The benchmark is only worth reporting if every event granted its credits exactly once.
    assert ledger.balance_of(workspace=owner.personal_workspace).balance == before + granted * package.credits
    assert LedgerEntry.objects.filter(kind="purchase").count() == granted
    return lines


BENCHMARKS = ("csv", "ledger", "claims", "concurrent", "webhooks")


def main() -> None:
    import argparse
    import logging

    from accounts.models import User
    from billing.verification import ledger_problems

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=BENCHMARKS, help="run only these")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md alone")
    args = parser.parse_args()

    logging.getLogger("paddle_billing").setLevel(logging.WARNING)  # it logs every verification at INFO
    warnings.filterwarnings("ignore", message="No directory at")  # no collected static files here
    with throwaway_database():
        owner = User.objects.create_user(email="bench@example.com", password="x")
        lines = []
        # The claims bench needs the CSV import's contact list.
        if "csv" in args.only or "claims" in args.only:
            lines.append(bench_csv_import(owner))
        if "ledger" in args.only:
            lines.append(bench_ledger(owner))
        if "claims" in args.only:
            lines.append(bench_claims(owner))
        if "concurrent" in args.only:
            lines += bench_ledger_concurrent(owner)
        if "webhooks" in args.only:
            lines += bench_webhooks(owner)
        problems = ledger_problems()
        assert not problems, problems
    header = machine_heading() + "| benchmark | speed | memory |\n|---|---|---|\n"
    out = header + "\n".join(lines) + "\n"
    print(out)
    if not args.no_write:
        results_append(out)


if __name__ == "__main__":
    main()
