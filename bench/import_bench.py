#!/usr/bin/env python
"""Contact import benchmark: `make bench-import`. Appends a section to docs/benchmarks.md.

Runs the real background import (`campaigns.contacts.contact_list_import`, called inline as the
RQ worker would) on 100,000-row CSV files against PostgreSQL (the test settings, on a throwaway
database), and next to it the limit: PostgreSQL COPY of the same prepared rows (what the import
stored, read back) into a scratch table with the same indexes. The issue's bar: 100,000
contacts "in well under a minute", i.e. at least 20,000 rows/s.

Three files:
- simple: "+1202…,First,Last,Company" rows, all valid and distinct;
- international: "+49151…,Name" rows, where every number takes phonenumbers' general (slower) path;
- messy: semicolons, national formats read in the default country, quoted fields holding the
  separator and line breaks, a time zone column, blank lines, 2% bad numbers, 2% duplicates.
"""

import os
import random
import resource
import sys
import time
import tracemalloc
import warnings

from common import machine_heading, results_append, throwaway_database  # importing it sets Django up

ROWS = 100_000


def simple_file(rows: int) -> bytes:
    return (
        "phone,first_name,last_name,company\n"
        + "".join(f"+1202{2000000 + i:07d},First{i},Last{i},Company {i}\n" for i in range(rows))
    ).encode()


def international_file(rows: int) -> bytes:
    """German mobile numbers in E.164: the general phonenumbers path (no North American shortcut)."""
    return ("phone,first_name\n" + "".join(f"+49151{20000000 + i:08d},Name{i}\n" for i in range(rows))).encode()


def messy_file(rows: int) -> bytes:
    rng = random.Random(7)
    zones = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", ""]
    lines = ["Mobile;Given name;Surname;Time zone;Notes;Plan"]
    for i in range(rows):
        roll = rng.random()
        if roll < 0.02:
            number = f"12ab{i}"
        elif roll < 0.04 and i:
            n = rng.randrange(i)
            number = f"(303) {200 + n // 10000:03d}-{n % 10000:04d}"
        else:
            number = f"(303) {200 + i // 10000:03d}-{i % 10000:04d}"
        note = f'"Called {i % 7} times; prefers mornings\nsee CRM"' if i % 10 == 0 else f"note {i}"
        lines.append(f"{number};Ana {i};Lee;{zones[i % 5]};{note};Gold")
        if i % 1000 == 0:
            lines.append("")
    return ("\r\n".join(lines) + "\r\n").encode()


def run_import(owner, data: bytes, name: str, *, mapping: dict | None = None, trace: bool = False):
    from campaigns.contacts.importing import contact_list_import, contact_list_import_start, contact_upload_create
    from campaigns.models import ContactList

    contact_list = contact_upload_create(workspace=owner.personal_workspace, filename=f"{name}.csv", data=data)
    contact_list_import_start(
        contact_list=contact_list,
        mapping=mapping or contact_list.column_mapping,
        default_country="US",
        name=name,
        tags=[],
        by=owner,
    )
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    contact_list_import(contact_list.pk)
    elapsed = time.perf_counter() - started
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    contact_list = ContactList.objects.get(pk=contact_list.pk)
    assert contact_list.import_status == ContactList.ImportStatus.DONE, contact_list.import_error
    return contact_list, elapsed, peak


def copy_limit(contact_list) -> tuple[int, float]:
    """COPY the rows the import stored (read back, already prepared) into a scratch table with the
    contact table's columns, defaults and indexes."""
    from django.db import connection

    from campaigns.models import Contact

    table = Contact._meta.db_table
    columns = "contact_list_id, phone_number, first_name, last_name, time_zone, tags, variables, source_line"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} WHERE contact_list_id = %s", [contact_list.pk])  # noqa: S608
        rows = [(*r[:5], _json(r[5]), _json(r[6]), r[7]) for r in cursor.fetchall()]
        cursor.execute(f"CREATE TABLE bench_copy (LIKE {table} INCLUDING ALL)")
        try:
            started = time.perf_counter()
            with cursor.cursor.copy(f"COPY bench_copy ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            elapsed = time.perf_counter() - started
        finally:
            cursor.execute("DROP TABLE bench_copy")
    return len(rows), elapsed


def _json(value) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def main() -> None:
    import django_rq
    from django.db import connection

    from accounts.models import User

    warnings.filterwarnings("ignore", message="No directory at")
    with throwaway_database():
        lines = []
        summary = ""
        load = os.getloadavg()[0]
        try:
            assert connection.vendor == "postgresql", "the benchmark measures PostgreSQL"
            owner = User.objects.create_user(email="bench-import@example.com", password="x", default_country="US")
            simple = simple_file(ROWS)
            contact_list, elapsed, _ = run_import(owner, simple, "simple")
            assert contact_list.rows_imported == ROWS, contact_list.rows_imported
            copied, copy_elapsed = copy_limit(contact_list)
            # Again on a fresh account, traced, for the peak Python memory (tracing slows it down).
            other = User.objects.create_user(email="bench-import-2@example.com", password="x", default_country="US")
            _, _, peak = run_import(other, simple, "simple traced", trace=True)
            lines.append(
                f"| Background CSV import (contact_list_import), simple file, {ROWS:,} rows, "
                f"{len(simple) / 2**20:.1f} MiB | {ROWS / elapsed:,.0f} rows/s ({elapsed:.1f} s) "
                f"| peak {peak / 2**20:.0f} MiB |"
            )
            lines.append(
                f"| PostgreSQL COPY of the same {copied:,} prepared rows (scratch table, same indexes) "
                f"| {copied / copy_elapsed:,.0f} rows/s ({copy_elapsed:.2f} s) | |"
            )
            summary = (
                f"The import reaches {copy_elapsed / elapsed:.2f}× the speed of COPY alone "
                f"({elapsed / copy_elapsed:.0f}× its time): the rest is reading the CSV and parsing and "
                "validating each number (phonenumbers; North American numbers written plainly skip its parse step), "
                "checking duplicates and the do-not-call lists per batch."
            )

            international = international_file(ROWS)
            fourth = User.objects.create_user(email="bench-import-4@example.com", password="x", default_country="US")
            contact_list, elapsed, _ = run_import(fourth, international, "international")
            assert contact_list.rows_imported == ROWS, (contact_list.rows_imported, contact_list.rejections.first())
            lines.append(
                f"| Background CSV import, international numbers (+49…, no North American shortcut), {ROWS:,} rows, "
                f"{len(international) / 2**20:.1f} MiB | {ROWS / elapsed:,.0f} rows/s ({elapsed:.1f} s) | |"
            )

            messy = messy_file(ROWS)
            third = User.objects.create_user(email="bench-import-3@example.com", password="x", default_country="US")
            contact_list, elapsed, _ = run_import(third, messy, "messy")
            lines.append(
                f"| Background CSV import, messy file (semicolons, national numbers, quoted line breaks, time zones), "
                f"{ROWS:,} rows, {len(messy) / 2**20:.1f} MiB: {contact_list.rows_imported:,} imported, "
                f"{contact_list.rows_rejected:,} rejected | {ROWS / elapsed:,.0f} rows/s ({elapsed:.1f} s) | |"
            )
        finally:
            django_rq.get_queue("default").empty()  # the imports were run inline; their queued jobs are not needed

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    header = (
        machine_heading()
        + "Contact import (bench/import_bench.py): the background import job run inline on PostgreSQL, "
        "next to COPY of the rows it prepared (the limit for getting them into the table). "
        f"Peak RSS of the whole benchmark process: {maxrss:.0f} MiB; load average {load:.2f} before the run "
        "(other work on the machine slows both columns alike).\n\n"
        "| benchmark | speed | memory |\n|---|---|---|\n"
    )
    out = header + "\n".join(lines) + "\n\n" + summary + "\n"
    print(out)
    if "--no-write" in sys.argv:
        return
    results_append(out)


if __name__ == "__main__":
    main()
