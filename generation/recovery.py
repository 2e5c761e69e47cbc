"""Safety nets that guarantee every job ends: lease reclaim, queue expiry and unservable jobs.

They run after every node health-check pass (cluster's ``nodes_checked``
signal, about every 15 seconds) and are idempotent.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from cluster.client import NodeClient, NodeError
from cluster.models import Node
from generation import events
from generation.models import Job

log = logging.getLogger(__name__)


def reclaim_expired_leases() -> list[Job]:
    """Requeue in-flight jobs whose worker stopped renewing the lease (it died or hung).

    1. Requeue with a compare-and-set that still requires the expired lease,
       so a worker that renewed it meanwhile keeps its job, and of two
       reclaimers only one wins.
    2. Then interrupt the node the job was running on, so the dead worker's
       generation does not hold it while the job runs again elsewhere.
    """
    reclaimed = []
    now = timezone.now()
    stale = Job.objects.filter(status__in=Job.IN_FLIGHT, lease_until__lt=now).select_related("node")
    for job in stale:
        node = job.node if job.status == Job.Status.RUNNING else None
        reason = _("The worker running this job stopped responding.")
        if not job.requeue(Q(lease_token=job.lease_token, lease_until__lt=now), reason, settings.JOB_MAX_ATTEMPTS):
            continue
        if node is not None:
            _interrupt(node)
        log.warning("job %s: lease expired, %s", job.code, job.status)
        events.job_changed(job, job.status)
        reclaimed.append(job)
    return reclaimed


def _interrupt(node: Node) -> None:
    try:
        with NodeClient(node.url, node.auth, status_timeout=settings.NODE_CHECK_TIMEOUT) as client:
            if client.progress(skip_current_image=True).get("state", {}).get("job_count", 0) != 0:
                client.interrupt()
    except NodeError as e:
        log.info("could not interrupt node %s: %s", node.name, e.message)


def expire_stale_jobs() -> list[Job]:
    """Queued jobs older than JOB_QUEUE_TTL_MINUTES end as expired."""
    cutoff = timezone.now() - timedelta(minutes=settings.JOB_QUEUE_TTL_MINUTES)
    expired = []
    # A job sent back to the queue after a fault gets its time again from that run.
    waited_too_long = Q(assigned_at__isnull=True, created_at__lt=cutoff) | Q(assigned_at__lt=cutoff)
    for job in Job.objects.filter(waited_too_long, status=Job.Status.QUEUED):
        reason = _("No node could take this job within %(minutes)d minutes; please submit it again.") % {
            "minutes": settings.JOB_QUEUE_TTL_MINUTES
        }
        if job.finish(Job.Status.EXPIRED, expected=[Job.Status.QUEUED], error=reason):
            events.job_changed(job, "expired")
            expired.append(job)
    return expired


def fail_unservable_jobs() -> list[Job]:
    """Fail queued jobs that no enabled node could ever run (model removed, size too large).

    Jobs waiting for a node that is merely unhealthy or busy stay queued.
    """
    nodes = list(Node.objects.filter(enabled=True))
    failed = []
    for job in Job.objects.filter(status=Job.Status.QUEUED).exclude(kind=Job.Kind.UPSCALE):
        pixels = job.width * job.height
        if any(node.has_model(job.model) and node.max_pixels >= pixels for node in nodes):
            continue
        reason = _("No node of the cluster offers model %(model)s at %(w)d×%(h)d any more.") % {
            "model": job.model,
            "w": job.width,
            "h": job.height,
        }
        if job.finish(Job.Status.FAILED, expected=[Job.Status.QUEUED], error=reason):
            events.job_changed(job, "failed")
            failed.append(job)
    return failed
