"""Settings for the test suite: real PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL)."""

import os

os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ["TELEPHONY_PROVIDER"] = "simulated"
os.environ["LLM_MODEL"] = ""

from .settings import *  # noqa: E402,F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SIMULATED_TIME_SCALE = 0
# Every final status callback arrives twice, so every test exercises de-duplication.
SIMULATED_DUPLICATE_EVENTS = 1.0
SIMULATED_SIGNING_SECRET = "simulated-test-secret"
STARTER_CREDITS = 100
CALL_MIN_CREDITS = 10
