"""NodeAdmin: the list, the form that never shows the stored password, and the actions."""

import re
import socket

import pytest
from django.urls import reverse

from cluster.models import Node

pytestmark = pytest.mark.django_db

SECRET = "hunter2-Zq9x"
CHANGELIST = reverse("admin:cluster_node_changelist")


@pytest.fixture
def root(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.org", "password")
    client.force_login(user)
    return user


@pytest.fixture
def node() -> Node:
    return Node.objects.create(
        name="gpu1", url="http://10.0.0.11:7860", auth_user="u", auth_password=SECRET, state=Node.State.HEALTHY
    )


def _change_url(node: Node) -> str:
    return reverse("admin:cluster_node_change", args=[node.pk])


def _form(node: Node, **changes) -> dict:
    data = {
        "name": node.name,
        "url": node.url,
        "auth_user": node.auth_user,
        "auth_password": "",
        "capacity": node.capacity,
        "enabled": "on",
        "_save": "Save",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _messages(r) -> list[str]:
    return [str(m) for m in r.context["messages"]]


def test_it_lists_nodes_with_their_state_and_no_password(client, root, node):
    Node.objects.create(name="gpu2", url="http://10.0.0.12:7860", state=Node.State.UNHEALTHY)

    r = client.get(CHANGELIST)

    assert r.status_code == 200
    html = r.content.decode()
    assert "gpu1" in html and "gpu2" in html
    assert re.search(r'background:#1a7f37[^>]*>healthy</span>', html)
    assert re.search(r'background:#cf222e[^>]*>unhealthy</span>', html)
    assert SECRET not in html


def test_it_never_renders_the_stored_password(client, root, node):
    r = client.get(_change_url(node))

    assert r.status_code == 200
    html = r.content.decode()
    assert SECRET not in html
    tag = re.search(r'<input[^>]*name="auth_password"[^>]*>', html).group(0)
    assert 'type="password"' in tag
    assert "value=" not in tag


def test_it_keeps_the_password_when_the_field_is_left_empty(client, root, node):
    r = client.post(_change_url(node), _form(node, capacity=3))

    assert r.status_code == 302
    node.refresh_from_db()
    assert node.capacity == 3  # the form was saved...
    assert node.auth_password == SECRET  # ...and the empty field changed nothing


def test_it_replaces_the_password(client, root, node):
    r = client.post(_change_url(node), _form(node, auth_password="new-password"))

    assert r.status_code == 302
    node.refresh_from_db()
    assert node.auth_password == "new-password"


def test_it_removes_the_password(client, root, node):
    r = client.post(_change_url(node), _form(node, clear_password="on"))

    assert r.status_code == 302
    node.refresh_from_db()
    assert (node.auth_user, node.auth_password) == ("u", "")


def test_it_stores_the_password_of_a_new_node(client, root):
    data = _form(Node(name="gpu3", url="http://10.0.0.13:7860", auth_user="u"), auth_password="p3")

    r = client.post(reverse("admin:cluster_node_add"), data)

    assert r.status_code == 302
    assert Node.objects.get(name="gpu3").auth == ("u", "p3")


@pytest.mark.parametrize(
    "action, field, before, after, message",
    [
        ("disable", "enabled", True, False, "2 nodes disabled."),
        ("enable", "enabled", False, True, "2 nodes enabled."),
        ("drain", "draining", False, True, "2 nodes draining."),
        ("undrain", "draining", True, False, "2 nodes take jobs again."),
    ],
)
def test_it_runs_the_action_on_the_selected_nodes(client, root, action, field, before, after, message):
    a, b, c = (Node.objects.create(name=f"gpu{i}", url=f"http://10.0.0.{i}:7860", **{field: before}) for i in range(3))

    r = client.post(CHANGELIST, {"action": action, "_selected_action": [a.pk, b.pk]}, follow=True)

    assert r.status_code == 200
    assert message in _messages(r)
    values = dict(Node.objects.values_list("name", field))
    assert values == {"gpu0": after, "gpu1": after, "gpu2": before}


def test_it_checks_the_selected_nodes_now(client, root, sdnodes):
    (sim,) = sdnodes(1)
    live = Node.objects.create(name="live", url=sim.url)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    dead = Node.objects.create(name="dead", url=closed)
    untouched = Node.objects.create(name="untouched", url=sim.url)

    r = client.post(CHANGELIST, {"action": "check_now", "_selected_action": [live.pk, dead.pk]}, follow=True)

    assert r.status_code == 200
    live.refresh_from_db()
    dead.refresh_from_db()
    untouched.refresh_from_db()
    assert live.state == Node.State.HEALTHY and live.model_titles()
    assert dead.failures == 1
    assert untouched.last_check_at is None
    messages = _messages(r)
    assert f"live is healthy ({live.latency_ms} ms)." in messages
    assert any(m.startswith("dead failed: GET /sdapi/v1/progress:") for m in messages)


def test_it_refuses_a_user_who_is_not_staff(client, alice, node):
    client.force_login(alice)

    r = client.get(CHANGELIST)
    assert r.status_code == 302
    assert r.url == f"{reverse('admin:login')}?next={CHANGELIST}"

    r = client.post(CHANGELIST, {"action": "disable", "_selected_action": [node.pk]})
    assert r.status_code == 302
    assert Node.objects.get(pk=node.pk).enabled

    r = client.get(_change_url(node))
    assert r.status_code == 302
    assert SECRET not in r.content.decode()
