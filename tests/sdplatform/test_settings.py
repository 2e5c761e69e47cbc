"""Settings are read at import, so these start a fresh interpreter with a given environment."""

import json
import os
import subprocess
import sys

from django.conf import settings

PRINT_SETTINGS = (
    "import django, json; django.setup(); from django.conf import settings as s;"
    "print(json.dumps({'db': s.DATABASES['default']['ENGINE'], 'layer': s.CHANNEL_LAYERS['default']['BACKEND'],"
    "'broker': 'redis' if 'redis' in s.Q_CLUSTER else 'orm', 'debug': s.DEBUG}))"
)


def _run(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        env={**base, "DJANGO_SETTINGS_MODULE": "sdplatform.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off(tmp_path):
    r = _run({"DATA_DIR": str(tmp_path)})
    assert r.returncode != 0
    assert "SECRET_KEY is not set and DEBUG is off" in r.stderr


def test_it_starts_on_the_embedded_default(tmp_path):
    r = _run({"DEBUG": "True", "DATA_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        "db": "django.db.backends.sqlite3",
        "layer": "channels_lite.layers.core.SQLiteChannelLayer",
        "broker": "orm",
        "debug": True,
    }


def test_it_switches_to_mysql_and_redis_from_the_environment(tmp_path):
    r = _run(
        {
            "SECRET_KEY": "x" * 50,
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": "mysql://sd:pw@127.0.0.1:3306/sd",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        }
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        "db": "django.db.backends.mysql",
        "layer": "channels_redis.core.RedisChannelLayer",
        "broker": "redis",
        "debug": False,
    }
