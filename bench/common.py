"""What every benchmark shares: Django on the test settings (importing this module sets it up), a
throwaway test database, the heading of a run's results, and appending them to docs/benchmarks.md."""

import os
import platform
import sys
from contextlib import contextmanager
from datetime import date
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


def running_campaign_calls(owner, agent, count: int, *, first_number: int, status: str, call_sid, **fields) -> list:
    """`count` calls of a new running campaign of `agent`, one to each of `count` new contacts
    (+1202…, from `first_number` on, consent recorded), in `status`; `call_sid(contact)` is each
    call's id at the carrier, `fields` any other column of the calls."""
    from campaigns.contacts.importing import contacts_import
    from campaigns.models import Call, Campaign

    rows = "phone,first_name,company\n" + "".join(f"+1202{first_number + i:07d},Name{i},Co{i}\n" for i in range(count))
    name = f"bench {agent.name} {first_number}"
    contact_list = contacts_import(
        owner=owner, name=name, filename="b.csv", data=rows.encode(), consent_by=owner
    ).contact_list
    campaign = Campaign.objects.create(
        owner=owner,
        name=name,
        agent=agent,
        contact_list=contact_list,
        caller_number="+12025550100",
        status=Campaign.Status.RUNNING,
    )
    return Call.objects.bulk_create(
        Call(
            owner=owner,
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
