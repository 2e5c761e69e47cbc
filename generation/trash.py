"""The trash: moving a user's jobs and images in and out of it.

Nothing here touches files. Trashed rows stay as they are until the
scheduled purge (generation/purge.py) removes rows and files after the
owner's plan retention. Every function takes the acting user and a list of
codes and only ever counts that user's own rows: codes of other users'
objects are ignored exactly like codes that do not exist.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from generation.models import Image, Job
from generation.submit import cancel_job


def parse_codes(values: Iterable[str]) -> list[uuid.UUID]:
    """The valid UUIDs among ``values`` (form input); the rest are dropped."""
    codes = []
    for value in values:
        try:
            codes.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return codes


def retention(owner) -> timedelta:
    return timedelta(days=owner.get_plan().retention_days)


def purge_date(deleted_at: datetime, owner) -> datetime:
    """When the purge removes something the owner deleted at ``deleted_at``."""
    return deleted_at + retention(owner)


def trash_images(owner, codes: list[uuid.UUID]) -> int:
    # Filtering on the old value makes the bulk update a compare-and-set per row.
    q = Image.objects.filter(owner=owner, code__in=codes, deleted_at__isnull=True)
    return q.update(deleted_at=timezone.now())


def trash_jobs(owner, codes: list[uuid.UUID]) -> int:
    """Trash jobs with their images; a job still in the queue or running is cancelled first."""
    q = Job.objects.filter(owner=owner, code__in=codes, deleted_at__isnull=True)
    for job in q.filter(status__in=Job.ACTIVE):
        cancel_job(job)
    return q.update(deleted_at=timezone.now())


def restore_images(owner, codes: list[uuid.UUID]) -> int:
    """Restore images, and the trashed jobs they belong to (an image is only visible with its job)."""
    q = Image.objects.filter(owner=owner, code__in=codes)
    restorable = q.filter(Q(deleted_at__isnull=False) | Q(job__deleted_at__isnull=False))
    job_ids = set(restorable.values_list("job_id", flat=True))
    n = restorable.count()
    q.filter(deleted_at__isnull=False).update(deleted_at=None)
    Job.objects.filter(owner=owner, pk__in=job_ids, deleted_at__isnull=False).update(deleted_at=None)
    return n


def restore_jobs(owner, codes: list[uuid.UUID]) -> int:
    return Job.objects.filter(owner=owner, code__in=codes, deleted_at__isnull=False).update(deleted_at=None)
