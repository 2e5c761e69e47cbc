"""A real django-q2 worker is killed with SIGKILL mid-job; the reclaimer and a new worker finish the job."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from generation.models import Job
from generation.tasks import keep_jobs_moving
from tests.workers import wait_for
from tests.generation.helpers import submit

pytestmark = pytest.mark.django_db(transaction=True)

LEASE_SECONDS = 4


def _database_url() -> str:
    """The test database, for worker processes started by the test."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}"


@pytest.fixture
def qcluster(tmp_path, settings):
    settings.JOB_LEASE_SECONDS = LEASE_SECONDS
    env = {
        **os.environ,
        "DEBUG": "True",
        "DATA_DIR": str(tmp_path),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "JOB_PROGRESS_POLL_SECONDS": "0.2",
        "Q_WORKERS": "1",
    }
    # The worker's own channel layer (Redis, or SQLite under DATA_DIR) must exist.
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--database", "channels", "-v0"],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        timeout=60,
    )
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        log = open(tmp_path / f"qcluster{len(started)}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so one signal reaches all its processes
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def test_a_job_survives_its_worker_being_killed(alice, cluster, qcluster):
    alice.quota_exempt = True  # a long job, beyond the default plan's step limit
    alice.save()
    [(node, sim)] = cluster(1, step_seconds=0.1)
    first = qcluster()
    job = submit(alice, steps=100)  # about 10 s on this node
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Job.Status.RUNNING, timeout=30, what="the worker to start the job")
    wait_for(lambda: sim.state()["jobs_in_progress"], what="the node to generate")

    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(LEASE_SECONDS + 1)  # the dead worker renews nothing
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING

    keep_jobs_moving()  # what the schedule runs: reclaim, then dispatch to a worker
    reclaimed = Job.objects.get(pk=job.pk)
    assert reclaimed.status in (Job.Status.QUEUED, Job.Status.ASSIGNED)
    assert sim.state()["jobs_interrupted"] == 1  # the dead worker's generation was stopped

    qcluster()
    wait_for(lambda: Job.objects.get(pk=job.pk).is_final(), timeout=60, what="a new worker to finish the job")
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert job.images.count() == 1
