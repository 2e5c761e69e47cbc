"""GET /api/v1/nodes: the nodes and their state, for staff only."""

import pytest

from accounts.models import ApiToken
from cluster.models import Node
from generation.models import Job
from tests.generation.helpers import registered_node

pytestmark = pytest.mark.django_db

URL = "/api/v1/nodes"


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_it_shows_staff_the_nodes_and_their_state(client, alice):
    alice.is_staff = True
    alice.save()
    gpu1 = registered_node("gpu1", auth_user="webui", auth_password="s3cret", model_loaded="v1-5-pruned-emaonly.safetensors", vram_total=8 * 2**30)
    registered_node("gpu2", state=Node.State.UNHEALTHY, failures=3, last_error="connection refused")
    Job.objects.create(owner=alice, model="m", status=Job.Status.RUNNING, node=gpu1)
    r = client.get(URL, headers=_h(ApiToken.issue(alice, "api")[1]))
    assert r.status_code == 200
    one, two = r.json()
    assert (one["name"], one["state"], one["available"], one["jobs_running"]) == ("gpu1", "healthy", True, 1)
    assert one["model_loaded"] == "v1-5-pruned-emaonly.safetensors"
    assert one["vram_total"] == 8 * 2**30
    assert len(one["models"]) == 2 and "Euler a" in one["samplers"]
    assert (two["name"], two["available"], two["failures"], two["last_error"]) == ("gpu2", False, 3, "connection refused")
    # The node's credentials never leave the admin.
    assert "s3cret" not in r.content.decode()
    assert "auth_password" not in one and "auth_user" not in one


def test_it_refuses_non_staff_with_403(client, bob):
    registered_node()
    r = client.get(URL, headers=_h(ApiToken.issue(bob, "api")[1]))
    assert r.status_code == 403
    assert r.json() == {"error": "forbidden", "message": "Only staff may see the nodes.", "field": None}


def test_it_requires_a_valid_token(client, alice):
    alice.is_staff = True
    alice.save()
    token = ApiToken.issue(alice, "api")[1]
    assert client.get(URL).status_code == 401
    ApiToken.objects.all().delete()
    r = client.get(URL, headers=_h(token))
    assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
