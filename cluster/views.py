from datetime import timedelta

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cluster.models import Node, NodeCheck

CHART_POINTS = 60
THROUGHPUT_WINDOW = timedelta(hours=1)


@require_GET
@staff_member_required
def monitor(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster/monitor.html", {"nodes": Node.objects.all()})


@require_GET
@never_cache
@staff_member_required
def monitor_data(request: HttpRequest) -> JsonResponse:
    """Every node's state plus its recent checks, polled by the monitor page."""
    nodes = list(Node.objects.all())
    since = timezone.now() - THROUGHPUT_WINDOW
    recent: dict[int, list[NodeCheck]] = {node.pk: [] for node in nodes}
    for check in NodeCheck.objects.filter(checked_at__gte=since).order_by("-checked_at"):
        recent[check.node_id].append(check)
    return JsonResponse({"nodes": [_node_json(node, recent[node.pk]) for node in nodes]})


def _node_json(node: Node, checks: list[NodeCheck]) -> dict:
    oldest = checks[-1] if checks else None
    images_per_hour = None
    if oldest is not None:
        hours = max((timezone.now() - oldest.checked_at).total_seconds() / 3600, 1 / 60)
        images_per_hour = round((node.images_done - oldest.images_done) / hours, 1)
    return {
        "code": str(node.code),
        "name": node.name,
        "url": node.url,
        "state": node.state,
        "state_label": node.get_state_display(),
        "enabled": node.enabled,
        "draining": node.draining,
        "available": node.is_available(),
        "capacity": node.capacity,
        "busy": node.busy,
        "progress": node.progress,
        "model_loaded": node.model_loaded,
        "models": node.model_titles(),
        "vram_used": node.vram_used,
        "vram_total": node.vram_total,
        "latency_ms": node.latency_ms,
        "failures": node.failures,
        "last_error": node.last_error,
        "last_check_at": node.last_check_at.isoformat() if node.last_check_at else None,
        "images_done": node.images_done,
        "images_per_hour": images_per_hour,
        "history": [
            {"at": c.checked_at.isoformat(), "ok": c.ok, "latency_ms": c.latency_ms}
            for c in reversed(checks[:CHART_POINTS])
        ],
    }
