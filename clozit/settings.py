"""Clozit settings: every value comes from the environment (see docs/configuration.md).

Defaults are for local development: SQLite, the simulated telephony provider and
the scripted conversation engine, so `make run` needs nothing external.
"""

from datetime import timedelta
from decimal import Decimal
from email.utils import parseaddr
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (a long random string) or run with DEBUG=true for development.")
    SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The address telephony providers call back on (webhooks). Also used to rebuild the
# exact signed URL when the app runs behind a proxy.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# How long the token in a ConversationRelay socket URL stays good: the carrier opens the socket
# right after fetching the TwiML that names it.
RELAY_TOKEN_MAX_AGE_SECONDS = env.int("RELAY_TOKEN_MAX_AGE_SECONDS", default=300)
# On a real-time call, how long the callee may stay silent after the agent's words (their speaking
# time comes first) before the agent asks again; a second silence ends the call, as on a Gather call.
RELAY_SILENCE_SECONDS = env.float("RELAY_SILENCE_SECONDS", default=6.0)

INSTALLED_APPS = [
    "clozit.admin.ClozitAdminConfig",  # django.contrib.admin with Clozit's site (clozit/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.facebook",
    "allauth.usersessions",  # each signed-in browser, listed under Settings (accounts/security.py)
    "django_htmx",
    "django_rq",
    "csp",
    "clozit",
    "accounts",
    "billing",
    "telephony",
    "campaigns",
    "safety",
    "notices",
    "policies",
    "ninja",  # its bundled Swagger UI files, served from here rather than a CDN
    "integrations.api",
    "integrations.webhooks",
    "integrations.hubspot",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "clozit.csp.PaddleCheckoutPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Keeps each session's IP address, browser and last-seen time (SESSION_ACTIVITY_EVERY_SECONDS).
    "accounts.middleware.SessionActivityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # One-time codes are texted once the response is out (accounts/sms/delivery.py).
    "accounts.sms.delivery.AfterResponseMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.AccountGateMiddleware",
]

ROOT_URLCONF = "clozit.urls"
WSGI_APPLICATION = "clozit.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clozit.context_processors.site",
                "clozit.context_processors.workspace",
                "accounts.sms.delivery.delivery_context",
                "policies.context_processors.policy_banner",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, workers) share the file: take the write lock up front
    # so concurrent transactions queue instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    # 0: the web is served under ASGI, where a sync view runs on a fresh thread per request and a
    # kept connection would outlive its thread (they pile up until PostgreSQL refuses everyone).
    # Django's advice for ASGI: no persistent connections; pool outside (PgBouncer) if needed.
    # The RQ workers keep theirs anyway (no request ends in a job), and the relay sessions share
    # a few threads whose connections they close themselves.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # The web server's processes (clozit/asgi.py) pool their connections (psycopg_pool, Django's
    # own "pool" option): a request's thread takes one when it first queries and gives it back
    # when the request ends (the relay's threads after each step, a Gather turn while the model
    # thinks), so a webhook no longer pays for a new PostgreSQL connection (~5-30 ms, more under
    # load) and the connections stay few however many threads serve. At most DB_POOL_SIZE per
    # process: a request that finds them all taken waits for one (DB_POOL_TIMEOUT seconds at
    # most) instead of opening one more. 0: no pool (a connection per request). The RQ workers
    # do not pool: each job runs in a process forked for it, which keeps its one connection. Not
    # with persistent connections (DB_CONN_MAX_AGE > 0), which Django does not pool.
    DB_POOL_SIZE = env.int("DB_POOL_SIZE", default=20)
    if DB_POOL_SIZE > 0 and DATABASES["default"]["CONN_MAX_AGE"] == 0:
        DB_POOL = {
            "min_size": min(2, DB_POOL_SIZE),
            "max_size": DB_POOL_SIZE,
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
            # Idle connections beyond min_size are closed after this long.
            "max_idle": 120.0,
        }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# --- Security ---------------------------------------------------------------------
# With DEBUG off, production is secure with no setting at all (`check --deploy` passes with
# SECRET_KEY and ALLOWED_HOSTS only); each part can be turned off from the environment.
# Behind a proxy that ends TLS, USE_X_FORWARDED_PROTO is needed as well (docs/operations.md):
# without it every request looks like plain HTTP, is redirected to itself, and gets no HSTS.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers check health over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Asking browsers to preload the domain is its owner's decision (hstspreload.org), not a default.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts and styles from our own static files only, none
# inline, no eval. The outside hosts are Paddle's: Paddle.js and its stylesheet and images
# (cdn.paddle.com, or sandbox-cdn in the sandbox) and the checkout it opens in a frame
# (buy.paddle.com). Paddle.js also styles its overlay inline, so the buy page alone allows inline
# styles while Paddle is configured (clozit/csp.py). Sign-in forms may lead on to Google or
# Facebook when those are configured.
PADDLE_HOSTS = ["https://cdn.paddle.com", "https://sandbox-cdn.paddle.com"]
SOCIAL_LOGIN_HOSTS = [
    host
    for host, configured in (
        ("https://accounts.google.com", env.str("GOOGLE_CLIENT_ID", default="")),
        ("https://www.facebook.com", env.str("FACEBOOK_APP_ID", default="")),
    )
    if configured
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, *PADDLE_HOSTS],
        "style-src": [SELF, *PADDLE_HOSTS],
        # Pico CSS draws its icons (checkboxes, select arrows) as data: SVG images.
        "img-src": [SELF, "data:", *PADDLE_HOSTS],
        "font-src": [SELF],
        "connect-src": [SELF, "https://*.paddle.com"],
        "frame-src": ["https://buy.paddle.com", "https://sandbox-buy.paddle.com"],
        "frame-ancestors": [NONE],
        "form-action": [SELF, *SOCIAL_LOGIN_HOSTS],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
    # django-rq's admin pages (staff only) carry inline scripts of their own. The carriers'
    # webhooks answer TwiML or JSON to a machine that renders nothing: no policy to build there.
    "EXCLUDE_URL_PREFIXES": ["/admin/rq/", "/telephony/"],
}

# --- Email ------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Clozit <no-reply@localhost>")


def default_support_email(from_email: str) -> str:
    """support@ the domain the site's emails come from: an address a person can write to even
    when SUPPORT_EMAIL is not set ("Clozit <no-reply@calls.example.com>" → support@calls.example.com)."""
    return "support@" + (parseaddr(from_email)[1].rpartition("@")[2] or "localhost")


# Shown on the policy pages and wherever users are told to contact support (a suspended or
# closed account).
SUPPORT_EMAIL = env.str("SUPPORT_EMAIL", default="") or default_support_email(DEFAULT_FROM_EMAIL)
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))

# --- Accounts (django-allauth) ----------------------------------------------------
# Mobile verification and the second login step are allauth's own phone flows; the code is
# generated and checked by allauth and delivered by accounts.sms (see docs/architecture.md).
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "landing"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapter.SocialAccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email", "phone"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "phone*", "password1*", "password2*"]
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupExtraForm"
# Sign-up answers as slowly for a taken email or mobile as for a new one; the login-code form
# asks for an email or a mobile instead of failing without either (accounts/allauth_forms.py).
ACCOUNT_FORMS = {
    "login": "accounts.allauth_forms.LoginForm",
    "signup": "accounts.allauth_forms.SignupForm",
    "request_login_code": "accounts.allauth_forms.RequestLoginCodeForm",
}
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
# "Send a new code" on the email code page too (at most 2 resends per code; rate limits apply).
ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Clozit] "
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_PHONE_VERIFICATION_ENABLED = True
ACCOUNT_PHONE_VERIFICATION_MAX_ATTEMPTS = 5
ACCOUNT_PHONE_VERIFICATION_TIMEOUT = 600
ACCOUNT_PHONE_VERIFICATION_CODE_FORMAT = {"numeric": True, "length": 6, "dashed": False}
# "Request new code" on the code pages (at most 2 resends per code; rate limits still apply).
ACCOUNT_PHONE_VERIFICATION_SUPPORTS_RESEND = True
# "Use a different number" on the sign-up code page (twice at most), offered on every sign-up
# alike (accounts.views.SignupMobileView), whether or not an account stands behind it.
ACCOUNT_PHONE_VERIFICATION_SUPPORTS_CHANGE = True
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
# The second step: after a password or a social login, a code to the verified mobile.
ACCOUNT_LOGIN_BY_CODE_REQUIRED = {"password", "socialaccount"}
ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS = 5
ACCOUNT_LOGIN_BY_CODE_TIMEOUT = 600
ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND = True
ACCOUNT_LOGIN_BY_CODE_TRUST_ENABLED = True
MFA_TRUST_COOKIE_AGE = timedelta(days=30)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
ACCOUNT_RATE_LIMITS = {
    # Codes sent to one number; from one IP address.
    "verify_phone": "1/30s/key,5/h/key,10/h/ip",
    "request_login_code": "20/h/ip,3/m/key,10/h/key",
    # Codes sent for one account, whatever the number (accounts.adapter).
    "sms_per_account": "10/h/key",
}

SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_PROVIDERS = {}
if env.str("GOOGLE_CLIENT_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["google"] = {
        "APPS": [{"client_id": env.str("GOOGLE_CLIENT_ID"), "secret": env.str("GOOGLE_CLIENT_SECRET", default="")}],
        "SCOPE": ["profile", "email"],
        "AUTH_PARAMS": {"access_type": "online"},
        "OAUTH_PKCE_ENABLED": True,
    }
if env.str("FACEBOOK_APP_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["facebook"] = {
        "APPS": [{"client_id": env.str("FACEBOOK_APP_ID"), "secret": env.str("FACEBOOK_APP_SECRET", default="")}],
        "METHOD": "oauth2",
        "SCOPE": ["email", "public_profile"],
        "FIELDS": ["id", "email", "name", "first_name", "last_name"],
    }

# Version of the terms a new account accepts (bump when templates/pages/terms.html changes).
TERMS_VERSION = env.str("TERMS_VERSION", default="2026-12-08")
# Days between an account's deletion and the purge of its personal data.
ACCOUNT_PURGE_AFTER_DAYS = env.int("ACCOUNT_PURGE_AFTER_DAYS", default=30)
# How long an invitation to join a workspace can be accepted (accounts.members).
INVITATION_MAX_AGE_DAYS = env.int("INVITATION_MAX_AGE_DAYS", default=7)

# --- SMS one-time codes -------------------------------------------------------------
# With all three set, codes are delivered by Twilio Verify; otherwise printed to the console.
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_VERIFY_SERVICE_SID = env.str("TWILIO_VERIFY_SERVICE_SID", default="")
# Another address for the Verify API (a regional edge, or a local fake in tests).
TWILIO_VERIFY_BASE_URL = env.str("TWILIO_VERIFY_BASE_URL", default="")

# --- Credits ----------------------------------------------------------------------
# Credits granted once to every new account (0 disables the grant).
STARTER_CREDITS = env.int("STARTER_CREDITS", default=100)
# A call is not placed unless the account can cover at least this many seconds.
CALL_MIN_CREDITS = env.int("CALL_MIN_CREDITS", default=10)
# An unsettled hold (crashed worker, lost final event) is released after this long.
CREDIT_HOLD_GRACE_SECONDS = env.int("CREDIT_HOLD_GRACE_SECONDS", default=900)

# --- Contact files (CSV) ------------------------------------------------------------
# A row (its line, or its lines when a quoted cell holds line breaks) longer than this many
# characters, or using more columns than this, fails the file with the line to look at. They
# bound what one uploaded file can cost a web worker: real contact lists are far inside both.
CSV_MAX_ROW_LENGTH = env.int("CSV_MAX_ROW_LENGTH", default=100_000)
CSV_MAX_COLUMNS = env.int("CSV_MAX_COLUMNS", default=500)

# --- Paddle (merchant of record for credit purchases) -------------------------------
PADDLE_API_KEY = env.str("PADDLE_API_KEY", default="")
PADDLE_CLIENT_TOKEN = env.str("PADDLE_CLIENT_TOKEN", default="")
PADDLE_ENVIRONMENT = env.str("PADDLE_ENVIRONMENT", default="sandbox")
# Without a real secret, the development test checkout signs its webhooks with this one.
PADDLE_WEBHOOK_SECRET = env.str("PADDLE_WEBHOOK_SECRET", default="") or f"dev-webhook-secret:{SECRET_KEY}"
# Seconds a webhook's signature timestamp may differ from our clock.
PADDLE_WEBHOOK_MAX_AGE = env.int("PADDLE_WEBHOOK_MAX_AGE", default=300)
# The development checkout that grants credits without a payment. Never in production.
PADDLE_TEST_CHECKOUT = env.bool("PADDLE_TEST_CHECKOUT", default=DEBUG)
# Another address for the Paddle API (tests point it at a local fake).
PADDLE_API_BASE_URL = env.str("PADDLE_API_BASE_URL", default="")

# --- Queues (django-rq) -----------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
RQ_QUEUES = {
    # Campaign pacing and placing calls.
    "dialing": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 120},
    # Webhook follow-up and AI work.
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 300},
    # The simulated carrier: one job plays one whole call, so it gets its own workers.
    "simulator": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 900},
}
RQ_SHOW_ADMIN_LINK = True

# Shared by every process, so rate limits hold across web servers.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# --- Telephony --------------------------------------------------------------------
TELEPHONY_PROVIDER = env.str("TELEPHONY_PROVIDER", default="simulated")
# Secret the simulated carrier signs its webhooks with (Twilio's algorithm).
SIMULATED_SIGNING_SECRET = env.str("SIMULATED_SIGNING_SECRET", default=SECRET_KEY)
# How the simulated carrier's callees behave: weights, in any unit.
SIMULATED_ODDS = env.dict(
    "SIMULATED_ODDS",
    cast={"value": int},
    default={"answer": 70, "no_answer": 12, "busy": 6, "voicemail": 10, "failed": 2},
)
# Wall-clock seconds the simulator waits per simulated second (0 = as fast as possible).
SIMULATED_TIME_SCALE = env.float("SIMULATED_TIME_SCALE", default=0.2)
# Chance that the simulator delivers a status callback twice, to exercise idempotency.
SIMULATED_DUPLICATE_EVENTS = env.float("SIMULATED_DUPLICATE_EVENTS", default=0.1)
DEFAULT_CALLER_ID = env.str("DEFAULT_CALLER_ID", default="+15005550006")
# Another address for Twilio's REST API (tests point it at a local fake).
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="")
# Telnyx Call Control v2: API key, the Call Control application (connection) calls are placed
# through, and the Base64 ed25519 public key webhooks are signed with (Mission Control, Keys).
TELNYX_API_KEY = env.str("TELNYX_API_KEY", default="")
TELNYX_CONNECTION_ID = env.str("TELNYX_CONNECTION_ID", default="")
TELNYX_PUBLIC_KEY = env.str("TELNYX_PUBLIC_KEY", default="")
# Another address for Telnyx's REST API (tests point it at a local fake).
TELNYX_API_BASE_URL = env.str("TELNYX_API_BASE_URL", default="")
# Webhooks signed longer ago than this are refused as stale (replays).
TELNYX_WEBHOOK_TOLERANCE_SECONDS = env.int("TELNYX_WEBHOOK_TOLERANCE_SECONDS", default=300)
# Calls each provider account may start per second, across all workers (Twilio's default is 1).
CALLS_PER_SECOND = {
    "twilio": env.float("TWILIO_CALLS_PER_SECOND", default=1.0),
    "telnyx": env.float("TELNYX_CALLS_PER_SECOND", default=1.0),
    "simulated": env.float("SIMULATED_CALLS_PER_SECOND", default=20.0),
}
# Calls one account may have in progress at once, over all its campaigns (staff can change it per account).
ACCOUNT_MAX_CONCURRENT_CALLS = env.int("ACCOUNT_MAX_CONCURRENT_CALLS", default=10)
# Legal calling hours in the callee's local time, by country (ISO code): "HH:MM-HH:MM".
CALLING_WINDOWS = {"US": "08:00-21:00", "CA": "08:00-21:00", "IN": "09:00-21:00"}
CALLING_WINDOW_DEFAULT = env.str("CALLING_WINDOW_DEFAULT", default="08:00-21:00")
# Off only in tests that do not test windows (calls then go out at any hour).
CALLING_WINDOWS_ENFORCED = env.bool("CALLING_WINDOWS_ENFORCED", default=True)
# A workspace's first campaign, and any campaign whose list has more contacts than this, waits
# for staff approval when launched (campaigns.lifecycle.approval). Off: every launch is direct.
CAMPAIGN_APPROVAL_REQUIRED = env.bool("CAMPAIGN_APPROVAL_REQUIRED", default=True)
CAMPAIGN_APPROVAL_ABOVE_CONTACTS = env.int("CAMPAIGN_APPROVAL_ABOVE_CONTACTS", default=5000)
# Abuse signals: a campaign pauses itself (and is flagged for staff) when, after at least
# ABUSE_MIN_ANSWERED answered calls, the share of callees asking not to be called again or the
# share of calls shorter than ABUSE_SHORT_CALL_SECONDS passes its threshold.
ABUSE_MIN_ANSWERED = env.int("ABUSE_MIN_ANSWERED", default=20)
ABUSE_OPT_OUT_RATE = env.float("ABUSE_OPT_OUT_RATE", default=0.15)
ABUSE_SHORT_CALL_RATE = env.float("ABUSE_SHORT_CALL_RATE", default=0.6)
ABUSE_SHORT_CALL_SECONDS = env.int("ABUSE_SHORT_CALL_SECONDS", default=5)
# Circuit breaker (campaigns/dialing/breaker.py): a campaign pauses itself when, of at least
# BREAKER_MIN_CALLS calls placed in the last BREAKER_WINDOW_MINUTES, a share of
# BREAKER_FAILURE_RATE or more failed, were blocked by the carrier or were answered and cut
# within ABUSE_SHORT_CALL_SECONDS.
BREAKER_WINDOW_MINUTES = env.int("BREAKER_WINDOW_MINUTES", default=15)
BREAKER_MIN_CALLS = env.int("BREAKER_MIN_CALLS", default=20)
BREAKER_FAILURE_RATE = env.float("BREAKER_FAILURE_RATE", default=0.5)
# Trust and safety (safety/): the public "Who called me?" page shows calls of the last
# SAFETY_LOOKUP_DAYS from the number typed to the person's own number, and answers at most
# SAFETY_LOOKUPS_PER_IP look-ups an hour from one address and SAFETY_LOOKUPS_PER_NUMBER a day for
# one callee number. SAFETY_REPORTS_TO_PAUSE reports of one campaign by different people within
# SAFETY_REPORT_WINDOW_HOURS pause it and flag it for staff review.
SAFETY_LOOKUP_DAYS = env.int("SAFETY_LOOKUP_DAYS", default=90)
SAFETY_LOOKUPS_PER_IP = env.int("SAFETY_LOOKUPS_PER_IP", default=10)
SAFETY_LOOKUPS_PER_NUMBER = env.int("SAFETY_LOOKUPS_PER_NUMBER", default=5)
SAFETY_REPORTS_TO_PAUSE = env.int("SAFETY_REPORTS_TO_PAUSE", default=3)
SAFETY_REPORT_WINDOW_HOURS = env.int("SAFETY_REPORT_WINDOW_HOURS", default=24)
# A person answered and the agent said nothing for this many seconds: dead air, our fault, and
# the call is credited back automatically (billing.credit_backs).
CREDIT_BACK_DEAD_AIR_SECONDS = env.int("CREDIT_BACK_DEAD_AIR_SECONDS", default=8)
# QA review queue (safety/qa.py): QA_SAMPLE_RATE of answered calls (chosen by a hash of the call's
# id), and every call with an opt-out, a report, a transfer or a technical failure, wait for staff
# review; QA_VIOLATIONS_TO_SUSPEND violations of one workspace within QA_VIOLATION_WINDOW_DAYS
# suspend it.
QA_SAMPLE_RATE = env.float("QA_SAMPLE_RATE", default=0.02)
QA_VIOLATIONS_TO_SUSPEND = env.int("QA_VIOLATIONS_TO_SUSPEND", default=3)
QA_VIOLATION_WINDOW_DAYS = env.int("QA_VIOLATION_WINDOW_DAYS", default=30)
# Monthly fee, in credits, for a number an account buys (charged at purchase and every 30 days).
PHONE_NUMBER_MONTHLY_CREDITS = Decimal(env.str("PHONE_NUMBER_MONTHLY_CREDITS", default="150"))

# --- Conversation engine ----------------------------------------------------------
LLM_BASE_URL = env.str("LLM_BASE_URL", default="")
LLM_API_KEY = env.str("LLM_API_KEY", default="")
LLM_MODEL = env.str("LLM_MODEL", default="")
# Seconds to wait for the model per attempt (one retry): two attempts fit in a carrier's 15 s webhook wait.
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=5.0)
# One deadline per conversational turn, across its knowledge search and every model request
# (a tool call and its follow-up, a stream): then the holding line. Twilio waits 15 s at most.
TURN_DEADLINE_SECONDS = env.float("TURN_DEADLINE_SECONDS", default=8.0)
# Stream completions and assemble them from the chunks; an attempt still has LLM_TIMEOUT_SECONDS in all.
LLM_STREAM = env.bool("LLM_STREAM", default=False)
# The model's context window in tokens; the assistant never sends more (estimated as characters / 4).
LLM_CONTEXT_TOKENS = env.int("LLM_CONTEXT_TOKENS", default=8000)
# Seconds the assistant waits per request: it reads far more than a call turn does.
LLM_ASSISTANT_TIMEOUT_SECONDS = env.float("LLM_ASSISTANT_TIMEOUT_SECONDS", default=60.0)

# --- Public API (integrations.api) ------------------------------------------------
# Requests each API key may make per minute (all web processes together: counted in Redis).
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=120)
# Requests with a wrong API key one IP address may make per minute, so keys cannot be guessed fast.
API_AUTH_FAILURES_PER_MINUTE = env.int("API_AUTH_FAILURES_PER_MINUTE", default=30)
# Hours an Idempotency-Key (and the answer it replays) is kept before the daily job removes it.
API_IDEMPOTENCY_HOURS = env.int("API_IDEMPOTENCY_HOURS", default=24)

# --- Outgoing webhooks (integrations.webhooks) ---------------------------------------
# Endpoints must be https (a signature does not hide a payload of transcripts from the network);
# plain http only where nothing leaves the machine: development, tests, `make run`.
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=DEBUG)
# Addresses inside the network (loopback, private, link-local: a cloud's metadata service) are
# refused, so a workspace cannot make our servers call them; allowed only where a receiver on the
# same machine is the point (development, tests, `make run`).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=DEBUG)
# The balance below which `credits.low` is sent, once each time it falls through it (600 = 10 minutes).
WEBHOOK_CREDITS_LOW_THRESHOLD = env.int("WEBHOOK_CREDITS_LOW_THRESHOLD", default=600)
# After a rotation the old secret still signs for this long, so receivers can change theirs.
WEBHOOK_SECRET_OVERLAP_HOURS = env.int("WEBHOOK_SECRET_OVERLAP_HOURS", default=24)
# An endpoint that has delivered nothing for this long (every delivery failing) is disabled.
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=5)
# A receiver gets this long to answer in all (3 s of it to accept the connection); slower is a failure.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# The RQ queue deliveries run on (its workers wait on receivers: up to 10 s each).
WEBHOOK_QUEUE = env.str("WEBHOOK_QUEUE", default="default")

# --- HubSpot (integrations.hubspot) --------------------------------------------------
# Where the HubSpot SDK sends its requests (tests point it at a local fake).
HUBSPOT_API_BASE_URL = env.str("HUBSPOT_API_BASE_URL", default="https://api.hubapi.com")
# Fernet key(s) for the stored access tokens, newest first, comma-separated; empty: one derived
# from SECRET_KEY (rotating SECRET_KEY then means connecting HubSpot again).
HUBSPOT_TOKEN_KEYS = env.list("HUBSPOT_TOKEN_KEYS", default=[])
# How often a push-back to HubSpot is tried before it is recorded as failed.
HUBSPOT_PUSH_MAX_ATTEMPTS = env.int("HUBSPOT_PUSH_MAX_ATTEMPTS", default=8)

# --- Logging ----------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The Twilio SDK logs every request URL at INFO, and those URLs carry phone numbers.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "twilio.http_client": {"level": "WARNING"},
        "paddle_billing": {"level": "WARNING"},
    },
}


# --- Security activity log (accounts/security.py) ---
# Sign-ins, failed sign-ins, codes, password, email, mobile and two-factor changes, exports and
# API keys, with IP address and browser: shown to the person under Settings, deleted after this
# many days (accounts.security.security_events_purge_due, daily).
SECURITY_LOG_RETENTION_DAYS = env.int("SECURITY_LOG_RETENTION_DAYS", default=365)
# allauth.usersessions lists each signed-in session; its IP address, browser and last-seen time
# are brought up to date at most this often (accounts.middleware.SessionActivityMiddleware):
# allauth's own tracking would write on every request.
USERSESSIONS_TRACK_ACTIVITY = False
SESSION_ACTIVITY_EVERY_SECONDS = env.int("SESSION_ACTIVITY_EVERY_SECONDS", default=300)

# --- Terms and policy versions (policies/) ---
# Days between publishing a new version of the terms, privacy or refund policy and the earliest
# date it may take effect (the terms promise at least 7 days' notice; policies.services).
POLICY_NOTICE_DAYS = env.int("POLICY_NOTICE_DAYS", default=7)
# Seconds each process keeps the list of published versions before reading it again (the
# sign-in gate and the banner read it on every page; policies.selectors).
POLICY_VERSIONS_CACHE_SECONDS = env.int("POLICY_VERSIONS_CACHE_SECONDS", default=60)

# --- Prices and their scheduled changes (billing/prices.py) ---
# The base rates, in credits, until a scheduled change (admin: Billing → Price changes) takes
# effect; billing.prices reads the rate in force. Changing these here skips the notice customers
# are promised: schedule a change instead. Pack and plan prices come from their admin rows, and
# the number fee from PHONE_NUMBER_MONTHLY_CREDITS (Telephony).
CREDITS_PER_CALL_SECOND = Decimal(env.str("CREDITS_PER_CALL_SECOND", default="1"))
AI_QUERY_CREDITS = Decimal(env.str("AI_QUERY_CREDITS", default="0.5"))
# A change that raises a price starts at least this many days after it is announced.
PRICE_RAISE_NOTICE_DAYS = env.int("PRICE_RAISE_NOTICE_DAYS", default=30)
# How long a process keeps the list of scheduled changes before reading it again: a change made
# to start at once (a decrease) reaches other processes within this many seconds.
PRICE_CHANGES_CACHE_SECONDS = env.int("PRICE_CHANGES_CACHE_SECONDS", default=60)

# --- Account notices and emails (notices/) ---
# An email that failed (or whose job was lost) is tried again every 30 minutes for this many hours
# after its notice was made (notices.jobs.notice_emails_retry_due); the notice is listed in the
# app either way.
NOTICE_EMAIL_RETRY_HOURS = env.int("NOTICE_EMAIL_RETRY_HOURS", default=48)
# A workspace's owners and billing members are emailed (and `credits.low` is sent to webhooks) when
# the balance falls below the account's own threshold, set on the credits page; this is the
# threshold of accounts that set none (600 credits = 10 minutes of calling). It takes over from
# WEBHOOK_CREDITS_LOW_THRESHOLD, whose value it defaults to, so an install that set that keeps it.
LOW_BALANCE_DEFAULT_CREDITS = env.int("LOW_BALANCE_DEFAULT_CREDITS", default=WEBHOOK_CREDITS_LOW_THRESHOLD)
# The notices page lists this many per page.
NOTICES_PER_PAGE = env.int("NOTICES_PER_PAGE", default=20)
