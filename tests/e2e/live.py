"""The whole platform as `make run` starts it, in a temporary data folder, for end-to-end tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings

# What `make setup` does, in one process: each Django start costs seconds on a small machine.
SETUP = (
    "from django.core.management import call_command;"
    "call_command('migrate', interactive=False, verbosity=0);"
    "call_command('migrate', database='channels', interactive=False, verbosity=0);"
    "call_command('sync_schedules', verbosity=0)"
)
CREATE_USER = (
    "import sys; from accounts.models import User; from allauth.account.models import EmailAddress;"
    "u = User.objects.create_user(sys.argv[1], sys.argv[1] + '@example.org', sys.argv[2], quota_exempt=True);"
    "EmailAddress.objects.create(user=u, email=u.email, verified=True, primary=True)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LivePlatform:
    """runlocal (daphne + django-q2 worker + simulated nodes) on free ports, SQLite under ``data_dir``."""

    def __init__(self, data_dir: Path, nodes: int = 2):
        self.data_dir = data_dir
        self.nodes = nodes
        self.port = free_port()
        self.node_port = free_port()  # the first simulated node's; the others follow it
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
        self.env.update(DEBUG="True", DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
        self.proc: subprocess.Popen | None = None

    def manage(self, *args: str, timeout: float = 120) -> str:
        r = subprocess.run(
            [sys.executable, "manage.py", *args],
            env=self.env,
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def create_user(self, username: str, password: str) -> None:
        self.manage("shell", "-c", CREATE_USER.replace("sys.argv[1]", repr(username)).replace("sys.argv[2]", repr(password)))

    def __enter__(self) -> "LivePlatform":
        self.manage("shell", "-c", SETUP)
        self.log = (self.data_dir / "runlocal.log").open("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runlocal", "--port", str(self.port), "--nodes", str(self.nodes), "--node-port", str(self.node_port)],
            env=self.env,
            cwd=settings.BASE_DIR,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                if requests.get(f"{self.base}/healthz", timeout=5).ok and "is running on" in self.output():
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.25)
        raise AssertionError(f"the platform did not start:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text()

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
