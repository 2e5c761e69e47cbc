import pytest
from channels.testing import WebsocketCommunicator

from accounts.models import ApiToken
from generation.events import send_to_user
from sdplatform.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice_token(alice):
    return ApiToken.issue(alice, "ws")[1]


async def _connect(path="/ws/jobs/", headers=()):
    ws = WebsocketCommunicator(application, path, headers=list(headers))
    connected, _ = await ws.connect()
    return ws, connected


async def test_an_api_client_connects_with_a_bearer_header_and_gets_its_events(alice, alice_token):
    from asgiref.sync import sync_to_async

    ws, connected = await _connect(headers=[(b"authorization", f"Bearer {alice_token}".encode())])
    assert connected
    await sync_to_async(send_to_user)(alice.pk, {"event": "progress", "job": "x"})
    assert (await ws.receive_json_from(timeout=2))["job"] == "x"
    await ws.disconnect()


async def test_it_accepts_the_token_as_a_query_parameter(alice_token):
    ws, connected = await _connect(f"/ws/jobs/?token={alice_token}")
    assert connected
    await ws.disconnect()


async def test_it_refuses_a_wrong_token(alice_token):
    _, connected = await _connect("/ws/jobs/?token=sdp_not-a-token")
    assert not connected


async def test_it_refuses_a_token_from_a_foreign_browser_origin(alice_token):
    # A page on another site must not ride on anything: with an Origin, only our hosts pass.
    _, connected = await _connect(f"/ws/jobs/?token={alice_token}", headers=[(b"origin", b"http://evil.example")])
    assert not connected
