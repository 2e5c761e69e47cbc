import signal
import threading
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cluster.simulator import DEFAULT_MODELS, SimulatedNode


class Command(BaseCommand):
    help = "Run a simulated A1111 node (the webui HTTP API, fake images) until SIGTERM or SIGINT."
    # The simulator needs no database; skipping the checks makes it start faster.
    requires_system_checks: list[str] = []

    stopping = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=7861, help="port to listen on; 0 picks a free one (default 7861)")
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        parser.add_argument("--name", default="sdnode", help="name shown in /_sim/state")
        parser.add_argument("--step-seconds", type=float, default=0.05, help="seconds per sampling step per image")
        parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated checkpoint file names")
        parser.add_argument("--auth", default=None, help="user:pass[,user2:pass2] for HTTP Basic on /sdapi/v1/*")
        parser.add_argument("--vram-gb", type=float, default=8.0, help="GPU memory reported by /memory")
        parser.add_argument("--fail-rate", type=float, default=0.0, help="chance that a generation answers 500")
        parser.add_argument("--hang-rate", type=float, default=0.0, help="chance that a generation never answers")
        parser.add_argument("--model-load-seconds", type=float, default=0.5, help="time to switch checkpoints")

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def handle(self, **options: Any) -> None:
        models = [m.strip() for m in options["models"].split(",") if m.strip()]
        node = SimulatedNode(
            options["port"],
            host=options["host"],
            name=options["name"],
            step_seconds=options["step_seconds"],
            models=models,
            auth=options["auth"],
            vram_gb=options["vram_gb"],
            fail_rate=options["fail_rate"],
            hang_rate=options["hang_rate"],
            model_load_seconds=options["model_load_seconds"],
        )
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        # Serve from a thread: the main thread must stay free to run the signal handlers.
        threading.Thread(target=node.serve_forever, name="sdnode-server", daemon=True).start()
        self.stdout.write(f"sdnode listening on {node.url} (models: {', '.join(models)})")
        self.stdout.flush()  # whoever started us waits for this line
        while not self.stopping:
            time.sleep(0.1)
        node.shutdown()
        self.stdout.write("sdnode stopped")
