"""Safety nets that guarantee every job ends: lease reclaim, queue expiry and unservable jobs.

They run after every node health-check pass (cluster's ``nodes_checked``
signal, about every 15 seconds) and are idempotent.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from cluster.client import NodeClient, NodeError
from cluster.models import Node
from generation import events
from generation.models import Job

log = logging.getLogger(__name__)


def reclaim_expired_leases() -> list[Job]:
    """Requeue in-flight jobs whose worker stopped renewing the lease (it died or hung).

    1. Interrupt the node if the job was running there, so the dead worker's
       generation does not hold the node while the job runs again elsewhere.
    2. Requeue (compare-and-set on the expired lease), counting the attempt.
    """
    reclaimed = []
    stale = Job.objects.filter(status__in=Job.IN_FLIGHT, lease_until__lt=timezone.now()).select_related("node")
    for job in stale:
        if job.status == Job.Status.RUNNING and job.node is not None:
            _interrupt(job.node)
        reason = _("The worker running this job stopped responding.")
        if job.requeue(job.lease_token, reason, settings.JOB_MAX_ATTEMPTS):
            log.warning("job %s: lease expired, %s", job.code, job.status)
            events.job_changed(job, "failed" if job.status == Job.Status.FAILED else "queued")
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
    for job in Job.objects.filter(status=Job.Status.QUEUED, created_at__lt=cutoff):
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
