import secrets
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cluster.models import Node


class Job(models.Model):
    """One generation request and its whole life on the cluster.

    ``queued → assigned → running → succeeded | failed | cancelled | expired``,
    and back to ``queued`` when a node fails. Every transition is a
    compare-and-set update (STYLE rule 6): it names the state it expects, and
    the caller goes on only if it changed exactly one row.
    """

    class Kind(models.TextChoices):
        TXT2IMG = "txt2img", _("text to image")
        IMG2IMG = "img2img", _("image to image")
        UPSCALE = "upscale", _("upscale")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        ASSIGNED = "assigned", _("assigned")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")
        EXPIRED = "expired", _("expired")

    IN_FLIGHT = (Status.ASSIGNED, Status.RUNNING)
    ACTIVE = (Status.QUEUED, Status.ASSIGNED, Status.RUNNING)
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.EXPIRED)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TXT2IMG)

    # What was asked for, in A1111's terms.
    prompt = models.TextField(blank=True)
    negative_prompt = models.TextField(blank=True)
    seed = models.BigIntegerField(default=-1)
    sampler_name = models.CharField(max_length=100, default="Euler a")
    scheduler = models.CharField(max_length=100, default="Automatic")
    steps = models.PositiveSmallIntegerField(default=20)
    cfg_scale = models.FloatField(default=7.0)
    width = models.PositiveSmallIntegerField(default=512)
    height = models.PositiveSmallIntegerField(default=512)
    batch_size = models.PositiveSmallIntegerField(default=1)
    n_iter = models.PositiveSmallIntegerField(default=1)
    model = models.CharField(max_length=300)
    denoising_strength = models.FloatField(null=True, blank=True)
    init_image = models.FileField(upload_to="inputs/%Y/%m/", blank=True)
    source = models.ForeignKey("Image", models.SET_NULL, null=True, blank=True, related_name="derived_jobs")
    upscaler = models.CharField(max_length=100, blank=True)
    upscale_factor = models.FloatField(null=True, blank=True)
    notes = models.JSONField(default=list, blank=True)  # what the platform changed in the request, told to the user
    callback_url = models.URLField(blank=True, max_length=500)  # POSTed the job's state when it ends (generation/webhooks.py)

    # Where it is.
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    node = models.ForeignKey(Node, models.SET_NULL, null=True, blank=True, related_name="jobs")
    nodes_tried = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    progress = models.FloatField(default=0.0)
    step = models.PositiveIntegerField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="job_queue"),
            models.Index(fields=["owner", "status"], name="job_owner_status"),
            models.Index(fields=["owner", "-created_at"], name="job_owner_recent"),
            models.Index(fields=["status", "lease_until"], name="job_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.code}"

    @property
    def images_requested(self) -> int:
        return 1 if self.kind == self.Kind.UPSCALE else self.batch_size * self.n_iter

    def is_final(self) -> bool:
        return self.status in self.FINAL

    def _transition(self, expected: list[str] | tuple[str, ...], extra: Q | None = None, **changes: Any) -> bool:
        """Compare-and-set: apply ``changes`` only if the row is still in an expected state."""
        q = Job.objects.filter(pk=self.pk, status__in=expected)
        if extra is not None:
            q = q.filter(extra)
        if q.update(**changes) != 1:
            return False
        self.refresh_from_db()
        return True

    def assign(self, node: Node, lease: timedelta) -> bool:
        now = timezone.now()
        return self._transition(
            [self.Status.QUEUED],
            status=self.Status.ASSIGNED,
            node=node,
            assigned_at=now,
            lease_token=uuid.uuid4(),
            lease_until=now + lease,
            cancel_requested=False,
        )

    def start(self, token: uuid.UUID, lease: timedelta) -> bool:
        now = timezone.now()
        return self._transition(
            [self.Status.ASSIGNED],
            Q(lease_token=token),
            status=self.Status.RUNNING,
            started_at=now,
            lease_until=now + lease,
            attempts=F("attempts") + 1,
            progress=0.0,
            step=0,
        )

    def renew(self, token: uuid.UUID, lease: timedelta, **progress: Any) -> bool:
        """Extend the lease while this worker still holds it; False means the job was taken away."""
        changed = Job.objects.filter(pk=self.pk, status=self.Status.RUNNING, lease_token=token).update(
            lease_until=timezone.now() + lease, **progress
        )
        for name, value in progress.items():
            setattr(self, name, value)
        return changed == 1

    def requeue(self, holder: Q, reason: str, max_attempts: int) -> bool:
        """Give the job back to the queue after a node's or worker's fault.

        ``holder`` narrows the compare-and-set to the one who holds the job
        (the worker's lease token; for the reclaimer, the token and an
        expired lease). It fails instead after ``max_attempts``, and ends as
        cancelled if its owner asked for that meanwhile.
        """
        tried = [*self.nodes_tried, self.node_id] if self.node_id else list(self.nodes_tried)
        if self.finish(self.Status.CANCELLED, holder=holder & Q(cancel_requested=True)):
            return True
        holder &= Q(cancel_requested=False)
        if self.attempts >= max_attempts:
            message = _("Gave up after %(n)d attempts on different nodes. Last error: %(reason)s") % {
                "n": self.attempts,
                "reason": reason,
            }
            return self.finish(self.Status.FAILED, expected=self.IN_FLIGHT, holder=holder, error=str(message))
        return self._transition(
            self.IN_FLIGHT,
            holder,
            status=self.Status.QUEUED,
            node=None,
            nodes_tried=tried,
            lease_token=None,
            lease_until=None,
            progress=0.0,
            step=0,
            eta_seconds=None,
            error=reason,
        )

    def finish(
        self,
        status: str,
        *,
        expected: tuple[str, ...] | list[str] = IN_FLIGHT,
        holder: Q | None = None,
        error: str = "",
    ) -> bool:
        return self._transition(
            expected,
            holder,
            status=status,
            finished_at=timezone.now(),
            lease_token=None,
            lease_until=None,
            error=error,
            progress=1.0 if status == self.Status.SUCCEEDED else F("progress"),
            eta_seconds=None,
        )

    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


def image_path(image: "Image", filename: str) -> str:
    return f"images/u{image.owner_id}/{image.code}.png"


def thumbnail_path(image: "Image", filename: str) -> str:
    return f"thumbs/u{image.owner_id}/{image.code}.webp"


class Image(models.Model):
    """One generated picture: a PNG file (with A1111's ``parameters`` text) and a WebP thumbnail."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job = models.ForeignKey(Job, models.CASCADE, related_name="images")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="images")
    index = models.PositiveSmallIntegerField(default=0)
    file = models.ImageField(upload_to=image_path)
    thumbnail = models.ImageField(upload_to=thumbnail_path, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    seed = models.BigIntegerField(null=True, blank=True)
    infotext = models.TextField(blank=True)
    model_name = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Set while the owner shares the image: anyone with /s/<token>/ may see it.
    share_token = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at", "index"]
        indexes = [models.Index(fields=["owner", "deleted_at", "-created_at"], name="image_gallery")]

    def __str__(self) -> str:
        return str(self.code)

    @classmethod
    def in_gallery(cls, owner) -> models.QuerySet["Image"]:
        """The owner's images that are not in the trash, by themselves or with their job."""
        return cls.objects.filter(owner=owner, deleted_at__isnull=True, job__deleted_at__isnull=True)

    def is_trashed(self) -> bool:
        """In the trash by itself or with its job."""
        return self.deleted_at is not None or self.job.deleted_at is not None

    def share(self) -> str:
        """Turn the share link on; sharing again keeps the link the first call made."""
        Image.objects.filter(pk=self.pk, share_token__isnull=True).update(share_token=secrets.token_urlsafe(24))
        self.share_token = Image.objects.values_list("share_token", flat=True).get(pk=self.pk)
        return self.share_token

    def unshare(self) -> None:
        """Turn the share link off; the old link answers 404 from now on, and a new share gets a new one."""
        Image.objects.filter(pk=self.pk).update(share_token=None)
        self.share_token = None
