"""Run the whole platform in the foreground: web server, worker and simulated
SD nodes, stopping every child on Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from cluster.health import check_nodes
from cluster.models import Node

NODE_START_TIMEOUT = 30


class Command(BaseCommand):
    help = "Run daphne (HTTP + websockets), the django-q2 worker and simulated SD nodes until Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--nodes", type=int, default=int(os.environ.get("SIM_NODES", "2")), help="simulated nodes to start (0 for none)")
        parser.add_argument("--node-port", type=int, default=int(os.environ.get("SIM_NODE_PORT", "7861")), help="port of the first simulated node")

    def handle(self, *args, host: str, port: int, nodes: int, node_port: int, **options) -> None:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        commands = {
            "web": [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "sdplatform.asgi:application"],
            "worker": [*manage, "qcluster"],
        }
        node_urls = {}
        for i in range(nodes):
            name, sim_port = f"sim{i + 1}", node_port + i
            commands[name] = [*manage, "sdnode", "--port", str(sim_port), "--name", name, "--step-seconds", "0.1"]
            node_urls[name] = f"http://127.0.0.1:{sim_port}"
        children = {name: subprocess.Popen(cmd, cwd=settings.BASE_DIR) for name, cmd in commands.items()}

        stopping = False

        def request_stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        if node_urls:
            self._register(node_urls)
        self.stdout.write(f"sdplatform is running on http://{host}:{port}/  (Ctrl-C stops everything)")
        self.stdout.flush()

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

    def _register(self, node_urls: dict[str, str]) -> None:
        """Register the simulated nodes and check them once, so jobs can run right away
        instead of after the worker's first scheduled health check."""
        deadline = time.monotonic() + NODE_START_TIMEOUT
        for name, url in node_urls.items():
            while time.monotonic() < deadline:
                try:
                    requests.get(f"{url}/internal/ping", timeout=1).raise_for_status()
                    break
                except requests.RequestException:
                    time.sleep(0.2)
            call_command("addnode", name, url, stdout=self.stdout)
        check_nodes(list(Node.objects.filter(name__in=node_urls)))

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
