"""The staff-only node monitor: the page and the JSON it polls."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cluster.models import Node, NodeCheck

pytestmark = pytest.mark.django_db

MONITOR = reverse("cluster:monitor")
DATA = reverse("cluster:monitor-data")


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_user("staff", "staff@example.org", "password", is_staff=True)
    client.force_login(user)
    return user


def _checks(node: Node, *rows: tuple[float, bool, int | None, int]) -> None:
    """rows: (minutes ago, ok, latency_ms, images_done at that check)."""
    now = timezone.now()
    for minutes, ok, latency_ms, images_done in rows:
        NodeCheck.objects.create(
            node=node,
            checked_at=now - timedelta(minutes=minutes),
            ok=ok,
            latency_ms=latency_ms,
            images_done=images_done,
            error="" if ok else "GET /sdapi/v1/progress: [Errno 111] Connection refused",
        )


def _by_name(r) -> dict[str, dict]:
    return {n["name"]: n for n in r.json()["nodes"]}


def test_it_lists_the_nodes(client, staff):
    Node.objects.create(name="gpu-alpha", url="http://10.0.0.11:7860", state=Node.State.HEALTHY)
    Node.objects.create(name="gpu-beta", url="http://10.0.0.12:7860", state=Node.State.UNHEALTHY)

    r = client.get(MONITOR)

    assert r.status_code == 200
    assert [n.name for n in r.context["nodes"]] == ["gpu-alpha", "gpu-beta"]
    html = r.content.decode()
    assert "gpu-alpha" in html and "gpu-beta" in html
    assert f'data-url="{DATA}"' in html
    assert "No nodes yet" not in html


def test_it_explains_how_to_add_the_first_node(client, staff):
    r = client.get(MONITOR)
    assert r.status_code == 200
    assert "No nodes yet" in r.content.decode()


def test_it_returns_each_nodes_state_and_recent_history(client, staff):
    node = Node.objects.create(
        name="gpu1", url="http://10.0.0.11:7860", state=Node.State.HEALTHY, latency_ms=42, images_done=30
    )
    # The 2 h old check is outside the hour the monitor looks at.
    _checks(node, (120, True, 5, 0), (50, True, 40, 10), (20, True, 45, 20), (1, False, None, 30))
    idle = Node.objects.create(name="gpu2", url="http://10.0.0.12:7860")

    r = client.get(DATA)

    assert r.status_code == 200
    assert r["Content-Type"] == "application/json"
    assert "no-cache" in r["Cache-Control"]
    nodes = _by_name(r)
    assert list(nodes) == ["gpu1", "gpu2"]
    gpu1 = nodes["gpu1"]
    assert (gpu1["state"], gpu1["latency_ms"], gpu1["available"]) == ("healthy", 42, True)
    assert [(h["ok"], h["latency_ms"]) for h in gpu1["history"]] == [(True, 40), (True, 45), (False, None)]
    ats = [h["at"] for h in gpu1["history"]]
    assert ats == sorted(ats), "history runs oldest first"
    # 20 images since the oldest check in the window, 50 minutes ago.
    assert gpu1["images_per_hour"] == 24.0
    gpu2 = nodes["gpu2"]
    assert (gpu2["state"], gpu2["latency_ms"], gpu2["history"], gpu2["images_per_hour"]) == ("unknown", None, [], None)
    assert gpu2["code"] == str(idle.code)


def test_it_sends_at_most_sixty_points_the_newest(client, staff):
    node = Node.objects.create(name="gpu1", url="http://10.0.0.11:7860")
    # A check every 30 s for the last 65: all inside the hour, 5 more than a chart shows.
    _checks(node, *[(n / 2, True, n, 0) for n in range(1, 66)])

    history = _by_name(client.get(DATA))["gpu1"]["history"]

    assert [h["latency_ms"] for h in history] == list(range(60, 0, -1))


@pytest.mark.parametrize("url", [MONITOR, DATA])
def test_it_refuses_users_who_are_not_staff(client, alice, url):
    Node.objects.create(name="gpu-secret", url="http://10.0.0.11:7860")
    client.force_login(alice)

    r = client.get(url)

    assert r.status_code == 302
    assert r.url == f"{reverse('admin:login')}?next={url}"
    assert b"gpu-secret" not in r.content


@pytest.mark.parametrize("url", [MONITOR, DATA])
def test_it_refuses_anonymous_visitors(client, url):
    r = client.get(url)
    assert r.status_code == 302
    assert r.url == f"{reverse('admin:login')}?next={url}"


def test_it_allows_only_get(client, staff):
    assert client.post(DATA).status_code == 405
    assert client.post(MONITOR).status_code == 405
