"""`make run`'s last step, end to end: the embedded default (SQLite, SQLite
channel layer, ORM broker) starts web, worker and two simulated nodes,
generates an image, and stops every child on Ctrl-C."""

import sqlite3
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.live import LivePlatform


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


def _generate_an_image(site: LivePlatform) -> None:
    """Sign in, submit a job through the site and get its PNG: web, worker and nodes together."""
    site.create_user("dora", "e2e-password-1")
    session = requests.Session()
    session.get(f"{site.base}/accounts/login/", timeout=5)
    r = session.post(
        f"{site.base}/accounts/login/",
        data={"login": "dora", "password": "e2e-password-1", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{site.base}/accounts/login/"},
        timeout=10,
    )
    assert r.status_code == 200 and "/generate/" in r.url, r.text[:500]
    r = session.post(
        f"{site.base}/jobs/",
        data={"prompt": "a red fox", "model": "v1-5-pruned-emaonly", "sampler_name": "Euler a", "steps": 5,
              "cfg_scale": 7, "width": 64, "height": 64, "batch_size": 1, "n_iter": 1, "seed": 42},
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{site.base}/generate/"},
        timeout=10,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    job_url = f"{site.base}/jobs/{r.json()['job']}/"

    def finished():
        state = session.get(job_url, timeout=5).json()
        return state if state["status"] in ("succeeded", "failed", "cancelled", "expired") else None

    state = _wait_for(finished, 60, "the job to finish")
    assert state["status"] == "succeeded", state
    [image] = state["images"]
    assert image["seed"] == 42
    r = session.get(f"{site.base}{image['url']}", timeout=5)
    assert r.status_code == 200
    assert r.content.startswith(b"\x89PNG")


def test_it_serves_pages_runs_tasks_and_stops_every_child(tmp_path):
    with LivePlatform(tmp_path) as site:
        r = requests.get(f"{site.base}/healthz", timeout=5)
        assert r.status_code == 200, r.text
        assert r.json()["database"]["vendor"] == "sqlite"
        assert r.json()["channel_layer"] == {**r.json()["channel_layer"], "ok": True, "backend": "channels_lite.layers.core.SQLiteChannelLayer"}

        r = requests.get(f"{site.base}/", timeout=5)
        assert r.status_code == 200
        assert "sdplatform" in r.text
        assert requests.get(f"{site.base}/static/css/site.css", timeout=5).status_code == 200

        # The worker picks a task from the ORM broker and stores its result.
        site.manage("shell", "-c", "from django_q.tasks import async_task; async_task('math.floor', 2.5)")

        def task_done():
            with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
                return conn.execute("SELECT success FROM django_q_task WHERE func = 'math.floor'").fetchone()

        assert _wait_for(task_done, 30, "the worker to run a task") == (1,)
        assert len(_processes_using(tmp_path)) >= 5  # runlocal, daphne, qcluster (+ its workers), 2 nodes
        _generate_an_image(site)
        proc = site.proc
    assert proc.returncode == 0, site.output()
    _wait_for(lambda: not _processes_using(tmp_path), 10, "every child to exit")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{site.base}/healthz", timeout=2)
