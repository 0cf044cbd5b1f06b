"""Recondesk settings: everything that differs between machines comes from environment variables.

The README's configuration table lists every variable read here.
"""

import os
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import environ
from django.core.exceptions import ImproperlyConfigured

from config import embedded, logs, metrics


def _time_of_day(text: str) -> time:
    """ "HH:MM" (UTC), e.g. a close of business."""
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ImproperlyConfigured(f"{text!r} is not a time of day (HH:MM)") from None


BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# No DATABASE_URL / REDIS_URL: real servers from the embedded wheels (see config/embedded.py).
embedded.ensure_environment()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    # A development key, unusable for production: `check --deploy` reports it (security.W009).
    SECRET_KEY = "django-insecure-recondesk-development-key-do-not-use-in-production"  # noqa: S105
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "csp",
    "config",
    "accounts",
    "audit",
    "reconciliation",
    "corrections",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    # Cache-Control: no-store on signed-in pages and API answers (config/cache_headers.py).
    "config.cache_headers.NoStoreMiddleware",
    "audit.middleware.RequestContextMiddleware",
    # Its request id on every log line, and on the Celery tasks it sends (config/request_logs.py).
    "config.request_logs.RequestIdLogMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
    # Before any view: a NUL in a parameter is a 400 naming it, not a 500 (config/request_text.py).
    "config.request_text.UnstorableTextMiddleware",
    # After sign-in and role checks: a form sent twice is acted on once (config/form_tokens.py).
    "config.form_tokens.FormTokenMiddleware",
    "config.errors.DomainErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "accounts.context_processors.navigation",
            ],
            # {% form_token %} in every POST form, without a {% load %} in each template.
            "builtins": ["config.templatetags.form_tokens"],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL")}
# A Unix socket folder arrives percent-encoded in the URL's host part.
DATABASES["default"]["HOST"] = unquote(str(DATABASES["default"].get("HOST", "")))
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache (login throttling, heartbeats), Celery broker and results --------------------
REDIS_URL = env.str("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "recondesk",
        "OPTIONS": {"socket_connect_timeout": 3, "socket_timeout": 3},
    }
}

# After each succeeded run, propose its automatic corrections and apply those within the rule
# set's auto-correction limits (corrections/receivers.py).
CORRECTIONS_PROPOSE_AFTER_RUNS = env.bool("CORRECTIONS_PROPOSE_AFTER_RUNS", default=True)

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="recondesk")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXPIRES = timedelta(days=1)
# Longer than the longest run, so an unacknowledged task is not redelivered while it still runs.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=6 * 3600)
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Fixed system schedules; beat copies them into its database tables, where admins see them.
CELERY_BEAT_SCHEDULE = {
    "export-audit-head": {"task": "audit.export_head", "schedule": timedelta(hours=1)},
    "expire-reports": {"task": "reports.expire_reports", "schedule": timedelta(hours=1)},
}
CELERY_TIMEZONE = "UTC"
WORKER_HEARTBEAT_INTERVAL = env.int("WORKER_HEARTBEAT_INTERVAL", default=10)
WORKER_HEARTBEAT_MAX_AGE = env.int("WORKER_HEARTBEAT_MAX_AGE", default=60)
# Work claimed by a worker process silent for WORKER_STALE_AFTER seconds is handed to another
# worker (config/claim_sweep.py); every worker looks every CLAIM_SWEEP_INTERVAL seconds, one at
# a time. Several heartbeats long, so a busy worker is never taken for a dead one.
WORKER_STALE_AFTER = env.int("WORKER_STALE_AFTER", default=60)
CLAIM_SWEEP_INTERVAL = env.int("CLAIM_SWEEP_INTERVAL", default=15)
if WORKER_STALE_AFTER < 2 * WORKER_HEARTBEAT_INTERVAL + 1:
    raise ImproperlyConfigured(
        "WORKER_STALE_AFTER must be more than two WORKER_HEARTBEAT_INTERVALs, or a live worker "
        "between two heartbeats would lose its work"
    )
# Outbound corrections (corrections/outbox.py): the relay runs right after each publish commits,
# and after every worker sweep (CLAIM_SWEEP_INTERVAL) for retries. A failed delivery waits each
# delay of OUTBOX_RETRY_DELAYS in turn (seconds, each times a random 1 +- OUTBOX_RETRY_JITTER),
# then is given up: by default about 24 hours and 11 attempts.
OUTBOX_RETRY_DELAYS = env.list(
    "OUTBOX_RETRY_DELAYS", cast=int,
    default=[5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800],
)  # fmt: skip
OUTBOX_RETRY_JITTER = env.float("OUTBOX_RETRY_JITTER", default=0.2)
OUTBOX_HTTP_TIMEOUT = env.float("OUTBOX_HTTP_TIMEOUT", default=10.0)
# The queue the relay goes to (empty: CELERY_QUEUE). Set it, and run a worker for it, when long
# runs could keep every worker of the default queue busy while corrections wait to be told.
OUTBOX_QUEUE = env.str("OUTBOX_QUEUE", default="")
# How long a rotated-out signing secret still signs, so receivers can switch over.
OUTBOX_SECRET_GRACE_HOURS = env.int("OUTBOX_SECRET_GRACE_HOURS", default=72)
if not OUTBOX_RETRY_DELAYS or min(OUTBOX_RETRY_DELAYS) < 0 or not 0 <= OUTBOX_RETRY_JITTER < 1:
    raise ImproperlyConfigured(
        "OUTBOX_RETRY_DELAYS must be one or more delays in seconds, and OUTBOX_RETRY_JITTER a "
        "fraction from 0 to below 1"
    )

# --- Authentication and access ------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "accounts:login"
# Sign-in limits (accounts/login_throttle.py): a user name is locked after this many failures;
# an address is slowed down (never locked) after its own number of failures.
LOGIN_FAILURES_PER_USER = env.int("LOGIN_FAILURES_PER_USER", default=5)
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=20)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
LOGIN_SLOWDOWN_MAX_SECONDS = env.int("LOGIN_SLOWDOWN_MAX_SECONDS", default=60)
# A browser that signed in as a user skips its address's slowdown for that user name this long.
LOGIN_KNOWN_BROWSER_DAYS = env.int("LOGIN_KNOWN_BROWSER_DAYS", default=30)

# How many reverse proxies, each appending to X-Forwarded-For, stand in front of the app: 0 (no
# proxy) takes the connection's address; N takes the Nth address from the right of the header.
# TRUST_X_FORWARDED_FOR=true, its former switch, still means one proxy; `manage.py check` warns.
TRUST_X_FORWARDED_FOR_GIVEN = "TRUST_X_FORWARDED_FOR" in os.environ
TRUSTED_PROXY_COUNT = env.int(
    "TRUSTED_PROXY_COUNT", default=1 if env.bool("TRUST_X_FORWARDED_FOR", default=False) else 0
)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(
        f"TRUSTED_PROXY_COUNT must be 0 (no proxy) or the number of proxies in front of the app, "
        f"not {TRUSTED_PROXY_COUNT}."
    )

# --- Security (production values come from the environment; see README) -----------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp) on every response: scripts, styles and images only from
# this server, no inline script or style, no plugins, not framed, forms post only here. Templates
# hold no inline script, event handler or style attribute (static/js holds the behaviour), and
# htmx is configured not to inject styles or evaluate code (templates/base.html, htmx-config).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files and storage -----------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production (STATIC_MANIFEST=true) serves hashed, compressed files gathered by collectstatic;
# the demo and the tests serve the source folders directly, with no collectstatic step.
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=False)
STATIC_ROOT = (
    Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))) if STATIC_MANIFEST else None
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
# Imports: the largest file accepted, and the limits an XLSX workbook must stay within.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=512 * 1024 * 1024)
# Larger files posted to the API are loaded by a worker (202 and an import job), as every
# upload confirmed on the page is: a web request must not hold a long import.
IMPORT_API_SYNC_MAX_BYTES = env.int("IMPORT_API_SYNC_MAX_BYTES", default=256 * 1024)
# Imports read the file from UPLOAD_STAGING_DIR: a queue for the workers that can see it (empty:
# the default queue, for deployments where every worker can).
IMPORT_QUEUE = env.str("IMPORT_QUEUE", default="")
IMPORT_XLSX_MAX_PARTS = env.int("IMPORT_XLSX_MAX_PARTS", default=1000)
IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES = env.int(
    "IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES", default=256 * 1024 * 1024
)
UPLOAD_STAGING_DIR = Path(
    env.str("UPLOAD_STAGING_DIR", default=str(BASE_DIR / ".data" / "uploads"))
)
# Runs: a run whose two datasets hold at least RUN_PARTITION_MIN_ROWS rows is split by asset into
# up to RUN_PARTITIONS parts that any workers execute in parallel
# (reconciliation/runs/partitions.py).
# Off (1) by default: on one machine the workers share its cores with PostgreSQL and a split run
# is no faster (README, Performance); set it where workers run on several machines.
RUN_PARTITIONS = env.int("RUN_PARTITIONS", default=1)
RUN_PARTITION_MIN_ROWS = env.int("RUN_PARTITION_MIN_ROWS", default=400_000)
# Fernet key that encrypts stored exchange credentials (see README); empty: none can be stored.
CREDENTIALS_ENCRYPTION_KEY = env.str("CREDENTIALS_ENCRYPTION_KEY", default="")
REPORTS_DIR = Path(env.str("REPORTS_DIR", default=str(BASE_DIR / ".data" / "reports")))
REPORTING_CURRENCY = env.str("REPORTING_CURRENCY", default="USD")
# Reports (docs/reports.md): how long a built report is kept, and what raises a report's flags
# and recommendations.
REPORT_RETENTION_DAYS = env.int("REPORT_RETENTION_DAYS", default=90)
REPORT_CLOSE_OF_BUSINESS = _time_of_day(env.str("REPORT_CLOSE_OF_BUSINESS", default="17:00"))
REPORT_BREAK_AGE_DAYS = env.int("REPORT_BREAK_AGE_DAYS", default=5)
REPORT_HIGH_VALUE = Decimal(env.str("REPORT_HIGH_VALUE", default="10000"))
REPORT_FIELD_SHARE_PCT = Decimal(env.str("REPORT_FIELD_SHARE_PCT", default="30"))
REPORT_SOURCE_SHARE_PCT = Decimal(env.str("REPORT_SOURCE_SHARE_PCT", default="50"))
REPORT_MATCH_RATE_PCT = Decimal(env.str("REPORT_MATCH_RATE_PCT", default="99"))
REPORT_AUTO_CORRECTION_PCT = Decimal(env.str("REPORT_AUTO_CORRECTION_PCT", default="50"))
REPORT_RECURRING_TIMES = env.int("REPORT_RECURRING_TIMES", default=3)
# A report pack's e-mail attaches its files up to this size in all, and links to the rest.
REPORT_EMAIL_ATTACH_MAX_BYTES = env.int("REPORT_EMAIL_ATTACH_MAX_BYTES", default=10 * 2**20)
# E-mail (report packs): EMAIL_URL as django-environ reads it, e.g.
# smtp+tls://user:password@mail.example.com:587; unset, messages are printed by the process.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="recondesk@localhost")
# The address people open Recondesk at, for links in e-mails.
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")

# --- Notifications (notifications/, README "Notifications") -----------------------------------
# Runs with critical breaks or threshold breaches, failed runs, corrections waiting for approval
# and failed report builds are told, once, by e-mail (EMAIL_URL) and signed webhook to whom the
# rule set's `escalation` names; failed sends are retried on OUTBOX_RETRY_DELAYS.
INSTALLED_APPS += ["notifications"]  # after the apps it builds on
NOTIFICATIONS_ENABLED = env.bool("NOTIFICATIONS_ENABLED", default=True)
# How many breaks (or corrections) one message lists, largest first; the counts cover all.
NOTIFICATIONS_TOP_BREAKS = env.int("NOTIFICATIONS_TOP_BREAKS", default=10)
# --- (end of notifications) --------------------------------------------------------------------
# Where the audit chain's head is exported, outside the database (see audit/services.py).
AUDIT_HEAD_EXPORT_PATH = Path(
    env.str("AUDIT_HEAD_EXPORT_PATH", default=str(BASE_DIR / ".data" / "audit-head.jsonl"))
)

# Audit entries are signed (HMAC-SHA256) with AUDIT_HMAC_KEY, a secret the database never holds
# (audit/keys.py); AUDIT_HMAC_KEYS: earlier keys, comma-separated, kept to verify what they signed.
# Unset, a development key is used and `check --deploy` reports it (audit.E001).
AUDIT_HMAC_KEY = env.str("AUDIT_HMAC_KEY", default="")
AUDIT_HMAC_KEYS = env.list("AUDIT_HMAC_KEYS", default=[])
# Webhook signing secrets are stored sealed with WEBHOOK_SECRETS_KEY (corrections/sealing.py);
# WEBHOOK_SECRETS_KEYS: earlier keys, comma-separated, kept to open what they sealed.
WEBHOOK_SECRETS_KEY = env.str("WEBHOOK_SECRETS_KEY", default="")
WEBHOOK_SECRETS_KEYS = env.list("WEBHOOK_SECRETS_KEYS", default=[])
# Entries 1..N written before this installation signed its log may stay unsigned (0: none may).
AUDIT_UNSIGNED_UNTIL = env.int("AUDIT_UNSIGNED_UNTIL", default=0)

# --- API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.access.HasRole"],
    "DEFAULT_SCHEMA_CLASS": "config.api_schema.RecondeskAutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.ExactJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.Pager",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
}
# API tokens (django-rest-knox): only a SHA-512 digest is stored; the token is shown once. Each
# token has a name and a fixed expiry chosen at creation (accounts/api_tokens.py). The header
# stays DRF's `Authorization: Token <token>`; the "rd_" prefix lets secret scanners spot a leak.
KNOX_TOKEN_MODEL = "accounts.ApiToken"  # noqa: S105 (a model name)
# knox's own migrations would create a table for its stock model even though it is swapped out;
# that empty table's foreign key to users then blocks every TRUNCATE of the users table.
MIGRATION_MODULES = {"knox": None}
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=90)
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=365)
API_TOKENS_PER_USER = env.int("API_TOKENS_PER_USER", default=20)
REST_KNOX = {
    "TOKEN_MODEL": KNOX_TOKEN_MODEL,
    "TOKEN_TTL": timedelta(days=API_TOKEN_DAYS),
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_PREFIX": "rd_",
    # An expiry is a promise made when the token is created; using a token does not extend it.
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Recondesk API",
    "DESCRIPTION": "Reconciliation desk: datasets, runs, breaks, corrections, reports, audit.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["accounts.access.HasRole"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ReconciliationTypeEnum": "reconciliation.engine.types.TYPES",
        "DatasetKindEnum": "reconciliation.importers.base.KINDS",
        "CorrectionStatusEnum": "corrections.models.Correction.Status",
        "CorrectionOperationEnum": "corrections.models.Correction.Operation",
        "ReportFormatEnum": "reports.models.FORMAT_CHOICES",
    },
}

# --- Operations: logs and metrics (README, "Logs and metrics") ---------------------------------
# One JSON object per line on stderr (config/logs.py); `console`: readable text, the default for
# a DEBUG process outside CI (`make demo`).
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str(
    "LOG_FORMAT", default="console" if DEBUG and not env.bool("CI", default=False) else "json"
)
LOGGING = logs.logging_config(LOG_FORMAT, LOG_LEVEL)
logs.configure_structlog()
# Every process of this machine (gunicorn workers, Celery pool processes) writes its metric
# files here, and /metrics sums them (config/metrics.py); web and workers must share it.
PROMETHEUS_MULTIPROC_DIR = metrics.use_directory(env.str("PROMETHEUS_MULTIPROC_DIR", default=""))
# /metrics answers a request bearing this token (`Authorization: Bearer ...`), and signed-in
# admins; empty: admins only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
