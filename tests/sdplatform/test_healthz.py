import pytest
from django.db import DatabaseError
from django.urls import reverse

pytestmark = pytest.mark.django_db

IN_MEMORY_LAYER = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def test_it_reports_database_and_channel_layer(client, settings):
    settings.CHANNEL_LAYERS = IN_MEMORY_LAYER
    r = client.get(reverse("healthz"))
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["channel_layer"] == {
        "ok": True,
        "backend": "channels.layers.InMemoryChannelLayer",
        "ms": body["channel_layer"]["ms"],
    }


def test_it_answers_503_when_the_database_fails(client, settings, monkeypatch):
    settings.CHANNEL_LAYERS = IN_MEMORY_LAYER

    def broken_cursor(*args, **kwargs):
        raise DatabaseError("server has gone away")

    from django.db import connection

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    r = client.get(reverse("healthz"))
    assert r.status_code == 503
    assert r.json()["status"] == "error"
    assert r.json()["database"]["error"] == "unreachable"  # no internals for anonymous callers
    assert "gone away" not in r.content.decode()


def test_it_answers_503_when_the_channel_layer_is_unreachable(client, settings):
    # Nothing listens on port 1: the Redis layer fails to connect.
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    r = client.get(reverse("healthz"))
    assert r.status_code == 503
    assert r.json()["channel_layer"]["ok"] is False


def test_it_allows_only_get(client):
    assert client.post(reverse("healthz")).status_code == 405
