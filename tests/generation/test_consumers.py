import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from generation.events import send_to_user
from sdplatform.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True)]

IN_MEMORY_LAYER = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def _in_memory_layer(settings):
    settings.CHANNEL_LAYERS = IN_MEMORY_LAYER


def _session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    return [(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"http://localhost")]


async def _connect(headers):
    communicator = WebsocketCommunicator(application, "/ws/jobs/", headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


async def test_it_accepts_a_signed_in_user_and_delivers_their_events(alice):
    headers = await sync_to_async(_session_headers)(alice)
    communicator, connected = await _connect(headers)
    assert connected
    await sync_to_async(send_to_user)(alice.pk, {"event": "progress", "job": "abc", "percent": 40})
    assert await communicator.receive_json_from(timeout=2) == {"event": "progress", "job": "abc", "percent": 40}
    await communicator.disconnect()


async def test_it_refuses_an_anonymous_connection():
    communicator, connected = await _connect([(b"origin", b"http://localhost")])
    assert not connected


async def test_it_refuses_a_foreign_origin(alice):
    headers = await sync_to_async(_session_headers)(alice)
    headers = [h for h in headers if h[0] != b"origin"] + [(b"origin", b"http://evil.example")]
    communicator, connected = await _connect(headers)
    assert not connected


async def test_it_never_delivers_another_users_events(alice, bob):
    alice_ws, _ = await _connect(await sync_to_async(_session_headers)(alice))
    bob_ws, _ = await _connect(await sync_to_async(_session_headers)(bob))
    await sync_to_async(send_to_user)(bob.pk, {"event": "progress", "job": "bobs"})
    assert await bob_ws.receive_json_from(timeout=2) == {"event": "progress", "job": "bobs"}
    assert await alice_ws.receive_nothing(timeout=0.3)
    await alice_ws.disconnect()
    await bob_ws.disconnect()
