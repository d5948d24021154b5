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
    assert Decimal(stated.group(1).replace(",", "")) == ledger.balance_of(workspace=user.personal_workspace).balance


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


def sqlite_env(tmp_path) -> dict:
    """The environment of `make run` without DATABASE_URL: a fresh SQLite database, the demo data."""
    return {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "REDIS_URL": os.environ.get("REDIS_URL", settings.REDIS_URL),
        "DEMO_DATA": "true",
        "DJANGO_SETTINGS_MODULE": "clozit.settings",
    }


def prepare_as_make_run(env: dict) -> subprocess.CompletedProcess:
    """What scripts/run.py does before it starts the servers: migrate, then load the demo."""
    script = "import sys; sys.path.insert(0, 'scripts'); import run; run.prepare(dict(__import__('os').environ))"
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_the_run_script_says_what_it_does_while_it_migrates_and_loads_the_demo(tmp_path):
    """The steps before the servers start, on a fresh SQLite database: each says what it does
    and when it is done, so a minute of migrating does not look like a hang."""
    done = prepare_as_make_run(sqlite_env(tmp_path))

    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    steps = [line for line in lines if line.startswith("==> ")]
    assert steps[0].startswith("==> Migrating the database") and steps[1].startswith("==> Loading the demo")
    assert sum(re.fullmatch(r"\s+done in \d+ s", line) is not None for line in lines) == 2


# Run in a process of its own on the SQLite database `make run` made: the demo campaign launched,
# its calls claimed (call rows, their credit holds) and dialled on the simulated carrier, a call
# settled, then the books and the counters checked; what the database refused would raise.
SQLITE_CAMPAIGN = """
import django
django.setup()
import django_rq
from django.utils import timezone
from billing import ledger
from billing.verification import ledger_problems
from campaigns.calls.counters import counter_problems
from campaigns.calls.services import call_finish
from campaigns.dialing import dialer
from campaigns.lifecycle.services import campaign_launch
from campaigns.models import Call, Campaign

campaign = Campaign.objects.get()
campaign.contact_list.consent_confirmed_at = timezone.now()
campaign.contact_list.save()
campaign_launch(campaign=campaign, by=campaign.workspace.personal_for)
call_ids, _ = dialer._claim(campaign.pk)
assert call_ids, "nothing claimed"
for call_id in call_ids:
    dialer.call_place(call_id, slot_reserved=True)
assert set(Call.objects.values_list("status", flat=True)) == {"dialing"}, "not dialled"
assert ledger.balance_of(workspace=campaign.workspace).held > 0
call_finish(call_id=call_ids[0], status=Call.Status.BUSY, reason="Busy")
assert not ledger.hold_is_active(reference=f"call:{call_ids[0]}")
assert ledger_problems() == [] and counter_problems() == [], (ledger_problems(), counter_problems())
django_rq.get_queue("simulator").empty()
print("dialled", len(call_ids))
"""


def test_the_demo_campaign_dials_on_sqlite_as_make_run_uses_it(tmp_path):
    """`make run` without DATABASE_URL runs on SQLite: the dialer and the ledger, which post in one
    PostgreSQL statement each, take their SQLite path there."""
    env = sqlite_env(tmp_path)
    env["TELEPHONY_PROVIDER"] = "simulated"
    env["CALLING_WINDOWS_ENFORCED"] = "false"  # the demo's hours are US office hours
    prepared = prepare_as_make_run(env)
    assert prepared.returncode == 0, prepared.stderr

    done = subprocess.run(
        [sys.executable, "-c", SQLITE_CAMPAIGN], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )

    assert done.returncode == 0, done.stderr
    assert re.search(r"dialled (\d+)", done.stdout)
