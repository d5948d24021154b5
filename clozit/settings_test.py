"""Settings for the test suite: real PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL)."""

import fcntl
import os


def _claim_slot() -> int:
    """Several test runs on one machine (a developer's and CI's, say) each get their own test
    database and Redis database: the first free slot, held by a lock for the process's life."""
    for slot in range(8):
        handle = open(f"/tmp/clozit-test-slot-{slot}.lock", "w")  # noqa: SIM115 - held until exit
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        globals()["_slot_lock"] = handle
        return slot
    raise RuntimeError("More than 8 concurrent test runs on this machine.")


# Worker processes started by a test (tests/test_crash_safety.py) share their parent's slot.
TEST_SLOT = int(os.environ["CLOZIT_TEST_SLOT"]) if os.environ.get("CLOZIT_TEST_SLOT") else _claim_slot()
os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - TEST_SLOT}")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ["TELEPHONY_PROVIDER"] = "simulated"
os.environ["LLM_MODEL"] = ""
# No connection pool: serving clozit.asgi in a test would turn the product's on in the middle of
# the session (tests count and close connections themselves). telephony/tests/
# test_webhook_connections.py turns one on for the tests of it.
os.environ["DB_POOL_SIZE"] = "0"

from .settings import *  # noqa: E402,F403

DATABASES["default"]["TEST"] = {"NAME": f"test_clozit_{TEST_SLOT}"}  # noqa: F405
DEBUG = False
# The test server and the test client speak plain HTTP (production's HTTPS defaults need TLS).
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PADDLE_TEST_CHECKOUT = True
SIMULATED_TIME_SCALE = float(os.environ.get("TEST_SIMULATED_TIME_SCALE", "0"))
# No calls-per-second pacing unless a test asks for it (tests/test_dial_pacing.py does).
CALLS_PER_SECOND = {"default": 0}
# Calls go out at any hour unless a test of calling windows turns them on (with a frozen clock).
CALLING_WINDOWS_ENFORCED = False
# Launches are direct unless a test of staff approval turns approvals on (campaigns/tests/
# test_campaign_approval.py): factories make fresh workspaces, whose first launch would wait.
CAMPAIGN_APPROVAL_REQUIRED = False
# Every final status callback arrives twice, so every test exercises de-duplication.
SIMULATED_DUPLICATE_EVENTS = 1.0
SIMULATED_SIGNING_SECRET = "simulated-test-secret"
STARTER_CREDITS = 100
CALL_MIN_CREDITS = 10
