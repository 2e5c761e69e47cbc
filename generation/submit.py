"""Submitting a job: one transaction creates it, dispatch runs after commit."""

from typing import Any

from django.db import transaction

from generation import events
from generation.dispatch import dispatch
from generation.models import Job
from generation.quotas import lock_user, reserve

JOB_FIELDS = [
    "kind",
    "prompt",
    "negative_prompt",
    "model",
    "sampler_name",
    "scheduler",
    "steps",
    "cfg_scale",
    "width",
    "height",
    "batch_size",
    "n_iter",
    "seed",
    "denoising_strength",
    "source",
    "callback_url",
]


def submit_job(owner, cleaned: dict[str, Any], notes: list[str] | None = None) -> Job:
    """Create a queued job from validated parameters (GenerateForm.cleaned_data).

    The quota check and the insert share one transaction under a lock on the
    owner's row, so concurrent submissions cannot overspend. Raises
    QuotaExceeded.
    """
    fields = {name: cleaned[name] for name in JOB_FIELDS if cleaned.get(name) is not None}
    fields.setdefault("scheduler", "Automatic")
    with transaction.atomic():
        job = Job(owner=owner, notes=notes or [], **fields)
        lock_user(owner)
        reserve(owner, job.images_requested)
        if cleaned.get("init_image"):
            job.init_image.save(cleaned["init_image"].name, cleaned["init_image"], save=False)
        job.save()
        transaction.on_commit(lambda: _after_submit(job))
    return job


def _after_submit(job: Job) -> None:
    dispatch()
    job.refresh_from_db()
    if job.status == Job.Status.QUEUED:
        events.job_changed(job, "queued")


def cancel_job(job: Job) -> bool:
    """Cancel at once when queued or not yet started; ask the worker to interrupt the node when running."""
    if job.finish(Job.Status.CANCELLED, expected=[Job.Status.QUEUED, Job.Status.ASSIGNED]):
        # An assigned job's task will find it cancelled and do nothing.
        events.job_changed(job, "cancelled")
        transaction.on_commit(dispatch)
        return True
    if Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(cancel_requested=True):
        job.refresh_from_db()
        return True
    return False
