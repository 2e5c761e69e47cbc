"""Where a job stands: its public state, queue position and an honest ETA."""

from typing import Any

from django.urls import reverse

from cluster.models import Node
from generation.models import Image, Job

# Used until the cluster has finished jobs to measure.
DEFAULT_SECONDS_PER_STEP = 0.5
SAMPLE = 50
PROMPT_PREVIEW = 200


def queue_position(job: Job) -> int | None:
    """1 for the next job to go; None when the job is not queued.

    The dispatcher is fair across users rather than FIFO, so this counts
    the queued jobs that are older than this one (an upper bound).
    """
    if job.status != Job.Status.QUEUED:
        return None
    return Job.objects.filter(status=Job.Status.QUEUED, created_at__lt=job.created_at).count() + 1


def seconds_per_step() -> float:
    """Measured from the last finished jobs: wall time per sampling step and image."""
    recent = (
        Job.objects.filter(status=Job.Status.SUCCEEDED, started_at__isnull=False, kind=Job.Kind.TXT2IMG)
        .order_by("-finished_at")
        .values_list("started_at", "finished_at", "steps", "batch_size", "n_iter")[:SAMPLE]
    )
    total_seconds = sum((end - start).total_seconds() for start, end, *_ in recent)
    total_steps = sum(steps * batch * n for _, _, steps, batch, n in recent)
    return total_seconds / total_steps if total_steps else DEFAULT_SECONDS_PER_STEP


def queue_eta(job: Job, position: int) -> float:
    """Seconds until the job should finish: the work ahead spread over the cluster's slots."""
    slots = sum(node.capacity for node in Node.available()) or 1
    per_step = seconds_per_step()
    own = job.steps * job.images_requested * per_step
    ahead = Job.objects.filter(status__in=Job.ACTIVE, created_at__lt=job.created_at).exclude(pk=job.pk)
    work_ahead = sum(steps * batch * n for steps, batch, n in ahead.values_list("steps", "batch_size", "n_iter")[:500])
    return round(work_ahead * per_step / slots + own, 1)


def job_state(job: Job, images: list[Image] | None = None) -> dict[str, Any]:
    """The job as the owner sees it, in pages, the JSON API and websocket events."""
    state: dict[str, Any] = {
        "job": str(job.code),
        "status": job.status,
        "status_label": job.get_status_display(),
        "kind": job.kind,
        "progress": round(job.progress, 4),
        "step": job.step,
        "steps": job.steps,
        "eta_seconds": job.eta_seconds,
        "node": job.node.name if job.node_id and job.node else None,
        "attempts": job.attempts,
        "error": job.error if job.status in (Job.Status.FAILED, Job.Status.EXPIRED) else "",
        "prompt": job.prompt[:PROMPT_PREVIEW],
        "model": job.model,
        "width": job.width,
        "height": job.height,
        "images_requested": job.images_requested,
        "notes": job.notes,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    if job.status == Job.Status.QUEUED:
        position = queue_position(job)
        state["queue_position"] = position
        state["eta_seconds"] = queue_eta(job, position or 1)
    if job.status == Job.Status.SUCCEEDED:
        images = images if images is not None else list(job.images.filter(deleted_at__isnull=True).order_by("index"))
        state["images"] = [image_state(image) for image in images]
    return state


def image_state(image: Image) -> dict[str, Any]:
    return {
        "image": str(image.code),
        "url": reverse("generation:image-file", args=[image.code]),
        "thumbnail_url": reverse("generation:image-thumbnail", args=[image.code]),
        "page_url": reverse("generation:image", args=[image.code]),
        "seed": image.seed,
        "width": image.width,
        "height": image.height,
    }
