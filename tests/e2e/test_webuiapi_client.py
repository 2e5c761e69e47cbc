"""The PyPI `webuiapi` client, written for one A1111 node, against the whole platform:
`manage.py runlocal` (daphne, the django-q2 worker and two simulated nodes) on the embedded default."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import webuiapi
from django.conf import settings

from cluster.simulator import DEFAULT_MODELS, Model

# What `make setup` does, plus a user, in one process: each Django start costs seconds on a small machine.
SETUP = (
    "from django.core.management import call_command;"
    "call_command('migrate', interactive=False, verbosity=0);"
    "call_command('migrate', database='channels', interactive=False, verbosity=0);"
    "call_command('sync_schedules', verbosity=0);"
    "from accounts.models import User; from allauth.account.models import EmailAddress;"
    "u = User.objects.create_user('dora', 'dora@example.org', 'e2e-password-1');"
    "EmailAddress.objects.create(user=u, email=u.email, verified=True, primary=True)"
)


@pytest.fixture
def platform(tmp_path):
    """runlocal on free ports in a fresh DATA_DIR; yields (port, first node's port, env) and stops every child."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    env.update(DEBUG="True", DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    _manage(env, "shell", "-c", SETUP)
    port, node_port = _free_port(), _free_port()
    log = (tmp_path / "runlocal.log").open("w+")
    command = ["runlocal", "--port", str(port), "--nodes", "2", "--node-port", str(node_port)]
    proc = subprocess.Popen([sys.executable, "manage.py", *command], env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT)

    def ready():
        # The nodes are registered once runlocal says so; then wait for daphne to answer.
        # (Not /healthz: polling it breaks the SQLite channel layer's check after the first call.)
        assert proc.poll() is None, Path(log.name).read_text()
        if "is running on" not in Path(log.name).read_text():
            return False
        try:
            return requests.get(f"http://127.0.0.1:{port}/sdapi/v1/scripts", timeout=5).status_code == 401
        except requests.ConnectionError:
            return False

    try:
        _wait_for(ready, 60, "runlocal to start")
        yield port, node_port, env
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        assert code == 0, Path(log.name).read_text()
        _wait_for(lambda: not _processes_using(tmp_path), 10, "every child to exit")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_using(data_dir: Path) -> list[int]:
    marker = f"DATA_DIR={data_dir}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "environ").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], env=env, cwd=settings.BASE_DIR, check=True, capture_output=True, text=True, timeout=120)
    return done.stdout


def _seed(image) -> int:
    return int(re.search(r"\bSeed: (\d+)", image.info["parameters"]).group(1))


def test_the_webuiapi_client_works_against_the_cluster(platform):
    port, node_port, env = platform
    token = _manage(env, "createtoken", "dora").strip()
    api = webuiapi.WebUIApi(host="127.0.0.1", port=port, username="dora", password=token)

    assert [m["title"] for m in api.get_sd_models()] == sorted(Model(name).title for name in DEFAULT_MODELS)

    result = api.txt2img(prompt="a red fox", steps=5, width=64, height=64, batch_size=2)
    assert len(result.images) == 2
    assert all(image.size == (64, 64) for image in result.images)
    assert result.info["all_seeds"] == [_seed(image) for image in result.images]

    result = api.img2img(images=[result.image], prompt="a blue fox", steps=5, width=64, height=64, denoising_strength=0.5)
    assert len(result.images) == 1
    assert result.info["extra_generation_params"] == {"Denoising strength": 0.5}

    # A long run in another thread (own session): its progress shows, and interrupt ends it early with 200.
    answer: dict = {}

    def long_run() -> None:
        other = webuiapi.WebUIApi(host="127.0.0.1", port=port, username="dora", password=token)
        try:
            answer["result"] = other.txt2img(prompt="a slow fox", steps=50, width=64, height=64)  # 5 s on runlocal's nodes
        except RuntimeError as e:  # webuiapi's way of saying "not 200"
            answer["error"] = e

    thread = threading.Thread(target=long_run)
    started = time.monotonic()
    thread.start()
    progress = _wait_for(lambda: (p := api.get_progress())["state"]["sampling_step"] > 0 and p, 30, "the node to sample")
    assert progress["progress"] > 0 and progress["state"]["job_count"] == 1
    assert api.interrupt() == {}
    thread.join(30)
    assert "result" in answer, answer
    assert time.monotonic() - started < 5
    interrupted = [requests.get(f"http://127.0.0.1:{p}/_sim/state", timeout=5).json()["jobs_interrupted"] for p in (node_port, node_port + 1)]
    assert sum(interrupted) == 1  # the run was stopped on its node, not just taken off the queue
    assert api.get_progress()["state"]["job_count"] == 0
