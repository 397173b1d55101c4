"""Settings for the PolypharmacyEnv site: one module, read from environment variables.

Every knob has a default that works on a laptop with nothing installed (SQLite under ``var/``,
an in-memory channel layer, a filesystem Celery broker). Pointing ``DATABASE_URL`` at
PostgreSQL and ``REDIS_URL`` at Redis moves the same code to its scaled-out shape
(DESIGN §2). ``POLYPHARMACY_PRODUCTION=1`` is the one switch for production: it turns DEBUG
off and HTTPS on (redirect, HSTS, Secure cookies) by default, and refuses the development secret
key and an empty ``ALLOWED_HOSTS``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def envstr(name: str, default: str = "") -> str:
    """The variable's value, or ``default`` when it is unset."""
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    """A boolean variable: 1/true/yes/on or 0/false/no/off (any case); anything else fails."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: use one of 1, 0, true, false, yes, no, on, off")


def envint(name: str, default: int) -> int:
    """An integer variable; a value that is not an integer fails."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected an integer") from None


def envpositive(name: str, default: int) -> int:
    """An integer variable that must be at least 1 (a limit, a duration)."""
    value = envint(name, default)
    if value < 1:
        raise ImproperlyConfigured(f"{name}={value!r}: expected an integer of at least 1")
    return value


def envquotas(name: str, default: str) -> dict[str, tuple[int, int]]:
    """``"researcher=20/4,supervisor=10/2"``: each role's (queued, running) job quota."""
    raw = os.environ.get(name, default)
    quotas: dict[str, tuple[int, int]] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        role, _, value = part.partition("=")
        queued, slash, running = value.partition("/")
        if not (slash and queued.strip().isdigit() and running.strip().isdigit() and role.strip()):
            raise ImproperlyConfigured(f"{name}: {part!r} is not <role>=<queued>/<running>, e.g. researcher=20/4")
        quotas[role.strip()] = (int(queued), int(running))
    return quotas


def envlist(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks around items are ignored, empty items dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


DEV_SECRET_KEY = "django-insecure-polypharmacy-development-key-do-not-use-in-production"
DEV_AUDIT_KEY = "polypharmacy-development-audit-key-do-not-use-in-production"


def check_production(*, secret_key: str, allowed_hosts: list[str], audit_key: str) -> None:
    """Refuse to run production with the development secret or audit key, or no allowed hosts."""
    if not secret_key or secret_key == DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY: production mode (POLYPHARMACY_PRODUCTION=1) needs a real secret key; "
            "set SECRET_KEY to a long random string."
        )
    if not allowed_hosts:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS: production mode (POLYPHARMACY_PRODUCTION=1) needs the host names "
            "this site answers to, e.g. ALLOWED_HOSTS=polypharmacy.example.org"
        )
    if len(audit_key) < 32 or audit_key in (DEV_AUDIT_KEY, secret_key):
        raise ImproperlyConfigured(
            "AUDIT_KEY: production mode (POLYPHARMACY_PRODUCTION=1) needs the audit trail's own key: a random "
            "string of at least 32 characters, not SECRET_KEY, kept out of the database (README, audit trail)."
        )


PRODUCTION = envbool("POLYPHARMACY_PRODUCTION", False)
# Off unless asked for (DEBUG=1, or `bin/run --dev`): Django's debug pages show any visitor the
# URL patterns, settings and file paths, and a plain `bin/run` is a site other people open.
DEBUG = envbool("DEBUG", False)
SECRET_KEY = envstr("SECRET_KEY", DEV_SECRET_KEY)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
# The audit chain's HMAC key (reviews.audit_chain): from the environment, never the database.
# Rotation: the new key in AUDIT_KEY, the old ones (comma-separated) in AUDIT_OLD_KEYS.
AUDIT_KEY = envstr("AUDIT_KEY", "" if PRODUCTION else DEV_AUDIT_KEY)
AUDIT_OLD_KEYS = envlist("AUDIT_OLD_KEYS", [])
if PRODUCTION:
    check_production(secret_key=SECRET_KEY, allowed_hosts=ALLOWED_HOSTS, audit_key=AUDIT_KEY)


def proxy_ssl_header(raw: str) -> tuple[str, str] | None:
    """``SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto`` → Django's ``("HTTP_X_FORWARDED_PROTO", "https")``."""
    name = raw.strip()
    if not name:
        return None
    if not all(c.isalnum() or c == "-" for c in name):
        raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER={raw!r}: expected a header name such as X-Forwarded-Proto")
    return "HTTP_" + name.upper().replace("-", "_"), "https"


# ── HTTPS (production defaults; each one can be turned off for a plain-HTTP laptop) ──────
# Every cookie the site sets follows these two: the session, CSRF, messages and the anonymous
# episode cookie (episodes.api.anon_cookie reads SESSION_COOKIE_SECURE).
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", PRODUCTION)
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", PRODUCTION)
# /health answers plain HTTP too: the orchestrator's and the TLS proxy's probes talk to the
# container directly, and a 301 would read as "unhealthy". It says nothing a stranger could use.
SECURE_REDIRECT_EXEMPT = [r"^health$"]
# A year (what browsers' preload lists ask for); SECURE_HSTS_SECONDS=3600 to try HTTPS first.
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is a promise only the domain's owner can make (hstspreload.org) and cannot take back
# quickly, so it is opt-in; while it is off, Django's reminder (security.W021) is silenced.
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Behind a proxy that terminates TLS, Django sees plain HTTP and would redirect forever. Name the
# header the proxy sets (SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto) only if the proxy always sets
# or strips it: a client could otherwise claim HTTPS.
_proxy_header = proxy_ssl_header(envstr("SECURE_PROXY_SSL_HEADER", ""))
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = _proxy_header

VAR_DIR = Path(envstr("POLYPHARMACY_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)
# The audit chain's signed checkpoints (reviews.audit_anchor), outside the database: in
# production, a directory on another machine or a write-once (append-only) mount.
AUDIT_CHECKPOINT_DIR = Path(envstr("AUDIT_CHECKPOINT_DIR", str(VAR_DIR / "audit")))
AUDIT_CHECKPOINT_EVERY = envint("AUDIT_CHECKPOINT_EVERY", 100)
AUDIT_CHECKPOINT_INTERVAL_S = envint("AUDIT_CHECKPOINT_INTERVAL_S", 300)

INSTALLED_APPS = [
    # The admin, asking accounts.permissions who may enter (polypharmacy_site.admin_site).
    "polypharmacy_site.admin_site.SiteAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_results",
    "simple_history",
    "accounts",
    "catalog",
    "episodes",
    "reviews",
    "jobs",
    "bandits",
]

# Body limits, strict query strings and the HTTP fast path sit in front of all of this, in the
# ASGI edge (polypharmacy_site.edge).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records request.user as the editor of every history row written during the request.
    "simple_history.middleware.HistoryRequestMiddleware",
    # A login that waited too long for the password gate: 503 and Retry-After, not a 500.
    "reviews.throttle.LoginBusyMiddleware",
    # Last, as django-axes asks: turns a locked-out login into reviews.throttle's 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "polypharmacy_site.urls"
WSGI_APPLICATION = "polypharmacy_site.wsgi.application"
ASGI_APPLICATION = "polypharmacy_site.asgi.application"

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
                "reviews.menu.menu",  # the pages this user's role may open
            ],
        },
    },
]

# ── database ────────────────────────────────────────────────────────────────
DATABASE_URL = envstr("DATABASE_URL", "")
# The longest a request waits for a database connection (either pool) before it is answered 503:
# a database that does not hand one out this long is down or overloaded, and a client would
# rather hear so than hang.
DATABASE_WAIT_S = envint("DATABASE_POOL_TIMEOUT", 5)
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DATABASE_CONN_MAX_AGE", 0))
    if _db["ENGINE"] == "django.db.backends.postgresql" and envbool("DATABASE_POOL", True):
        # Django's psycopg pool: a connection per request costs more than the query itself
        # under ASGI (DESIGN §5: 60 → 211 req/s). The pool needs CONN_MAX_AGE=0.
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": envint("DATABASE_POOL_MIN", 2),
            "max_size": envint("DATABASE_POOL_MAX", 16),
            "timeout": DATABASE_WAIT_S,
        }
        # With a pool, Django turns this into psycopg_pool's check_connection: a connection is
        # checked as it is handed out (one empty round trip), so one the server dropped (killed,
        # restarted) is replaced instead of failing a request. The event loop's asyncpg pool
        # needs no check: asyncpg notices a closed connection as it happens.
        _db["CONN_HEALTH_CHECKS"] = True
        # Django's backend, but a dropped connection found by that check has the pool check all
        # its idle ones at once (polypharmacy_site/postgres/base.py says why).
        _db["ENGINE"] = "polypharmacy_site.postgres"
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            "OPTIONS": {
                # WAL lets the web process read while the worker writes; IMMEDIATE takes the
                # write lock at BEGIN so two writers queue on the busy timeout instead of
                # failing with "database is locked" half-way through a transaction.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": envint("SQLITE_TIMEOUT", 20),
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The review pages (reviews/) sign people in with Django's session authentication.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "reviews:home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# ── login and token throttling (reviews/throttle.py, episodes/tokens.py) ───────────────
LOCKOUT_CRITERIA: dict[str, str | list[str]] = {"username": "username", "ip_address": "ip_address", "username+ip_address": ["username", "ip_address"]}


def lockout_parameters(raw: str) -> list[str | list[str]]:
    """``LOGIN_LOCKOUT_BY=username,ip_address`` → django-axes' AXES_LOCKOUT_PARAMETERS."""
    chosen = [item.strip() for item in raw.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in LOCKOUT_CRITERIA]
    if unknown or not chosen:
        raise ImproperlyConfigured(
            f"LOGIN_LOCKOUT_BY={raw!r}: use a comma-separated list of {', '.join(LOCKOUT_CRITERIA)}")
    return [LOCKOUT_CRITERIA[item] for item in chosen]


AUTHENTICATION_BACKENDS = [
    # First: a locked-out username or address is refused before any password is hashed.
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, hashing at most LOGIN_CONCURRENCY passwords at once per process.
    "reviews.throttle.GatedModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = envpositive("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=envpositive("LOGIN_LOCKOUT_MINUTES", 15))
# Two locks, either of which refuses a login: by username (however many addresses guess at one
# account, it gets LOGIN_FAILURE_LIMIT tries per lock period: a botnet gains nothing) and by
# address (one address spraying many usernames is stopped too). The price: anyone can lock a
# known username for a while (the lock is audited, and ends by itself), and a ward behind one
# NAT address shares the address lock; there, LOGIN_LOCKOUT_BY=username,username+ip_address.
AXES_LOCKOUT_PARAMETERS = lockout_parameters(envstr("LOGIN_LOCKOUT_BY", "username,ip_address"))
# Not reset by a success: otherwise an attacker with an account of their own could clear the
# address's count (and a guessed account's) by logging in between guesses.
AXES_RESET_ON_SUCCESS = False
# Attempts during a lock are refused without being counted, so a lock lasts exactly
# LOGIN_LOCKOUT_MINUTES after the last counted failure, as the lockout page says.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "reviews.throttle.lockout_response"
# The username as axes stores it: cut to Django's 150 characters (axes' column is 255, and a
# longer one posted to the login form was a 500 on PostgreSQL; no real username is longer).
AXES_USERNAME_CALLABLE = "reviews.throttle.axes_username"
AXES_HTTP_RESPONSE_CODE = 429
# The address the audit trail records too (reviews.audit.RequestMeta): REMOTE_ADDR, which uvicorn
# sets from X-Forwarded-For only for the proxies it trusts (FORWARDED_ALLOW_IPS).
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_VERBOSE = False  # no banner on every manage.py command; lockouts are still logged
# Password hashing is the costliest thing a request can ask for (0.4 s of a core): beyond this
# many at once, a login waits (LOGIN_QUEUE_S at most, then a 503 asking to retry) instead of
# taking the CPU from every other request, /health included.
LOGIN_CONCURRENCY = envpositive("LOGIN_CONCURRENCY", max(1, (os.cpu_count() or 2) // 2))
LOGIN_QUEUE_S = envpositive("LOGIN_QUEUE_S", 30)
# /bandit/screen and /bandit/predict score at most SCREEN_CONCURRENCY requests at once per web
# process (0: no limit); the others wait SCREEN_QUEUE_S at most, then get a 503 (bandits.gate).
SCREEN_CONCURRENCY = envint("SCREEN_CONCURRENCY", 1)
SCREEN_QUEUE_S = envpositive("SCREEN_QUEUE_S", 30)
# Invalid API tokens (Authorization: Token …, or ?token= on /ws) from one address: after
# TOKEN_FAILURE_LIMIT within TOKEN_LOCKOUT_MINUTES every token request from it is answered 429
# for TOKEN_LOCKOUT_MINUTES. Counted apart from logins, so a script with a stale token does not
# lock its address out of the login page.
TOKEN_FAILURE_LIMIT = envpositive("TOKEN_FAILURE_LIMIT", 20)
TOKEN_LOCKOUT_MINUTES = envpositive("TOKEN_LOCKOUT_MINUTES", 15)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every start without it; collectstatic fills it
STATICFILES_DIRS = [BASE_DIR / "static"]  # the site's own (site.css); apps keep theirs in <app>/static/
# WhiteNoise serves the static files from the web process (uvicorn serves none): the collected
# STATIC_ROOT with caching headers, and outside production the apps' own
# folders as well, so a checkout serves its pages without collectstatic (the live test servers).
# Turn off behind a proxy that serves staticfiles/ itself.
SERVE_STATIC = envbool("SERVE_STATIC", True)
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
if SERVE_STATIC:
    MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                      "whitenoise.middleware.WhiteNoiseMiddleware")

# ── Content-Security-Policy (django-csp), in every mode so the browser tests see violations ──
# No inline script or style of ours anywhere: pages load their code and style from /static/.
# One piece of others' markup is allowed by its hash alone: the style="border-top: 0" on
# django-simple-history's history page (it changes only with that pinned version;
# polypharmacy_site/tests/test_csp.py recomputes it from the installed template). data: images
# are icons in the admin's and Swagger UI's CSS. 'self' covers the review page's WebSocket.
HISTORY_PAGINATOR_STYLE_HASH = "'sha256-XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-hashes'", HISTORY_PAGINATOR_STYLE_HASH],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# ── channels ────────────────────────────────────────────────────────────────
REDIS_URL = envstr("REDIS_URL", "")
if REDIS_URL:
    # The token throttle's counters (episodes/tokens.py), shared by every web process.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    # One process only: fine for a laptop; run several server processes only with Redis.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# ── celery ──────────────────────────────────────────────────────────────────
CELERY_FS_DIR = VAR_DIR / "celery"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any]
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 6 * 3600)}
else:
    # kombu's filesystem transport needs no server and works with a real worker (~0.5 s pickup).
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # The web process writes and the worker reads the same folder.
        "data_folder_in": str(CELERY_FS_DIR / "queue"),
        "data_folder_out": str(CELERY_FS_DIR / "queue"),
        "processed_folder": str(CELERY_FS_DIR / "processed"),
        # Exchange bindings (else kombu writes a "control" folder into the current directory).
        "control_folder": str(CELERY_FS_DIR / "control"),
        "store_processed": False,
    }
    for _sub in ("queue", "processed", "control"):
        (CELERY_FS_DIR / _sub).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task survives a worker crash: it is acknowledged only when it finishes, and re-queued
# when its worker dies. Tasks are written to be idempotent for that reason (DESIGN §7).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 4 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 4 * 3600 - 60)
# Each job is sent to its kind's queue (jobs.kinds): "training" for the long CPU-bound kinds.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# ── jobs ────────────────────────────────────────────────────────────────────
# Checkpoints and other files jobs write (shared by the web and worker processes).
JOBS_ARTIFACT_DIR = Path(envstr("JOBS_ARTIFACT_DIR", str(VAR_DIR / "artifacts")))
JOBS_ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
# A running job's worker touches its heartbeat every JOBS_HEARTBEAT_S; a job whose heartbeat is
# older than JOBS_STALE_AFTER_S is taken for lost and re-queued (or failed when out of attempts).
JOBS_HEARTBEAT_S = envint("JOBS_HEARTBEAT_S", 5)
JOBS_STALE_AFTER_S = envint("JOBS_STALE_AFTER_S", 60)
JOBS_REAP_EVERY_S = envint("JOBS_REAP_EVERY_S", 30)
# A queued job whose message went out this long ago and was never claimed is sent again (the
# message may have been lost with the broker or with a killed worker); keep it above the longest
# time a job waits in the queue when every worker is busy, or accept harmless duplicates.
JOBS_RESEND_AFTER_S = envpositive("JOBS_RESEND_AFTER_S", 600)
# What one user may ask of the workers (jobs.limits): jobs queued and running at once, by role
# ("<role>=<queued>/<running>"; a role not listed, such as superuser, has no quota), how long a
# job over its owner's running quota waits before its message is taken again, and the memory
# ceiling of a job process in MB (0: none).
JOBS_QUOTAS = envquotas("JOBS_QUOTAS", "researcher=20/4,supervisor=10/2")
JOBS_DEFER_S = envpositive("JOBS_DEFER_S", 15)
JOBS_MEMORY_LIMIT_MB = envint("JOBS_MEMORY_LIMIT_MB", 4096)
# A training job saves its learner's whole state at most this often (between updates), so the
# attempt after a lost worker goes on from there (agents.learning.resume); 0: after every update.
JOBS_RESUME_EVERY_S = envint("JOBS_RESUME_EVERY_S", 60)

# ── REST API ────────────────────────────────────────────────────────────────
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's TokenAuthentication, with invalid tokens counted per address (429 past a limit).
        "episodes.tokens.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "polypharmacy_site.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PolypharmacyEnv",
    "DESCRIPTION": "A research simulator for elderly polypharmacy medication review (not clinical advice).",
    "VERSION": "1.0.0",
    # 3.1: the schemas are JSON Schema, as pydantic derives them from the contract.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # self-hosted: the docs page works with no internet access
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["episodes.openapi.add_contract_schemas"],
}

# ── the environment API (DESIGN §4) ─────────────────────────────────────────
# "anonymous": episodes are addressed by unguessable ids (local use); "required": token or
# session authentication, and every episode belongs to its creator.
POLYPHARMACY_API_AUTH = envstr("POLYPHARMACY_API_AUTH", "anonymous")
if POLYPHARMACY_API_AUTH not in ("anonymous", "required"):
    raise ImproperlyConfigured("POLYPHARMACY_API_AUTH: use 'anonymous' or 'required'")
# Default durability of API episodes: "full" commits every step durably; "fast" commits with
# synchronous_commit=off on PostgreSQL (a web-process crash loses nothing). Review sessions are full.
POLYPHARMACY_API_DURABILITY = envstr("POLYPHARMACY_API_DURABILITY", "full")
if POLYPHARMACY_API_DURABILITY not in ("full", "fast"):
    raise ImproperlyConfigured("POLYPHARMACY_API_DURABILITY: use 'full' or 'fast'")
# Answer anonymous steps on cached episodes on the event loop (episodes/fastpath.py); 0 sends
# every step through the DRF view (same answers, more thread hops).
POLYPHARMACY_STEP_FAST_PATH = envbool("POLYPHARMACY_STEP_FAST_PATH", True)
POLYPHARMACY_WS_MAX_SESSIONS = envint("POLYPHARMACY_WS_MAX_SESSIONS", 256)
POLYPHARMACY_WS_IDLE_TIMEOUT = envint("POLYPHARMACY_WS_IDLE_TIMEOUT", 600)
POLYPHARMACY_WS_DB_POOL_MAX = envint("POLYPHARMACY_WS_DB_POOL_MAX", 8)
# Bodies over 1 MB are refused with 413 while they are read (polypharmacy_site.edge); Django's
# own limit agrees.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# ── history ─────────────────────────────────────────────────────────────────
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusals": {"()": "polypharmacy_site.logs.RefusalsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["refusals"]}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
}

# ── LLM suggestions ─────────────────────────────────────────────────────────
# Any OpenAI-compatible chat endpoint (DESIGN §2), e.g. LLM_API_BASE=http://127.0.0.1:8080/v1.
# Unset LLM_API_BASE or LLM_MODEL: the review page offers the rule-based suggester only, and an
# "llm" request falls back to it. The key may be empty for a local server.


def envfloat(name: str, default: float) -> float:
    """A number variable; a value that is not a finite number greater than 0 fails."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a number") from None
    if not 0 < value < float("inf"):
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a number greater than 0")
    return value


LLM_API_BASE = envstr("LLM_API_BASE", "").strip()
LLM_API_KEY = envstr("LLM_API_KEY", "").strip()
LLM_MODEL = envstr("LLM_MODEL", "").strip()
LLM_TIMEOUT_S = envfloat("LLM_TIMEOUT_S", 10.0)  # the review page waits this long, then falls back
if LLM_API_BASE and not LLM_API_BASE.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"LLM_API_BASE={LLM_API_BASE!r}: expected an http:// or https:// URL")
