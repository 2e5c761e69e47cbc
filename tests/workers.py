"""pytest plugin: run the worker's tasks in threads of the test process, and wait for things."""

import threading
import time

import pytest
from django.db import connection

from generation import dispatch, tasks
from generation.models import Job


class InlineWorker:
    """Stands in for django-q2 workers: each task the dispatcher enqueues runs in a thread here.

    ``hold=True`` keeps the tasks in a list instead, for tests that look at
    assignments before anything runs.
    """

    def __init__(self, hold: bool = False):
        self.hold = hold
        self.held: list[tuple[int, str]] = []
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def enqueue(self, job: Job) -> None:
        if self.hold:
            self.held.append((job.pk, str(job.lease_token)))
            return
        self.start(job.pk, str(job.lease_token))

    def start(self, job_id: int, token: str) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(job_id, token), daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def release(self) -> None:
        held, self.held, self.hold = self.held, [], False
        for job_id, token in held:
            self.start(job_id, token)

    def _run(self, job_id: int, token: str) -> None:
        try:
            tasks.run_job(job_id, token)
        except BaseException as e:  # surfaced by wait()
            self.errors.append(e)
        finally:
            connection.close()

    def wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            alive = [t for t in self.threads if t.is_alive()]
            if not alive:
                break
            assert time.monotonic() < deadline, f"{len(alive)} task(s) still running after {timeout} s"
            alive[0].join(0.05)
        assert not self.errors, self.errors


@pytest.fixture
def worker(monkeypatch):
    w = InlineWorker()
    monkeypatch.setattr(dispatch, "_start_task", w.enqueue)
    yield w
    w.hold = False
    w.wait(timeout=60)


def wait_for(predicate, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
