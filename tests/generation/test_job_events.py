"""Job events reach the owner's websocket through the real ASGI app and a cross-process channel layer."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from sdplatform.asgi import application
from sdplatform.config import channel_layer_settings
from tests.generation.helpers import submit

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "channels"])


@pytest.fixture(autouse=True)
def _project_channel_layer(settings):
    # Redis in CI, the SQLite layer on a laptop: both work across the worker's threads.
    settings.CHANNEL_LAYERS = channel_layer_settings(settings.REDIS_URL)


def _headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"origin", b"http://localhost")]


async def _connect(user) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, "/ws/jobs/", headers=await sync_to_async(_headers)(user))
    connected, _ = await ws.connect()
    assert connected
    return ws


async def _events_until(ws: WebsocketCommunicator, job: str, final: str, timeout: float = 30) -> list[dict]:
    events = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await ws.receive_json_from(timeout=max(0.1, deadline - loop.time()))
        if event["job"] == job:
            events.append(event)
            if event["event"] == final:
                return events


async def test_the_owner_follows_a_job_from_queue_to_images_and_nobody_else_does(alice, bob, cluster, worker):
    await sync_to_async(cluster)(1, step_seconds=0.05)
    alice_ws = await _connect(alice)
    bob_ws = await _connect(bob)

    first = await sync_to_async(submit)(alice, steps=30)
    second = await sync_to_async(submit)(alice, steps=5, seed=77)

    first_events = await _events_until(alice_ws, str(first.code), "succeeded")
    names = [e["event"] for e in first_events]
    assert names[0] == "started"
    progress = [e for e in first_events if e["event"] == "progress"]
    assert len(progress) >= 3
    assert progress[-1]["progress"] > progress[0]["progress"]
    assert any(e.get("preview", "").startswith("data:image/png;base64,") for e in progress)
    assert all(0 <= e["step"] <= 30 for e in progress)

    second_events = await _events_until(alice_ws, str(second.code), "succeeded")
    done = second_events[-1]
    assert done["status"] == "succeeded"
    [image] = done["images"]
    assert image["seed"] == 77
    assert image["url"].endswith("/file/")

    assert await bob_ws.receive_nothing(timeout=0.5)
    await alice_ws.disconnect()
    await bob_ws.disconnect()


async def test_a_second_job_is_announced_with_its_queue_position(alice, cluster, worker):
    await sync_to_async(cluster)(1, step_seconds=0.05)
    ws = await _connect(alice)
    running = await sync_to_async(submit)(alice, steps=30)
    waiting = await sync_to_async(submit)(alice, steps=5)
    [queued, *_] = await _events_until(ws, str(waiting.code), "queued")
    assert queued["queue_position"] == 1
    assert queued["eta_seconds"] > 0
    await _events_until(ws, str(waiting.code), "succeeded")
    await ws.disconnect()
    assert running.code != waiting.code
