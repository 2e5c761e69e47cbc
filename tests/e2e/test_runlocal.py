"""`make run`'s last step, end to end: the embedded default (SQLite, SQLite
channel layer, ORM broker) starts web + worker, answers, and stops cleanly."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings


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


@pytest.fixture
def embedded_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    env.update(DEBUG="True", DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    manage = [sys.executable, "manage.py"]
    for args in (["migrate", "--noinput"], ["migrate", "--database", "channels", "--noinput"], ["sync_schedules"]):
        subprocess.run([*manage, *args], env=env, cwd=settings.BASE_DIR, check=True, capture_output=True, timeout=120)
    return env


def _generate_an_image(base: str, env: dict[str, str]) -> None:
    """Sign in, submit a job through the site and get its PNG: web, worker and nodes together."""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CREATE_USER],
        env=env,
        cwd=settings.BASE_DIR,
        check=True,
        capture_output=True,
        timeout=60,
    )
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=5)
    r = session.post(
        f"{base}/accounts/login/",
        data={"login": "dora", "password": "e2e-password-1", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=10,
    )
    assert r.status_code == 200 and "/generate/" in r.url, r.text[:500]
    r = session.post(
        f"{base}/jobs/",
        data={"prompt": "a red fox", "model": "v1-5-pruned-emaonly", "sampler_name": "Euler a", "steps": 5,
              "cfg_scale": 7, "width": 64, "height": 64, "batch_size": 1, "n_iter": 1, "seed": 42},
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{base}/generate/"},
        timeout=10,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    job_url = f"{base}/jobs/{r.json()['job']}/"

    def finished():
        state = session.get(job_url, timeout=5).json()
        return state if state["status"] in ("succeeded", "failed", "cancelled", "expired") else None

    state = _wait_for(finished, 60, "the job to finish")
    assert state["status"] == "succeeded", state
    [image] = state["images"]
    assert image["seed"] == 42
    r = session.get(f"{base}{image['url']}", timeout=5)
    assert r.status_code == 200
    assert r.content.startswith(b"\x89PNG")


CREATE_USER = (
    "from accounts.models import User; from allauth.account.models import EmailAddress;"
    "u = User.objects.create_user('dora', 'dora@example.org', 'e2e-password-1');"
    "EmailAddress.objects.create(user=u, email=u.email, verified=True, primary=True)"
)


def test_it_serves_pages_runs_tasks_and_stops_every_child(embedded_env, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "runlocal.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runlocal", "--port", str(port), "--nodes", "2", "--node-port", str(_free_port())],
        env=embedded_env,
        cwd=settings.BASE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def healthy():
            try:
                return requests.get(f"{base}/healthz", timeout=5)
            except requests.ConnectionError:
                assert proc.poll() is None, Path(log.name).read_text()
                return None

        r = _wait_for(healthy, 60, "/healthz")
        assert r.status_code == 200, r.text
        assert r.json()["database"]["vendor"] == "sqlite"
        assert r.json()["channel_layer"]["backend"] == "channels_lite.layers.core.SQLiteChannelLayer"
        assert r.json()["channel_layer"]["ok"] is True

        r = requests.get(f"{base}/", timeout=5)
        assert r.status_code == 200
        assert "sdplatform" in r.text
        assert requests.get(f"{base}/static/css/site.css", timeout=5).status_code == 200

        # The worker picks a task from the ORM broker and stores its result.
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", "from django_q.tasks import async_task; async_task('math.floor', 2.5)"],
            env=embedded_env,
            cwd=settings.BASE_DIR,
            check=True,
            capture_output=True,
            timeout=60,
        )
        db = tmp_path / "db.sqlite3"

        def task_done():
            with sqlite3.connect(db) as conn:
                return conn.execute("SELECT success FROM django_q_task WHERE func = 'math.floor'").fetchone()

        assert _wait_for(task_done, 30, "the worker to run a task") == (1,)
        assert len(_processes_using(tmp_path)) >= 5  # runlocal, daphne, qcluster (+ its workers), 2 nodes

        _generate_an_image(base, embedded_env)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, Path(log.name).read_text()
    _wait_for(lambda: not _processes_using(tmp_path), 10, "every child to exit")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)
