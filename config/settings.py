"""Paper Digest settings: every value comes from an environment variable.

Defaults suit a laptop (SQLite, tasks run in-process, emails written to var/outbox/).
Production sets DEBUG=0 and the variables listed in the README.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    anymail_settings,
    env_bool,
    env_int,
    env_list,
    env_str,
    parse_database_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# SQLite, the outbox and collected static files; a relative path is read from the project folder.
VAR_DIR = BASE_DIR / (env_str("VAR_DIR") or "var")

DEBUG = env_bool("DEBUG", default=True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off")
    SECRET_KEY = "django-insecure-local-development-only"

DEFAULT_SITE_URL = "http://localhost:8000"  # where `make demo` serves, unless told a PORT
SITE_URL = env_str("SITE_URL", DEFAULT_SITE_URL).rstrip("/")
SITE_NAME = env_str("SITE_NAME", "Paper Digest")
_site = urlsplit(SITE_URL)
if _site.scheme not in {"http", "https"} or not _site.hostname:
    raise ImproperlyConfigured(f"SITE_URL must be an http(s) URL; got {SITE_URL!r}")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [_site.hostname]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [f"{_site.scheme}://{_site.netloc}"])

INSTALLED_APPS = [
    "config.apps.PaperDigestAdminConfig",  # django.contrib.admin with our dashboard
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "anymail",
    "digest",
    "subscribers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "lib.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "lib.context_processors.site",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'paperdigest.sqlite3'}"), base_dir=BASE_DIR
    )
}
if (
    DATABASES["default"]["ENGINE"].endswith("sqlite3")
    and DATABASES["default"]["NAME"] != ":memory:"
):
    # The embedded default must work on a fresh clone, where var/ does not exist yet.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Celery: without a broker, tasks run in-process (the embedded default). ---
CELERY_TASK_ALWAYS_EAGER = not env_str("CELERY_BROKER_URL")
# Eager mode still builds a producer; kombu warns about a URL without a host.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "paperdigest")
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Connections are kept between tasks by Django's rules (CONN_MAX_AGE), see config/celery.py.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

# --- Email ---
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = Path(env_str("EMAIL_FILE_PATH") or VAR_DIR / "outbox")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Paper Digest <digest@localhost>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
ANYMAIL = anymail_settings()

# --- Subscribers ---
CONFIRM_LINK_DAYS = env_int("CONFIRM_LINK_DAYS", 7, minimum=1)
# An expired confirmation link offers a new one for this long, then it is just a bad link.
CONFIRM_RESEND_DAYS = env_int("CONFIRM_RESEND_DAYS", 30, minimum=1)
SIGNUP_LIMIT_PER_IP = env_int("SIGNUP_LIMIT_PER_IP", 10, minimum=1)  # per hour
SIGNUP_LIMIT_PER_ADDRESS = env_int("SIGNUP_LIMIT_PER_ADDRESS", 3, minimum=1)  # emails per hour
ADMIN_LOGIN_LIMIT = env_int("ADMIN_LOGIN_LIMIT", 10, minimum=1)  # attempts per 15 minutes
CLIENT_IP_HEADER = env_str("CLIENT_IP_HEADER")  # e.g. HTTP_X_REAL_IP behind a proxy that sets it
# With HTTP_X_FORWARDED_FOR: how many proxies of ours append to it (the client is that many
# entries from the right; entries further left are whatever the client sent).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1, minimum=1)
UNSUBSCRIBE_MAILTO = env_str("UNSUBSCRIBE_MAILTO")  # default: DEFAULT_FROM_EMAIL's address
PREVIEW_DAYS = env_int("PREVIEW_DAYS", 14, minimum=1)  # live preview and search window
# Larger uploads are cut off as they arrive (the largest we read is a 5 MB BibTeX export).
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 6 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_HANDLERS = [
    "lib.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
MANAGE_SAVES_PER_HOUR = env_int("MANAGE_SAVES_PER_HOUR", 30, minimum=1)  # per subscriber
LIBRARY_UPLOADS_PER_HOUR = env_int("LIBRARY_UPLOADS_PER_HOUR", 10, minimum=1)  # per client
PREVIEW_LIMIT_PER_MINUTE = env_int("PREVIEW_LIMIT_PER_MINUTE", 60, minimum=1)  # per client
# Soft bounces (mailbox full, greylisting) suppress only when this many messages soft-bounced
# within the window: one full mailbox must not cost a subscription.
SOFT_BOUNCE_LIMIT = env_int("SOFT_BOUNCE_LIMIT", 3, minimum=1)
SOFT_BOUNCE_WINDOW_DAYS = env_int("SOFT_BOUNCE_WINDOW_DAYS", 30, minimum=1)

# --- Digests ---
INGEST_TIME_LIMIT_SECONDS = env_int("INGEST_TIME_LIMIT_SECONDS", 300, minimum=10)
DELIVERY_CHUNK_SIZE = env_int("DELIVERY_CHUNK_SIZE", 1000, minimum=1)  # deliveries per task
DELIVERY_LEASE_SECONDS = env_int("DELIVERY_LEASE_SECONDS", 600, minimum=1)  # then reclaimed
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 10, minimum=1)
DIGEST_SEND_EMPTY = env_bool("DIGEST_SEND_EMPTY", default=False)  # "nothing new" emails
# Messages in flight per worker process (threads, each with its own mail connection), and one
# send rate shared by every worker on every machine (through Redis when it is the broker).
SEND_CONCURRENCY = env_int("SEND_CONCURRENCY", 8, minimum=1)
SEND_RATE_PER_SECOND = env_int("SEND_RATE_PER_SECOND", 10, minimum=0)  # 0: no limit

# --- Matching by meaning ---
# Installed by `manage.py install_model`; workers only read it. A relative path is read from
# the project folder.
EMBEDDING_MODEL_DIR = BASE_DIR / (env_str("EMBEDDING_MODEL_DIR") or "var/models/all-MiniLM-L6-v2")
EMBEDDING_THREADS = env_int("EMBEDDING_THREADS", 1, minimum=1)  # onnxruntime threads a process

# --- Feeds ---
FETCH_TIMEOUT_SECONDS = env_int("FETCH_TIMEOUT_SECONDS", 30, minimum=1)
FETCH_MAX_BYTES = env_int("FETCH_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
# Off: loopback, private, link-local (cloud metadata), CGNAT and other internal addresses are
# refused, so a source URL cannot reach services behind the firewall. On for local feed servers.
FETCH_ALLOW_PRIVATE_NETWORKS = env_bool("FETCH_ALLOW_PRIVATE_NETWORKS", default=False)
FETCH_USER_AGENT = env_str(
    "FETCH_USER_AGENT", f"PaperDigest/0.1 (+{SITE_URL}; self-hosted paper digest)"
)
# Where seed papers we have not stored are looked up (by the profile task, never a request).
EMBED_TIME_LIMIT_SECONDS = env_int("EMBED_TIME_LIMIT_SECONDS", 1800, minimum=10)
ARXIV_API_URL = env_str("ARXIV_API_URL", "https://export.arxiv.org/api/query")

# Celery workers set their own level (-l info); this is for web and management commands.
LOG_LEVEL = env_str("LOG_LEVEL", "WARNING").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Security ---
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "lib.errors.csrf_failure"
if not DEBUG:
    # Trust X-Forwarded-Proto only behind a proxy that sets it and strips clients' copies.
    if env_bool("TRUST_X_FORWARDED_PROTO", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=_site.scheme == "https")
    SESSION_COOKIE_SECURE = _site.scheme == "https"
    CSRF_COOKIE_SECURE = _site.scheme == "https"
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
    # Both bind every subdomain of the site's domain (and preload, for good): a decision for
    # whoever runs the domain, not a default for an app that often lives on a subdomain.
    SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
