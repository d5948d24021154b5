#!/usr/bin/env python
"""Outgoing webhook delivery benchmark: `make bench-webhook-delivery`. Writes its results between
the "Webhook delivery benchmark" markers of docs/benchmarks.md (the newest run replaces the last).

    .venv/bin/python bench/webhook_delivery_bench.py [--deliveries 2000] [--no-write]

Real PostgreSQL and Redis (the test settings, on a throwaway database). Events are published in
transactions as the product publishes them (the outbox rows, and after commit the endpoint's drain
started unless one is running), then one RQ worker empties the queue doing what production's does:
lease the deliveries, build and sign each body (Standard Webhooks), POST it through
integrations.http (resolve, address check, pinned connection, no keep-alive) to a receiver in
another process on this machine, and record the answer. Measured: deliveries per second for one
worker, in-process (RQ's SimpleWorker) and forking a child per job (RQ's default Worker); a no-op
job on the same worker for scale; and one delivery at a time (delivery_send in a loop: what a
retry's own job does). The issue's bar: 200 deliveries/s per worker.
"""

import argparse
import multiprocessing
import os
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import machine_heading, results_replace, throwaway_database  # importing it sets Django up

TARGET = 200  # deliveries per second per worker
READING = """
Reading it: new events reach an endpoint through one drain job at a time (a Redis flag per
endpoint), which leases up to 50 due deliveries in one statement, reads them with their messages
in another, then for each builds the body once per message, signs it, sends it and records the
answer (one statement when delivered). So a burst costs RQ's own work once, not once per delivery,
and one endpoint's flood takes one worker, never all of them. Retries, Resend and test events are
a job each (the last row: a delivery on its own). Deliveries scale with workers and endpoints:
each drain leases its own rows, nothing is shared but the database. The absolute rates swing with
the machine's load (its 1-minute load average is in the heading); the share of the no-op job rate
compares across machines.
"""
START = "<!-- Webhook delivery benchmark: bench/webhook_delivery_bench.py -->"
END = "<!-- end of webhook delivery benchmark -->"


def _serve(port_queue) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def publish(workspace_id: int, count: int) -> None:
    """`count` events as the product publishes them: one transaction each (rows, then the enqueue)."""
    from django.db import transaction

    from clozit import events

    for i in range(count):
        with transaction.atomic():
            events.publish(type=events.CREDITS_LOW, workspace_id=workspace_id, balance=str(500 + i), threshold="600")


def noop() -> None:
    """The job every job costs at least: RQ's own work, for comparison."""


def drain(worker_class) -> tuple[int, float]:
    """Run one worker until the queue is empty; (deliveries it delivered, seconds)."""
    import django_rq
    from django.conf import settings

    from integrations.webhooks.models import Delivery

    before = Delivery.objects.filter(status="delivered").count()
    queue = django_rq.get_queue(settings.WEBHOOK_QUEUE)
    worker = worker_class([queue], connection=queue.connection)
    started = time.perf_counter()
    worker.work(burst=True)
    elapsed = time.perf_counter() - started
    return Delivery.objects.filter(status="delivered").count() - before, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="No directory at")

    import logging

    logging.getLogger("rq.worker").setLevel(logging.WARNING)
    from django.conf import settings

    # The receiver is on this machine, over plain http: development's settings.
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_ALLOW_HTTP = True

    ports = multiprocessing.Queue()
    receiver = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    receiver.start()
    port = ports.get(timeout=10)
    rows = []
    try:
        with throwaway_database():
            import django_rq
            from rq import SimpleWorker, Worker

            from accounts.models import User
            from integrations.webhooks import services
            from integrations.webhooks.models import Delivery

            django_rq.get_connection(settings.WEBHOOK_QUEUE).flushdb()
            owner = User.objects.create_user(email="bench@example.com", password="x")
            workspace = owner.personal_workspace
            services.endpoint_create(
                workspace=workspace, by=owner, url=f"http://127.0.0.1:{port}/hook", event_types=["credits.low"]
            )
            n = args.deliveries

            started = time.perf_counter()
            publish(workspace.pk, n)
            published = time.perf_counter() - started
            rows.append(
                f"| publish (event → outbox rows → enqueue after commit), {n:,} events | "
                f"{n / published:,.0f} events/s ({published * 1000 / n:.2f} ms each) |"
            )

            done, elapsed = drain(SimpleWorker)
            assert done == n, done
            rows.append(
                f"| one RQ worker (SimpleWorker), {n:,} new deliveries to one endpoint | "
                f"**{n / elapsed:,.0f} deliveries/s** ({elapsed * 1000 / n:.1f} ms each) |"
            )

            # The same worker running jobs that do nothing: the ceiling the queue itself sets.
            from webhook_delivery_bench import noop as importable_noop  # __main__'s functions cannot be jobs

            from clozit.queueing import enqueue

            queue = django_rq.get_queue(settings.WEBHOOK_QUEUE)
            for _ in range(n):
                enqueue(settings.WEBHOOK_QUEUE, importable_noop, result_ttl=0)
            worker = SimpleWorker([queue], connection=queue.connection)
            started = time.perf_counter()
            worker.work(burst=True)
            noop_elapsed = time.perf_counter() - started
            rows.append(
                f"| no-op RQ job, same queue and worker, {n:,} jobs | {n / noop_elapsed:,.0f} jobs/s "
                f"(deliveries = {noop_elapsed / elapsed:.2f}× the no-op job rate) |"
            )

            forked = max(n // 4, 100)
            publish(workspace.pk, forked)
            done, elapsed = drain(Worker)
            assert done == forked, done
            rows.append(
                f"| one RQ worker forking a child per job (Worker), {forked:,} new deliveries | "
                f"{forked / elapsed:,.0f} deliveries/s ({elapsed * 1000 / forked:.1f} ms each) |"
            )

            # The send alone: what a job does, without the queue.
            publish(workspace.pk, n)
            django_rq.get_connection(settings.WEBHOOK_QUEUE).flushdb()
            ids = list(Delivery.objects.filter(status="pending").values_list("pk", flat=True))
            started = time.perf_counter()
            for delivery_id in ids:
                services.delivery_send(delivery_id=delivery_id)
            elapsed = time.perf_counter() - started
            rows.append(
                f"| one at a time (delivery_send in a loop, as a retry's job), {len(ids):,} deliveries | "
                f"{len(ids) / elapsed:,.0f} deliveries/s ({elapsed * 1000 / len(ids):.1f} ms each) |"
            )
    finally:
        receiver.terminate()

    out = (
        machine_heading().replace("\n## ", "\n### ").rstrip("\n")
        + f", load average {os.getloadavg()[0]:.1f} at the end\n\n"
        + f"Target: {TARGET} deliveries/s per worker, to a receiver on the same machine answering 200 at once.\n\n"
        + "| what | speed |\n|---|---|\n"
        + "\n".join(rows)
        + "\n"
        + READING
    )
    print(out)
    if not args.no_write:
        section = (
            "## Outgoing webhook delivery\n\n"
            f"Produced by `make bench-webhook-delivery` (bench/webhook_delivery_bench.py).\n{out}"
        )
        results_replace(section, start=START, end=END)


if __name__ == "__main__":
    main()
