"""Health checks (cluster.health) against simulated nodes: observations, ejection, recovery, concurrency."""

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.utils import timezone

from cluster.health import check_nodes
from cluster.models import EJECT_AFTER_FAILURES, Node, NodeCheck
from cluster.signals import node_recovered

pytestmark = pytest.mark.django_db

GIB = 1024**3


@pytest.fixture
def recovered() -> Iterator[list[str]]:
    """Names of the nodes node_recovered was sent for, in order."""
    sent: list[str] = []

    def receiver(sender, node, **kwargs) -> None:
        sent.append(node.name)

    node_recovered.connect(receiver, weak=False, dispatch_uid="test-health-recovered")
    yield sent
    node_recovered.disconnect(dispatch_uid="test-health-recovered")


@pytest.fixture
def closed_url() -> str:
    """A local port nobody listens on: every connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that accepts connections and never answers, like a webui whose API thread hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.05)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:  # the accept timeout, so the loop sees stop
                continue
            held.append(conn)  # keep it open and say nothing

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def not_a_webui_url() -> Iterator[str]:
    """Some other JSON service on the node's port: every GET answers 200 with a JSON list."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _check(node: Node) -> Node:
    check_nodes()
    node.refresh_from_db()
    return node


def test_it_records_what_a_healthy_node_reports(sdnodes, recovered):
    (sim,) = sdnodes(1, models=["alpha.safetensors", "sub/beta.ckpt"], vram_gb=12)
    node = Node.objects.create(name="gpu1", url=sim.url)

    probes = check_nodes()

    assert [(p.node.pk, p.ok) for p in probes] == [(node.pk, True)]
    node.refresh_from_db()
    assert node.state == Node.State.HEALTHY
    assert node.failures == 0 and node.last_error == ""
    assert node.last_check_at is not None and node.last_ok_at == node.last_check_at
    assert node.latency_ms is not None and 0 <= node.latency_ms < 2000
    # The titles exactly as the node lists them, hashes included.
    titles = [m["title"] for m in requests.get(f"{sim.url}/sdapi/v1/sd-models", timeout=5).json()]
    assert node.model_titles() == titles
    assert node.model_keys() == {"alpha", "beta"}
    assert node.has_loaded("alpha.safetensors") and not node.has_loaded("beta")
    assert node.model_loaded == titles[0]
    assert node.samplers[0] == "DPM++ 2M" and "Euler a" in node.samplers
    assert node.vram_total == 12 * GIB
    assert 0 < node.vram_used < node.vram_total
    assert node.busy is False

    check = NodeCheck.objects.get(node=node)
    assert check.ok is True and check.error == ""
    assert check.latency_ms == node.latency_ms
    assert check.vram_used == node.vram_used
    # The first success counts as a recovery: queued jobs may go to the node at once.
    assert recovered == ["gpu1"]


def test_it_ejects_after_three_failures_and_readmits_on_the_next_success(sdnodes, recovered):
    (sim,) = sdnodes(1)
    node = Node.objects.create(name="gpu1", url=sim.url)
    assert _check(node).state == Node.State.HEALTHY
    assert _check(node).state == Node.State.HEALTHY
    assert recovered == ["gpu1"], "a healthy → healthy check is no recovery"

    sim.kill()
    for failures in range(1, EJECT_AFTER_FAILURES):
        _check(node)
        assert (node.state, node.failures) == (Node.State.HEALTHY, failures)
        assert "/sdapi/v1/progress" in node.last_error and "refused" in node.last_error
        assert Node.available().filter(pk=node.pk).exists()
    _check(node)
    assert (node.state, node.failures) == (Node.State.UNHEALTHY, EJECT_AFTER_FAILURES)
    assert not Node.available().filter(pk=node.pk).exists()
    _check(node)
    assert (node.state, node.failures) == (Node.State.UNHEALTHY, EJECT_AFTER_FAILURES + 1)
    assert node.last_ok_at < node.last_check_at
    assert recovered == ["gpu1"]

    sim.restart()
    _check(node)
    assert (node.state, node.failures, node.last_error) == (Node.State.HEALTHY, 0, "")
    assert Node.available().filter(pk=node.pk).exists()
    assert recovered == ["gpu1", "gpu1"]

    oks = list(NodeCheck.objects.filter(node=node).order_by("pk").values_list("ok", flat=True))
    assert oks == [True, True, False, False, False, False, True]
    assert all(c.error for c in NodeCheck.objects.filter(node=node, ok=False))


def test_it_announces_a_recovery_from_an_ejection_during_the_check(sdnodes, recovered):
    (sim,) = sdnodes(1)
    node = Node.objects.create(name="gpu1", url=sim.url)
    check_nodes()
    assert recovered == ["gpu1"]
    # A pass reads the nodes, then probes them for up to NODE_CHECK_TIMEOUT per call. Meanwhile
    # a worker's job fails on the node for the third time in a row and ejects it.
    loaded = list(Node.objects.filter(enabled=True))
    worker_copy = Node.objects.get(pk=node.pk)
    for _ in range(EJECT_AFTER_FAILURES):
        worker_copy.record_failure("Node gpu1 stopped making progress.")
    assert Node.objects.get(pk=node.pk).state == Node.State.UNHEALTHY

    check_nodes(loaded)

    assert Node.objects.get(pk=node.pk).state == Node.State.HEALTHY
    assert recovered == ["gpu1", "gpu1"], "re-admitted after an ejection without node_recovered"


def test_it_ejects_a_node_that_was_never_reached(closed_url, recovered):
    node = Node.objects.create(name="gpu1", url=closed_url)
    for failures in range(1, EJECT_AFTER_FAILURES):
        assert (_check(node).state, node.failures) == (Node.State.UNKNOWN, failures)
    assert (_check(node).state, node.failures) == (Node.State.UNHEALTHY, EJECT_AFTER_FAILURES)
    assert node.last_ok_at is None
    assert recovered == []


def test_it_fails_the_check_with_wrong_credentials(sdnodes):
    (sim,) = sdnodes(1, auth="u:p")
    wrong = Node.objects.create(name="wrong", url=sim.url, auth_user="u", auth_password="not-p")
    anonymous = Node.objects.create(name="anonymous", url=sim.url)
    right = Node.objects.create(name="right", url=sim.url, auth_user="u", auth_password="p")

    probes = {p.node.name: p for p in check_nodes()}

    assert probes["right"].ok and not probes["wrong"].ok and not probes["anonymous"].ok
    for node in (wrong, anonymous, right):
        node.refresh_from_db()
    # FastAPI's 401 details, as A1111 sends them.
    assert wrong.last_error == "Incorrect username or password"
    assert anonymous.last_error == "Not authenticated"
    assert (wrong.failures, anonymous.failures) == (1, 1)
    assert wrong.models_available == [] and wrong.latency_ms is None
    assert right.state == Node.State.HEALTHY and right.model_titles()
    assert NodeCheck.objects.get(node=wrong).error == "Incorrect username or password"


def test_it_checks_nodes_concurrently(silent_url, settings):
    settings.NODE_CHECK_TIMEOUT = 1
    for i in range(3):
        Node.objects.create(name=f"hung{i}", url=silent_url)

    started = time.monotonic()
    probes = check_nodes()
    elapsed = time.monotonic() - started

    # Each node times out after 1 s; checked one after another they would take 3 s.
    assert elapsed < 2.5, f"3 hung nodes took {elapsed:.1f} s"
    assert elapsed >= 0.9, "the checks did not wait for the timeout"
    assert [p.ok for p in probes] == [False, False, False]
    for node in Node.objects.all():
        assert node.failures == 1
        assert node.last_error == "GET /sdapi/v1/progress: no answer within 1 s"
    assert NodeCheck.objects.filter(ok=False).count() == 3


def test_it_fails_a_node_that_answers_something_else_and_checks_the_others(not_a_webui_url, closed_url):
    odd = Node.objects.create(name="odd", url=not_a_webui_url)
    down = Node.objects.create(name="down", url=closed_url)

    probes = {p.node.name: p for p in check_nodes()}

    # One misconfigured node must not abort the pass for every node.
    assert not probes["odd"].ok and not probes["down"].ok
    odd.refresh_from_db()
    down.refresh_from_db()
    assert (odd.failures, down.failures) == (1, 1)
    assert odd.last_error
    assert NodeCheck.objects.filter(ok=False).count() == 2


def test_it_prunes_checks_older_than_a_day(closed_url):
    node = Node.objects.create(name="gpu1", url=closed_url)
    now = timezone.now()
    old = NodeCheck.objects.create(node=node, ok=True, checked_at=now - timedelta(hours=24, minutes=1))
    older = NodeCheck.objects.create(node=node, ok=True, checked_at=now - timedelta(days=3))
    recent = NodeCheck.objects.create(node=node, ok=True, checked_at=now - timedelta(hours=23, minutes=59))

    assert NodeCheck.prune() == 2

    assert list(NodeCheck.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not NodeCheck.objects.filter(pk__in=[old.pk, older.pk]).exists()

    # Every pass prunes too.
    NodeCheck.objects.filter(pk=recent.pk).update(checked_at=now - timedelta(hours=25))
    check_nodes()
    assert list(NodeCheck.objects.values_list("ok", flat=True)) == [False]


def test_it_does_not_check_disabled_nodes(closed_url):
    enabled = Node.objects.create(name="on", url=closed_url)
    disabled = Node.objects.create(name="off", url=closed_url, enabled=False)

    probes = check_nodes()

    assert [p.node.pk for p in probes] == [enabled.pk]
    disabled.refresh_from_db()
    assert disabled.last_check_at is None and disabled.failures == 0
    assert not NodeCheck.objects.filter(node=disabled).exists()
    assert NodeCheck.objects.filter(node=enabled).count() == 1
