"""Health checks of SD nodes: cheap status calls, all nodes at once."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from cluster.client import NodeClient, NodeError
from cluster.models import Node, NodeCheck

log = logging.getLogger(__name__)


@dataclass
class Probe:
    node: Node
    ok: bool
    latency_ms: int | None = None
    observed: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def probe(node: Node, timeout: float) -> Probe:
    """Ask one node how it is. Network only, no database: runs in a thread."""
    try:
        with NodeClient(node.url, node.auth, connect_timeout=timeout, status_timeout=timeout) as client:
            started = time.monotonic()
            progress = client.progress(skip_current_image=True)
            latency_ms = round((time.monotonic() - started) * 1000)
            memory = client.memory()
            models = client.sd_models()
            samplers = client.samplers()
            options = client.get_options()
    except NodeError as e:
        return Probe(node, ok=False, error=e.message)
    try:
        return _healthy_probe(node, latency_ms, progress, memory, models, samplers, options)
    except (AttributeError, TypeError, KeyError, ValueError) as e:
        # Not an A1111 API (a proxy's page, another service on the port): fail this node only.
        return Probe(node, ok=False, error=f"unexpected answer from the node: {e!r}")


def _healthy_probe(node: Node, latency_ms: int, progress, memory, models, samplers, options) -> Probe:
    cuda = memory.get("cuda", {}).get("system", {})
    busy = progress.get("state", {}).get("job_count", 0) != 0
    return Probe(
        node,
        ok=True,
        latency_ms=latency_ms,
        observed={
            "latency_ms": latency_ms,
            "models_available": [_model_summary(m) for m in models],
            "samplers": [s["name"] for s in samplers if "name" in s],
            "model_loaded": options.get("sd_model_checkpoint") or "",
            "vram_used": cuda.get("used"),
            "vram_total": cuda.get("total"),
            "busy": busy,
            "progress": float(progress.get("progress") or 0.0) if busy else 0.0,
        },
    )


def _model_summary(model: dict[str, Any]) -> dict[str, Any]:
    return {key: model.get(key) for key in ("title", "model_name", "hash", "sha256", "filename")}


def check_nodes(nodes: list[Node] | None = None) -> list[Probe]:
    """Check every enabled node concurrently, so a pass takes as long as the slowest node.

    The probes run in threads; the results are written from this thread, so
    no database connection is opened per thread.
    """
    if nodes is None:
        nodes = list(Node.objects.filter(enabled=True))
    if not nodes:
        return []
    timeout = settings.NODE_CHECK_TIMEOUT
    with ThreadPoolExecutor(max_workers=min(16, len(nodes))) as pool:
        probes = list(pool.map(lambda node: probe(node, timeout), nodes))
    for result in probes:
        node = result.node
        if result.ok:
            node.record_success(result.observed)
        else:
            log.info("node %s failed its health check: %s", node.name, result.error)
            node.record_failure(result.error)
        NodeCheck.objects.create(
            node=node,
            ok=result.ok,
            latency_ms=result.latency_ms,
            vram_used=result.observed.get("vram_used"),
            images_done=node.images_done,
            error=result.error[:500],
        )
    NodeCheck.prune()
    return probes
