from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from sdplatform import config


def test_it_defaults_to_sqlite_in_wal_mode(tmp_path):
    db = config.database_settings("", tmp_path / "db.sqlite3")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == tmp_path / "db.sqlite3"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert "busy_timeout" in db["OPTIONS"]["init_command"]


def test_it_parses_a_mysql_url():
    db = config.database_settings("mysql://sd:s%40cret@db.example:3307/sdplatform", Path("unused"), conn_max_age=60)
    assert db["ENGINE"] == "django.db.backends.mysql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "sd",
        "s@cret",
        "db.example",
        3307,
        "sdplatform",
    )
    assert db["OPTIONS"]["charset"] == "utf8mb4"
    assert db["CONN_HEALTH_CHECKS"] is True
    assert db["CONN_MAX_AGE"] > 0
    assert db["TEST"]["CHARSET"] == "utf8mb4"


def test_it_accepts_the_mariadb_scheme():
    db = config.database_settings("mariadb://root@127.0.0.1/sd", Path("unused"))
    assert db["ENGINE"] == "django.db.backends.mysql"


def test_it_rejects_an_unsupported_database():
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        config.database_settings("postgres://u@h/db", Path("unused"))


def test_it_uses_the_sqlite_channel_layer_without_redis():
    layers = config.channel_layer_settings("")
    assert layers["default"]["BACKEND"] == "channels_lite.layers.core.SQLiteChannelLayer"
    assert layers["default"]["CONFIG"]["database"] == "channels"


def test_it_uses_redis_for_channels_and_the_task_broker_when_set():
    url = "redis://127.0.0.1:6379/2"
    layers = config.channel_layer_settings(url)
    assert layers["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert layers["default"]["CONFIG"]["hosts"] == [url]
    q = config.q_cluster_settings(url, workers=3, task_timeout=600)
    assert q["redis"] == url
    assert "orm" not in q
    assert q["workers"] == 3


def test_it_uses_the_orm_broker_by_default_with_retry_above_timeout():
    q = config.q_cluster_settings("", workers=2, task_timeout=600)
    assert q["orm"] == "default"
    assert q["retry"] > q["timeout"] == 600


@pytest.mark.parametrize("raw,expected", [("1", True), ("True", True), ("off", False), ("false", False)])
def test_it_parses_booleans(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert config.envbool("SOME_FLAG", not expected) is expected


def test_it_rejects_a_vague_boolean(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        config.envbool("SOME_FLAG", False)


def test_it_rejects_a_non_integer(monkeypatch):
    monkeypatch.setenv("Q_WORKERS", "two")
    with pytest.raises(ImproperlyConfigured, match="Q_WORKERS"):
        config.envint("Q_WORKERS", 2)


def test_it_reads_secrets_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    assert config.envsecret("SECRET_KEY") == "from-a-file"


def test_it_names_an_unreadable_secret_file(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY_FILE"):
        config.envsecret("SECRET_KEY")
