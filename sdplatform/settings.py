"""Settings for sdplatform. Every value comes from the environment.

The defaults run a laptop install with no servers (SQLite database, SQLite
channel layer, django-q2 ORM broker). Production sets DATABASE_URL and
REDIS_URL; every variable is listed in .env.example.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from sdplatform.config import (
    channel_layer_settings,
    database_settings,
    envbool,
    envfloat,
    envint,
    envlist,
    envsecret,
    q_cluster_settings,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR") or BASE_DIR / "var")

# Core
DEBUG = envbool("DEBUG", False)
SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        # daphne and qcluster run no system checks, so refuse here, at import.
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off. Set SECRET_KEY (or SECRET_KEY_FILE) to a long random "
            "string, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(50))', "
            "or set DEBUG=True for local development."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_NAME = os.environ.get("SITE_NAME") or "sdplatform"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "channels_lite",
    "django_q",
    "ninja",
    "allauth",
    "allauth.account",
    "sdplatform",
    "accounts",
    "cluster",
    "generation",
]

# WhiteNoise is sync-only: in front of it every request, even an async view
# waiting for a job, holds a thread. Behind nginx (deploy/) static files are
# served by nginx, so WhiteNoise is only on where nothing else serves them.
SERVE_STATIC = envbool("SERVE_STATIC", DEBUG)
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    *(["whitenoise.middleware.WhiteNoiseMiddleware"] if SERVE_STATIC else []),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "sdplatform.urls"
WSGI_APPLICATION = "sdplatform.wsgi.application"
ASGI_APPLICATION = "sdplatform.asgi.application"

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
                "django.template.context_processors.i18n",
                "sdplatform.context_processors.site",
            ],
        },
    },
]

# Database
DATABASES = {
    "default": database_settings(envsecret("DATABASE_URL"), DATA_DIR / "db.sqlite3", envint("DB_CONN_MAX_AGE", 0)),
    # channels-lite keeps its messages in its own SQLite file, so the busy
    # websocket traffic never contends with the main database's writers.
    "channels": database_settings("", DATA_DIR / "channels.sqlite3"),
}
DATABASE_ROUTERS = ["sdplatform.routers.ChannelsLiteRouter"]
try:
    # SQLite files (the database, the channel layer, their test copies) live here.
    DATA_DIR.mkdir(parents=True, exist_ok=True)
except OSError:
    pass  # a read-only install with MySQL and Redis needs no SQLite file at all
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer, cache (rate limits) and task queue
REDIS_URL = envsecret("REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "sdplatform"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
CHANNEL_LAYERS = channel_layer_settings(REDIS_URL)
Q_CLUSTER = q_cluster_settings(REDIS_URL, envint("Q_WORKERS", 4), envint("Q_TASK_TIMEOUT", 660))

# Accounts
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "generation:generate"
LOGIN_URL = "account_login"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_ALLOW_SIGNUPS = envbool("ACCOUNT_ALLOW_SIGNUPS", True)
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "

# Email: the console in development, SMTP when EMAIL_HOST is set
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = envint("EMAIL_PORT", 587)
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = 15
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or "sdplatform <noreply@localhost>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Internationalisation: users read Chinese and English
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE") or "UTC"
USE_I18N = True
USE_TZ = True

# Static and media files
STATIC_URL = "/static/"
# In development WhiteNoise serves from the finders and there is nothing to collect.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or (None if DEBUG else BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Plain daphne serves no files; WhiteNoise serves /static/ from the ASGI app
# (from the finders in development, from STATIC_ROOT after collectstatic).
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or DATA_DIR / "media")
# In production nginx serves media after the app checked ownership.
MEDIA_ACCEL_REDIRECT = envbool("MEDIA_ACCEL_REDIRECT", False)

# Security behind a TLS-terminating proxy
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True

# Health checks of SD nodes
NODE_CHECK_SECONDS = envint("NODE_CHECK_SECONDS", 15)
NODE_CHECK_TIMEOUT = envfloat("NODE_CHECK_TIMEOUT", 5.0)

SILENCED_SYSTEM_CHECKS = [
    # MariaDB cannot create allauth's conditional unique constraint on
    # verified email addresses nor django-q2's partial index; allauth
    # enforces the uniqueness in code, and the index is only an optimisation.
    "models.W036",
    "models.W037",
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

# Jobs
JOB_QUEUE_TTL_MINUTES = envint("JOB_QUEUE_TTL_MINUTES", 30)
JOB_MAX_ATTEMPTS = envint("JOB_MAX_ATTEMPTS", 3)
JOB_LEASE_SECONDS = envint("JOB_LEASE_SECONDS", 60)
# A running job whose node reports no progress for this long is interrupted and requeued.
JOB_STALL_SECONDS = envint("JOB_STALL_SECONDS", 90)
# Longest a single generation may take on a node (queue wait, model load and sampling).
JOB_GENERATION_TIMEOUT = envint("JOB_GENERATION_TIMEOUT", 600)
JOB_PROGRESS_POLL_SECONDS = envfloat("JOB_PROGRESS_POLL_SECONDS", 1.0)
# Limits on what one job may ask for (plans may lower them).
JOB_MAX_PROMPT_LENGTH = envint("JOB_MAX_PROMPT_LENGTH", 2000)
JOB_MAX_STEPS = envint("JOB_MAX_STEPS", 150)
JOB_MAX_SIDE = envint("JOB_MAX_SIDE", 2048)
JOB_MAX_IMAGES = envint("JOB_MAX_IMAGES", 8)
# Submissions per user and per client address (django-ratelimit rates: N/s, N/m, N/h).
SUBMIT_RATE_PER_USER = os.environ.get("SUBMIT_RATE_PER_USER", "30/m")
SUBMIT_RATE_PER_IP = os.environ.get("SUBMIT_RATE_PER_IP", "60/m")
# A cache outage should not stop submissions; quotas still hold (they live in the database).
RATELIMIT_FAIL_OPEN = True

# Webhooks: job callbacks never go to loopback, private or link-local addresses unless allowed
# (a trusted receiver inside the cluster network).
WEBHOOK_ALLOW_PRIVATE = envbool("WEBHOOK_ALLOW_PRIVATE", False)
# img2img sends images inside JSON; Django's 2.5 MB default would refuse most of them.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 16 * 2**20)
# How long the A1111-compatible txt2img/img2img wait for their job (keep below the proxy's read timeout).
SDAPI_WAIT_SECONDS = envint("SDAPI_WAIT_SECONDS", 600)
