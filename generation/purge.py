"""Permanent deletion: the one place where users' rows and files are destroyed.

Trashed images and jobs, and accounts whose owner asked for deletion, are
removed once they have waited longer than the owner's plan keeps them
(``Plan.retention_days``, 7 days by default).

Every pass works in batches of ``BATCH`` rows:

1. In a transaction, lock the next batch of rows that still qualify (so a
   restore that comes in meanwhile either waits or is not purged), note
   their file names and delete the rows.
2. After the commit, delete those files from storage.

A crash between the two leaves files without rows, never rows without
files; ``purge --orphans`` finds and removes such files.
"""

import logging
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce

from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Plan
from generation.models import Image, Job

log = logging.getLogger(__name__)

BATCH = 500
# Storage folders that hold users' files (see Image/Job upload_to).
FOLDERS = ("images", "thumbs", "inputs")
# A worker writes an image's files a moment before it commits the row, and a
# submit saves the upload before the job: younger files are never orphans.
ORPHAN_GRACE = timedelta(hours=1)

Report = Callable[[str, models.Model], None]


@dataclass
class Counts:
    images: int = 0
    jobs: int = 0
    users: int = 0
    files: int = 0

    def __str__(self) -> str:
        return f"{self.images} image(s), {self.jobs} job(s), {self.users} account(s), {self.files} file(s)"


def _expired(field: str, plan_path: str, now: datetime) -> Q:
    """Rows whose ``field`` is older than the retention of the owner's plan (``plan_path`` leads to it)."""
    default = Plan.default()
    plans = list(Plan.objects.all()) or [default]  # no plan rows: everyone has the model defaults
    conditions = []
    for plan in plans:
        owners = Q(**{plan_path: plan}) if plan.pk else Q()
        if plan.pk == default.pk:
            owners |= Q(**{f"{plan_path}__isnull": True})
        conditions.append(owners & Q(**{f"{field}__lt": now - timedelta(days=plan.retention_days)}))
    return reduce(operator.or_, conditions)


def expired_images(now: datetime) -> models.QuerySet[Image]:
    return Image.objects.filter(deleted_at__isnull=False).filter(_expired("deleted_at", "owner__plan", now))


def expired_jobs(now: datetime) -> models.QuerySet[Job]:
    return Job.objects.filter(deleted_at__isnull=False).filter(_expired("deleted_at", "owner__plan", now))


def expired_accounts(now: datetime) -> models.QuerySet:
    # Inactive as well: an account someone reactivated by hand is never purged.
    # Signing in again cancels a deletion only within the retention (accounts/
    # deletion.py), so the purge and a cancelling sign-in never race.
    User = get_user_model()
    q = User.objects.filter(deletion_requested_at__isnull=False, is_active=False)
    return q.filter(_expired("deletion_requested_at", "plan", now))


def _image_files(images: list[Image]) -> list[str]:
    return [name for image in images for name in (image.file.name, image.thumbnail.name) if name]


def _job_files(jobs: list[Job]) -> list[str]:
    names = [job.init_image.name for job in jobs if job.init_image]
    for file, thumb in Image.objects.filter(job__in=jobs).values_list("file", "thumbnail"):
        names.extend(name for name in (file, thumb) if name)
    return names


def _purge(q: models.QuerySet, files: Callable[[list], list[str]], *, kind: str, dry_run: bool, report: Report | None, batch: int) -> tuple[int, int]:
    """Delete the rows of ``q`` batch by batch, then their files; returns (rows, files)."""
    n_rows = n_files = 0
    last = 0
    while True:
        with transaction.atomic():
            page = q.filter(pk__gt=last).order_by("pk")
            rows = list(page[:batch] if dry_run else page.select_for_update()[:batch])
            if not rows:
                break
            last = rows[-1].pk
            names = files(rows)
            if not dry_run:
                q.model.objects.filter(pk__in=[row.pk for row in rows]).delete()
                transaction.on_commit(lambda names=names: _delete_files(names))
        for row in rows:
            if report:
                report(kind, row)
        n_rows += len(rows)
        n_files += len(names)
    return n_rows, n_files


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            # Left as an orphan for `purge --orphans`; the rows are already gone.
            log.warning("purge: could not delete %s", name, exc_info=True)


def purge_trash(now: datetime | None = None, *, dry_run: bool = False, report: Report | None = None, batch: int = BATCH) -> Counts:
    """Remove what has been in the trash longer than its owner's retention, then expired accounts."""
    now = now or timezone.now()
    counts = Counts()
    options = {"dry_run": dry_run, "report": report, "batch": batch}
    counts.images, files = _purge(expired_images(now).select_related("owner"), _image_files, kind="image", **options)
    counts.files += files
    counts.jobs, files = _purge(expired_jobs(now).select_related("owner"), _job_files, kind="job", **options)
    counts.files += files
    for user in list(expired_accounts(now)):
        counts.users += 1
        _, image_files = _purge(Image.objects.filter(owner=user).select_related("owner"), _image_files, kind="image", **options)
        _, job_files = _purge(Job.objects.filter(owner=user).select_related("owner"), _job_files, kind="job", **options)
        counts.files += image_files + job_files
        if report:
            report("account", user)
        if not dry_run:
            expired_accounts(now).filter(pk=user.pk).delete()
    log.info("purge%s: %s", " (dry run)" if dry_run else "", counts)
    return counts


def _stored_files() -> set[str]:
    found: set[str] = set()

    def walk(path: str) -> None:
        try:
            dirs, files = default_storage.listdir(path)
        except FileNotFoundError:
            return
        found.update(f"{path}/{name}" for name in files)
        for name in dirs:
            walk(f"{path}/{name}")

    for folder in FOLDERS:
        walk(folder)
    return found


def _known_files() -> dict[str, str]:
    """Every file name a row points at, with a description of the row."""
    known: dict[str, str] = {}
    for code, file, thumb in Image.objects.values_list("code", "file", "thumbnail").iterator():
        for name in (file, thumb):
            if name:
                known[name] = f"image {code}"
    for code, name in Job.objects.exclude(init_image="").values_list("code", "init_image").iterator():
        known[name] = f"job {code}"
    return known


def find_orphans(now: datetime | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """Files in storage that no row names (older than ORPHAN_GRACE), and rows whose file is missing.

    Loads every name into memory: a tool to run by hand now and then.
    """
    now = now or timezone.now()
    stored = _stored_files()
    known = _known_files()
    orphans = []
    for name in sorted(stored - known.keys()):
        if now - default_storage.get_modified_time(name) >= ORPHAN_GRACE:
            orphans.append(name)
    missing = sorted((row, name) for name, row in known.items() if name not in stored)
    return orphans, missing


def delete_orphans(names: list[str]) -> int:
    """Delete orphan files (never rows); a file a row points at meanwhile is kept."""
    known = _known_files()
    names = [name for name in names if name not in known]
    _delete_files(names)
    return len(names)
