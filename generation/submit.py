"""Submitting a job: one transaction creates it, dispatch runs after commit."""

from typing import Any

from django.core.files import File
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
    """Create a queued job from validated parameters (GenerateForm.cleaned_data). Raises QuotaExceeded."""
    fields = {name: cleaned[name] for name in JOB_FIELDS if cleaned.get(name) is not None}
    fields.setdefault("scheduler", "Automatic")
    job = Job(owner=owner, notes=notes or [], **fields)
    init = cleaned.get("init_image")
    return enqueue(job, (init.name, init) if init else None)


def enqueue(job: Job, init_image: tuple[str, File] | None = None) -> Job:
    """Save a new job to the queue and dispatch it after commit. Raises QuotaExceeded.

    The quota check and the insert share one transaction under a lock on the
    owner's row, so concurrent submissions cannot overspend; the input file
    is written only once the quota admitted the job.
    """
    with transaction.atomic():
        lock_user(job.owner)
        reserve(job.owner, job.images_requested)
        if init_image:
            job.init_image.save(*init_image, save=False)
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
