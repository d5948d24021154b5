"""`make run` for a newcomer: the README states the demo account as it really is, the demo explains
when its campaign calls, and the run script says what it is doing while it migrates and loads."""

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from billing import ledger
from clozit import demo

ROOT = Path(settings.BASE_DIR)
README = (ROOT / "README.md").read_text()


@pytest.mark.django_db
def test_the_readme_states_the_demo_balance_as_it_is():
    user = demo.load_demo()

    stated = re.search(r"`demo@clozit\.local` / `clozit-demo` \(([\d,]+) credits", README)
    assert stated, "the README no longer states the demo balance"
    assert Decimal(stated.group(1).replace(",", "")) == ledger.balance_of(user=user).balance


@pytest.mark.django_db
def test_the_demo_says_when_its_campaign_calls(capsys):
    call_command("demo_data")
    printed = " ".join(capsys.readouterr().out.split())

    # Its own description, from the campaign as it is: the hours, the days, in the callees' time.
    assert "calls only from 09:00 to 20:00, Monday to Friday, in each patient's own time" in printed
    assert "US Eastern" in printed
    assert "Launched outside those hours, it waits" in printed
    # The README says the same.
    assert "09:00 to 20:00, Monday to Friday" in README and "it waits" in README


def test_the_readme_says_how_to_trust_the_browser():
    assert "Trust this browser for 30 days" in README
    assert 'tick "trust this browser"' not in README


def test_the_run_script_says_what_it_does_while_it_migrates_and_loads_the_demo(tmp_path):
    """The steps before the servers start, on a fresh SQLite database: each says what it does
    and when it is done, so a minute of migrating does not look like a hang."""
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "REDIS_URL": os.environ.get("REDIS_URL", settings.REDIS_URL),
        "DEMO_DATA": "true",
        "DJANGO_SETTINGS_MODULE": "clozit.settings",
    }
    script = "import sys; sys.path.insert(0, 'scripts'); import run; run.prepare(dict(__import__('os').environ))"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )

    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    steps = [line for line in lines if line.startswith("==> ")]
    assert steps[0].startswith("==> Migrating the database") and steps[1].startswith("==> Loading the demo")
    assert sum(re.fullmatch(r"\s+done in \d+ s", line) is not None for line in lines) == 2
