"""Production settings pass Django's deployment checks, configured only from the environment, and
are secure by default: nothing but SECRET_KEY and ALLOWED_HOSTS is needed with DEBUG off."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def base_env() -> dict:
    """Only what a process needs to start: nothing from the test run leaks into the check."""
    return {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}


def test_check_deploy_is_clean_with_only_secret_key_allowed_hosts_and_debug_off():
    env = {
        **base_env(),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "clozit.example.com",
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


SHOW_SECURITY = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name, None) for name in (
    "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER")}))
"""


def security_settings(**environment) -> dict:
    env = {**base_env(), "DJANGO_SETTINGS_MODULE": "clozit.settings", **environment}
    result = subprocess.run(
        [sys.executable, "-c", SHOW_SECURITY], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_production_is_https_only_by_default():
    production = security_settings(DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="a.example")

    assert production == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_each_https_default_can_be_turned_off_and_the_proxy_header_trusted():
    relaxed = security_settings(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        SECURE_HSTS_SECONDS="0",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
        USE_X_FORWARDED_PROTO="true",
    )

    assert relaxed["SECURE_SSL_REDIRECT"] is relaxed["SESSION_COOKIE_SECURE"] is relaxed["CSRF_COOKIE_SECURE"] is False
    assert relaxed["SECURE_HSTS_SECONDS"] == 0 and relaxed["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert relaxed["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_development_stays_on_plain_http():
    development = security_settings(DEBUG="true")

    assert development["SECURE_SSL_REDIRECT"] is False and development["SECURE_HSTS_SECONDS"] == 0
    assert development["SESSION_COOKIE_SECURE"] is False and development["CSRF_COOKIE_SECURE"] is False


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
