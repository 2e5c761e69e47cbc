"""Benchmark the dispatcher: how long one pass takes with a long queue.

    DEBUG=True .venv/bin/python bench/dispatch.py [--jobs 2000] [--users 50] [--nodes 20] [--capacity 2]

Runs on a throwaway SQLite database (or DATABASE_URL if set, e.g. a scratch
MariaDB database) and prints the time of the first pass (fills every slot),
of a pass with nothing free, and of passes that each place one job after
one finishes — the steady state of a busy cluster.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sdplatform.settings")
os.environ.setdefault("DEBUG", "True")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="sdp-bench-"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--capacity", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from accounts.models import User
    from cluster.models import Node
    from generation import dispatch as dispatch_module
    from generation.models import Job

    dispatch_module._start_task = lambda job: None  # measure the database work, not the broker
    Job.objects.all().delete()
    Node.objects.all().delete()
    models = [{"title": "v1-5-pruned-emaonly.safetensors [6ce0161689]"}, {"title": "sd_xl_base_1.0.safetensors [31e35c80fc]"}]
    for i in range(args.nodes):
        Node.objects.create(
            name=f"bench{i}", url=f"http://127.0.0.1:{20000 + i}", capacity=args.capacity, state=Node.State.HEALTHY,
            models_available=models, model_loaded=models[i % 2]["title"],
        )  # fmt: skip
    users = [User.objects.get_or_create(username=f"bench{i}")[0] for i in range(args.users)]
    print(f"queueing {args.jobs} jobs from {args.users} users for {args.nodes} nodes × {args.capacity} slots …", flush=True)
    Job.objects.bulk_create(
        Job(owner=users[i % len(users)], prompt="bench", model=models[i % 2]["title"], width=512, height=512)
        for i in range(args.jobs)
    )

    started = time.perf_counter()
    assigned = dispatch_module.dispatch()
    first = time.perf_counter() - started
    print(f"first pass:     {first * 1000:8.1f} ms, assigned {len(assigned)} jobs")

    started = time.perf_counter()
    dispatch_module.dispatch()
    print(f"full cluster:   {(time.perf_counter() - started) * 1000:8.1f} ms (no free slot)")

    times = []
    for _ in range(args.rounds):
        running = Job.objects.filter(status=Job.Status.ASSIGNED).order_by("?").first()
        Job.objects.filter(pk=running.pk).update(status=Job.Status.SUCCEEDED)
        started = time.perf_counter()
        placed = dispatch_module.dispatch()
        times.append(time.perf_counter() - started)
        assert len(placed) == 1, placed
    print(
        f"one slot freed: median {statistics.median(times) * 1000:6.1f} ms, "
        f"p95 {sorted(times)[int(len(times) * 0.95) - 1] * 1000:6.1f} ms over {args.rounds} passes"
    )


if __name__ == "__main__":
    main()
