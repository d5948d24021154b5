"""Production settings pass Django's deployment checks, configured only from the environment."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def base_env() -> dict:
    """Only what a process needs to start: nothing from the test run leaks into the check."""
    return {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}


def test_check_deploy_is_clean_with_production_environment():
    env = {
        **base_env(),
        "DJANGO_SETTINGS_MODULE": "clozit.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "clozit.example.com",
        "DATABASE_URL": "sqlite:////tmp/clozit-deploy-check.sqlite3",
        "SECURE_SSL_REDIRECT": "true",
        "SESSION_COOKIE_SECURE": "true",
        "CSRF_COOKIE_SECURE": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_defaults_are_refused_by_the_deploy_check():
    env = {**base_env(), "DJANGO_SETTINGS_MODULE": "clozit.settings", "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


def test_deploy_check_refuses_paddle_test_mode():
    env = {
        **base_env(),
        "DJANGO_SETTINGS_MODULE": "clozit.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": "sqlite:////tmp/clozit-deploy-check.sqlite3",
        "TEST_MODE": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "billing.E001" in result.stderr + result.stdout
