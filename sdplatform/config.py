"""Turn environment variables into Django settings.

Each helper is strict: a value it does not understand stops start-up with a
message naming the variable, instead of silently falling back to a default.
The builders take the raw strings so tests can call them without touching
``os.environ``.
"""

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(f"{name} must be True or False, not {raw!r}")


def envint(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def envfloat(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envsecret(name: str) -> str:
    """Read NAME, or the file named by NAME_FILE (Docker and systemd secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as e:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {e.strerror}") from None
    return os.environ.get(name, "")


def database_settings(url: str, sqlite_path: Path, conn_max_age: int = 0) -> dict[str, Any]:
    """The ``default`` database: SQLite under the data folder unless a URL is given."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path,
            "OPTIONS": _sqlite_options(),
            # A file, not Django's shared in-memory database: tests run worker
            # threads and processes next to the test, and shared-cache memory
            # databases answer "table is locked" instead of waiting. One per
            # test run, so two runs in one checkout do not share it.
            "TEST": {"NAME": str(sqlite_path.with_name(f"test_{os.getpid()}_{sqlite_path.name}"))},
        }
    scheme = urlsplit(url).scheme
    if scheme not in {"mysql", "mariadb", "sqlite"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL scheme {scheme!r} is not supported: use mysql://user:pass@host:3306/name "
            "or leave it empty for the embedded SQLite database"
        )
    if scheme == "mariadb":
        url = "mysql" + url[len("mariadb") :]
    # Persistent connections only where asked (DB_CONN_MAX_AGE): under ASGI each
    # request runs on a fresh thread, so they would never be reused, only leaked.
    db = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db["OPTIONS"] = _sqlite_options()
        return db
    db["OPTIONS"] = {
        "charset": "utf8mb4",
        # Strict mode turns silent truncation into errors; READ COMMITTED lets
        # SKIP LOCKED batch picking and compare-and-set updates see fresh rows.
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
        "isolation_level": "read committed",
    }
    db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    return db


def _sqlite_options() -> dict[str, Any]:
    # WAL lets the web server read while a worker writes; IMMEDIATE makes a
    # writing transaction take the lock at BEGIN, so two processes wait for
    # each other (busy timeout) instead of failing with "database is locked".
    return {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
    }


def channel_layer_settings(redis_url: str) -> dict[str, Any]:
    """Redis in production; otherwise a cross-process SQLite layer (see DESIGN)."""
    if redis_url:
        return {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [redis_url], "prefix": "sdplatform:"},
            }
        }
    return {
        "default": {
            "BACKEND": "channels_lite.layers.core.SQLiteChannelLayer",
            "CONFIG": {"database": "channels", "polling_interval": 0.02},
        }
    }


def q_cluster_settings(redis_url: str, workers: int, task_timeout: int) -> dict[str, Any]:
    """django-q2: ORM broker by default, Redis when REDIS_URL is set.

    ``retry`` must exceed ``timeout``, or a slow task is handed to a second
    worker while the first still runs it.
    """
    conf: dict[str, Any] = {
        "name": "sdplatform",
        "workers": workers,
        "timeout": task_timeout,
        "retry": task_timeout + 60,
        "max_attempts": 1,
        "catch_up": False,
        "save_limit": 500,
        "label": "Django Q2",
        "poll": 0.2,
    }
    if redis_url:
        conf["redis"] = redis_url
    else:
        conf["orm"] = "default"
    return conf
