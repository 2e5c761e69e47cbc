"""GET /api/v1/models, /samplers and /schedulers: what the cluster offers now."""

import pytest

from accounts.models import ApiToken
from cluster.models import Node
from generation.forms import SCHEDULERS
from tests.generation.helpers import registered_node

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_token(alice):
    return ApiToken.issue(alice, "api")[1]


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_it_lists_the_models_of_available_nodes(client, alice_token):
    registered_node()
    registered_node("down", state=Node.State.UNHEALTHY, models_available=[{"title": "other.safetensors [abcdef0123]"}])
    r = client.get("/api/v1/models", headers=_h(alice_token))
    assert r.status_code == 200
    assert r.json() == [
        {"name": "sd_xl_base_1.0", "title": "sd_xl_base_1.0.safetensors [31e35c80fc]"},
        {"name": "v1-5-pruned-emaonly", "title": "v1-5-pruned-emaonly.safetensors [6ce0161689]"},
    ]


def test_it_lists_samplers_and_schedulers(client, alice_token):
    registered_node()
    registered_node("gpu2", samplers=["Euler a", "DDIM"])
    assert client.get("/api/v1/samplers", headers=_h(alice_token)).json() == ["DDIM", "DPM++ 2M", "Euler", "Euler a"]
    assert client.get("/api/v1/schedulers", headers=_h(alice_token)).json() == SCHEDULERS


def test_it_lists_nothing_without_nodes(client, alice_token):
    assert client.get("/api/v1/models", headers=_h(alice_token)).json() == []
    assert client.get("/api/v1/samplers", headers=_h(alice_token)).json() == []


@pytest.mark.parametrize("path", ["/api/v1/models", "/api/v1/samplers", "/api/v1/schedulers"])
def test_it_requires_a_valid_token(client, alice_token, path):
    assert client.get(path).status_code == 401
    ApiToken.objects.all().delete()
    r = client.get(path, headers=_h(alice_token))
    assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
