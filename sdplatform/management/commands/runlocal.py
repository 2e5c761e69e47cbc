"""Run the whole platform in the foreground: web server and worker (and, once
clusters exist, simulated nodes), stopping every child on Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run daphne (HTTP + websockets) and the django-q2 worker together until Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, host: str, port: int, **options) -> None:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        commands = {
            "web": [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "sdplatform.asgi:application"],
            "worker": [*manage, "qcluster"],
        }
        children = {name: subprocess.Popen(cmd, cwd=settings.BASE_DIR) for name, cmd in commands.items()}
        self.stdout.write(f"sdplatform is running on http://{host}:{port}/  (Ctrl-C stops everything)", ending="\n")
        self.stdout.flush()

        stopping = False

        def request_stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exit_code = 0
        while not stopping:
            time.sleep(0.2)
            exited = [name for name, child in children.items() if child.poll() is not None]
            # A Ctrl-C reaches the children too; only an exit nobody asked for is a failure.
            if exited and not stopping:
                self.stderr.write(f"{', '.join(exited)} exited on its own; stopping the others.")
                exit_code = 1
                stopping = True
        self._stop(children)
        sys.exit(exit_code)

    def _stop(self, children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop within 15 s; killing it.")
                child.kill()
                child.wait()
