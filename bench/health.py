"""Benchmark health checks: a pass over N nodes should take about as long as the slowest node.

    DEBUG=True .venv/bin/python bench/health.py [--nodes 8] [--dead 2] [--timeout 2] [--passes 5]

Starts N simulated nodes (real HTTP servers) plus D addresses that accept
connections and never answer, and prints the time of each check pass.
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sdplatform.settings")
os.environ.setdefault("DEBUG", "True")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="sdp-bench-"))


def start_node(name: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "sdnode", "--port", "0", "--name", name],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = proc.stdout.readline()
    port = re.search(r":(\d+)", line).group(1)
    return proc, f"http://127.0.0.1:{port}"


def black_hole() -> str:
    """A port that accepts connections and never answers, like a hung webui."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in iter(int, 1)], daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--dead", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from cluster.health import check_nodes
    from cluster.models import Node

    settings.NODE_CHECK_TIMEOUT = args.timeout
    Node.objects.all().delete()
    print(f"starting {args.nodes} simulated nodes and {args.dead} unresponsive ones …", flush=True)
    procs = []
    try:
        for i in range(args.nodes):
            proc, url = start_node(f"bench{i}")
            procs.append(proc)
            Node.objects.create(name=f"live{i}", url=url)
        for i in range(args.dead):
            Node.objects.create(name=f"dead{i}", url=black_hole())
        times = []
        for n in range(args.passes):
            started = time.perf_counter()
            probes = check_nodes()
            elapsed = time.perf_counter() - started
            times.append(elapsed)
            ok = sum(p.ok for p in probes)
            print(f"pass {n + 1}: {elapsed:6.2f} s  ({ok} healthy, {len(probes) - ok} failed)")
        print(
            f"median pass {statistics.median(times):.2f} s for {args.nodes + args.dead} nodes "
            f"(one check timeout is {args.timeout:.1f} s; sequential checks would take ≥ {args.dead * args.timeout:.1f} s "
            "for the unresponsive ones alone)"
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


if __name__ == "__main__":
    main()
