"""What every benchmark shares: Django on the test settings (importing this module sets it up), a
throwaway test database, the heading of a run's results, and appending them to docs/benchmarks.md."""

import os
import platform
import re
import sys
import time
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "docs" / "benchmarks.md"

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozit.settings_test")

import django  # noqa: E402

django.setup()

from django.test.utils import setup_databases, teardown_databases  # noqa: E402


@contextmanager
def throwaway_database():
    """A test database (and Redis database) made for the run and dropped afterwards, whatever happens."""
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        yield
    finally:
        teardown_databases(old_config, verbosity=0)


def machine_heading() -> str:
    """The heading of one run's results: the date and the machine, which every figure depends on."""
    return (
        f"\n## {date.today().isoformat()} — {platform.node()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n\n"
    )


def results_append(text: str) -> None:
    """Add a run's results to docs/benchmarks.md (newest last), which is started if missing."""
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text("# Benchmarks\n\nProduced by `make bench` (bench/run.py); newest last.\n")
    with BENCHMARKS.open("a") as f:
        f.write(text)


def results_replace(text: str, *, start: str, end: str) -> None:
    """Put `text` between a benchmark's own markers in docs/benchmarks.md, replacing the previous
    run's (the file keeps each such benchmark's latest figures in their own place)."""
    document = BENCHMARKS.read_text()
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    assert pattern.search(document), f"the markers {start!r} are missing from docs/benchmarks.md"
    BENCHMARKS.write_text(pattern.sub(lambda _: f"{start}\n{text.strip()}\n\n{end}", document))


def running_campaign_calls(owner, agent, count: int, *, first_number: int, status: str, call_sid, **fields) -> list:
    """`count` calls of a new running campaign of `agent`, one to each of `count` new contacts
    (+1202…, from `first_number` on, consent recorded), in `status`; `call_sid(contact)` is each
    call's id at the carrier, `fields` any other column of the calls."""
    from campaigns.contacts.importing import contacts_import
    from campaigns.models import Call, Campaign

    rows = "phone,first_name,company\n" + "".join(f"+1202{first_number + i:07d},Name{i},Co{i}\n" for i in range(count))
    name = f"bench {agent.name} {first_number}"
    contact_list = contacts_import(
        workspace=owner.personal_workspace, name=name, filename="b.csv", data=rows.encode(), consent_by=owner
    ).contact_list
    campaign = Campaign.objects.create(
        workspace=owner.personal_workspace,
        name=name,
        agent=agent,
        contact_list=contact_list,
        caller_number="+12025550100",
        status=Campaign.Status.RUNNING,
    )
    return Call.objects.bulk_create(
        Call(
            workspace=owner.personal_workspace,
            campaign=campaign,
            contact=contact,
            agent=agent,
            to_number=contact.phone_number,
            from_number=campaign.caller_number,
            provider="simulated",
            provider_call_id=call_sid(contact),
            status=status,
            **fields,
        )
        for contact in contact_list.contacts.all()
    )


# --- Timing pages and their queries (shared by the page benchmarks) ------------------------------


class Queries:
    """Every query run on this thread's connection while installed, with its time. (Django's
    CaptureQueriesContext keeps the last 9,000 only.)"""

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
    """Install `queries` on this thread's connection (a context manager)."""
    from django.db import connection

    return connection.execute_wrapper(queries)


def explain(sql: str, params) -> list[str]:
    """The plan of one query as run (EXPLAIN ANALYZE, BUFFERS), one line per row."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def make_owner(email: str):
    """An account that may use every page (verified mobile) with credits to spare."""
    from django.utils import timezone

    from accounts.models import User
    from billing import ledger

    owner = User.objects.create_user(
        email=email,
        password="bench password 1234",
        mobile_number=f"+1415555{User.objects.count():04d}",
        mobile_verified_at=timezone.now(),  # the pages are closed to accounts without one
    )
    ledger.credit_post(
        workspace=owner.personal_workspace,
        amount=Decimal(100_000_000),
        kind="staff_adjustment",
        reference=f"bench:{email}",
    )
    owner.personal_workspace.max_concurrent_calls = 30_000  # measure the product, not the account's limit
    owner.personal_workspace.save(update_fields=["max_concurrent_calls"])
    return owner


def insert_select(model, *, prototype, varying: dict[str, str], first: int, last: int, params=None) -> None:
    """Rows first..last of `model` in one INSERT ... SELECT over generate_series (`i` is the row
    number): every column from the unsaved `prototype`, except those in `varying` (field name or
    attname: an SQL expression of `i` and the %(name)s `params`). Thousands of times faster than
    saving models, and every column the model has is filled as Django would."""
    from django.db import connection

    columns, expressions, values = [], [], dict(params or {})
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        expression = varying.get(field.name) or varying.get(field.attname)
        if expression is not None:
            expressions.append(expression)
        else:
            key = f"p_{field.attname}"
            values[key] = field.get_db_prep_save(field.pre_save(prototype, add=True), connection)
            expressions.append(f"%({key})s")
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(expressions)} FROM generate_series(%(first)s, %(last)s) AS i"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {**values, "first": first, "last": last})


def analyze(*models) -> None:
    """Fresh planner statistics and visibility maps, as autovacuum would leave them after a while."""
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
