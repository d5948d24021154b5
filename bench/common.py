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
