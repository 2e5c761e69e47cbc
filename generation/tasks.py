"""django-q2 tasks of the generation app: plain functions that take ids and are safe to run twice."""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils.translation import gettext as _

from generation import events, purge, runner
from generation.dispatch import dispatch
from generation.models import Job
from generation.recovery import expire_stale_jobs, fail_unservable_jobs, reclaim_expired_leases

log = logging.getLogger(__name__)


def run_job(job_id: int, token: str) -> None:
    """Run an assigned job on its node, then hand the freed slot to the next job."""
    close_old_connections()
    job = Job.objects.select_related("node", "source").filter(pk=job_id).first()
    if job is None or not job.start(uuid.UUID(token), timedelta(seconds=settings.JOB_LEASE_SECONDS)):
        # Cancelled, reclaimed or already run by another delivery of this task.
        log.info("job %s: no longer assigned to this task, nothing to do", job_id)
        return
    events.job_changed(job, "started")
    try:
        runner.run(job, uuid.UUID(token))
    except Exception:
        # A bug or a database hiccup must not leave the job running until its lease runs out.
        log.exception("job %s: the worker failed while running it", job.code)
        if job.requeue(Q(lease_token=uuid.UUID(token)), _("The worker failed while running this job."), settings.JOB_MAX_ATTEMPTS):
            events.job_changed(job, job.status)
    finally:
        dispatch()


def keep_jobs_moving() -> None:
    """The safety net: reclaim dead workers' jobs, end hopeless ones, dispatch the rest."""
    close_old_connections()
    reclaim_expired_leases()
    expire_stale_jobs()
    fail_unservable_jobs()
    dispatch()


def purge_trash() -> None:
    """Daily: remove trashed work and deleted accounts past their retention, rows and files."""
    close_old_connections()
    purge.purge_trash()
