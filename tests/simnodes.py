"""pytest plugin with the `sdnodes` fixture: simulated A1111 nodes in subprocesses.

    def test_it_dispatches(sdnodes):
        a, b = sdnodes(2, step_seconds=0.02)
        b.control(fail_rate=1)
        ...

Each node is `manage.py sdnode` on a free port, so a test can kill one mid-job like a real
node; all are stopped when the test ends.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


class SimNode:
    """One `manage.py sdnode` subprocess; its output goes to a log file shown on failure."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.args = args
        self.log = log
        self.port = 0  # 0 until started: the node picks a free port and prints it
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self, **faults: Any) -> dict[str, Any]:
        """POST /_sim/control, e.g. control(fail_rate=1) or control(stall_at_step=3)."""
        r = requests.post(f"{self.url}/_sim/control", json=faults, timeout=5)
        r.raise_for_status()
        return r.json()

    def state(self) -> dict[str, Any]:
        """GET /_sim/state: job counters, loaded model, requests per path."""
        r = requests.get(f"{self.url}/_sim/state", timeout=5)
        r.raise_for_status()
        return r.json()

    def kill(self) -> None:
        """SIGKILL: the node vanishes mid-whatever, connections reset."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def restart(self) -> None:
        """Start again on the same port, as a node coming back after a crash."""
        self.stop()
        self.spawn()
        self.wait_ready(time.monotonic() + START_TIMEOUT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[self._log_start :] if self.log.exists() else ""

    def spawn(self) -> None:
        self._log_start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "sdnode", "--port", str(self.port), *self.args],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, deadline: float) -> None:
        """Wait for the "listening on" line, then for /internal/ping to answer."""
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"sdnode exited with {self.proc.returncode}:\n{self.output()}")
            match = LISTENING.search(self.output())
            if match:
                self.port = int(match.group(1))
                try:
                    if requests.get(f"{self.url}/internal/ping", timeout=1).ok:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"sdnode did not answer within {START_TIMEOUT:g} s:\n{self.output()}")


StartNodes = Callable[..., list[SimNode]]


@pytest.fixture
def sdnodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartNodes]:
    """A factory: sdnodes(count=1, *, step_seconds=0.02, models=None, auth=None, vram_gb=None,
    fail_rate=0.0, hang_rate=0.0, model_load_seconds=0.1) -> list[SimNode].
    The defaults keep tests fast; models=None means the simulator's default pair."""
    logs = tmp_path_factory.mktemp("sdnodes")
    started: list[SimNode] = []

    def start(
        count: int = 1,
        *,
        step_seconds: float = 0.02,
        models: Sequence[str] | None = None,
        auth: str | None = None,
        vram_gb: float | None = None,
        fail_rate: float = 0.0,
        hang_rate: float = 0.0,
        model_load_seconds: float = 0.1,
    ) -> list[SimNode]:
        nodes = []
        for _ in range(count):
            name = f"sim{len(started)}"
            args = [
                "--name", name,
                "--step-seconds", str(step_seconds),
                "--fail-rate", str(fail_rate),
                "--hang-rate", str(hang_rate),
                "--model-load-seconds", str(model_load_seconds),
            ]  # fmt: skip
            if models is not None:
                args += ["--models", ",".join(models)]
            if auth is not None:
                args += ["--auth", auth]
            if vram_gb is not None:
                args += ["--vram-gb", str(vram_gb)]
            node = SimNode(args, logs / f"{name}.log")
            node.spawn()  # all start in parallel, then we wait for each
            started.append(node)
            nodes.append(node)
        deadline = time.monotonic() + START_TIMEOUT
        for node in nodes:
            node.wait_ready(deadline)
        return nodes

    yield start
    for node in started:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGTERM)
    for node in started:
        node.stop()


@pytest.fixture
def cluster(sdnodes: StartNodes):
    """cluster(n, capacity=1, **simulator options) → [(Node, SimNode)], registered, checked and healthy."""
    from cluster.health import check_nodes
    from cluster.models import Node

    def start(count: int = 1, *, capacity: int = 1, **options: Any) -> list[tuple[Node, SimNode]]:
        sims = sdnodes(count, **options)
        nodes = [Node.objects.create(name=f"node{i}-{sim.port}", url=sim.url, capacity=capacity) for i, sim in enumerate(sims)]
        check_nodes(nodes)
        for node in nodes:
            node.refresh_from_db()
            assert node.state == Node.State.HEALTHY, node.last_error
        return list(zip(nodes, sims))

    return start
