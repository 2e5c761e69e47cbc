import logging
import re
import uuid
from datetime import timedelta
from typing import Any

from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cluster.signals import node_recovered

log = logging.getLogger(__name__)

# A node is ejected after this many consecutive failed checks or jobs.
EJECT_AFTER_FAILURES = 3
MODEL_HASH_SUFFIX = re.compile(r"\s*\[[0-9a-fA-F]{8,64}\]$")


def model_key(name: str) -> str:
    """The stable part of an A1111 model name.

    A webui's ``title`` is "sub/name.safetensors [abcdef1234]" only once it
    knows the hash, and results name the model by basename without extension
    (reference §10.2), so compare models by basename without hash and extension.
    """
    base = MODEL_HASH_SUFFIX.sub("", name.strip()).replace("\\", "/").rsplit("/", 1)[-1]
    for ext in (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf"):
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base


class Node(models.Model):
    """One SD node: an A1111-compatible webui started with --api."""

    class State(models.TextChoices):
        UNKNOWN = "unknown", _("unknown")
        HEALTHY = "healthy", _("healthy")
        UNHEALTHY = "unhealthy", _("unhealthy")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100, unique=True)
    url = models.URLField(_("base URL"), help_text=_("e.g. http://10.0.0.11:7860 (the webui started with --api)"))
    auth_user = models.CharField(_("API user"), max_length=100, blank=True, help_text=_("from --api-auth user:pass"))
    auth_password = models.CharField(_("API password"), max_length=200, blank=True)
    capacity = models.PositiveSmallIntegerField(
        _("capacity"), default=1, help_text=_("Jobs run at once. One webui process generates one image job at a time.")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    draining = models.BooleanField(
        _("draining"), default=False, help_text=_("Finish the running jobs, take no new ones.")
    )
    max_pixels = models.PositiveIntegerField(
        _("largest image (pixels)"),
        default=2048 * 2048,
        help_text=_("Width × height this node's GPU can generate; larger jobs go elsewhere."),
    )

    # Observed state, written by health checks and jobs.
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.UNKNOWN)
    last_check_at = models.DateTimeField(_("last check"), null=True, blank=True)
    last_ok_at = models.DateTimeField(_("last success"), null=True, blank=True)
    failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    models_available = models.JSONField(_("models"), default=list, blank=True)
    samplers = models.JSONField(_("samplers"), default=list, blank=True)
    model_loaded = models.CharField(_("model loaded"), max_length=300, blank=True)
    vram_used = models.BigIntegerField(_("VRAM used (bytes)"), null=True, blank=True)
    vram_total = models.BigIntegerField(_("VRAM total (bytes)"), null=True, blank=True)
    version = models.CharField(_("webui version"), max_length=100, blank=True)
    progress = models.FloatField(_("progress"), default=0.0)
    busy = models.BooleanField(_("busy"), default=False)
    images_done = models.PositiveBigIntegerField(_("images generated"), default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("node")
        verbose_name_plural = _("nodes")

    def __str__(self) -> str:
        return self.name

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.auth_user, self.auth_password) if self.auth_user else None

    def is_available(self) -> bool:
        """May the dispatcher give this node new jobs?"""
        return self.enabled and not self.draining and self.state == self.State.HEALTHY

    @classmethod
    def available(cls) -> models.QuerySet["Node"]:
        return cls.objects.filter(enabled=True, draining=False, state=cls.State.HEALTHY)

    def model_titles(self) -> list[str]:
        return [m["title"] for m in self.models_available if isinstance(m, dict) and "title" in m]

    def model_keys(self) -> set[str]:
        return {model_key(title) for title in self.model_titles()}

    def has_model(self, name: str) -> bool:
        return model_key(name) in self.model_keys()

    def has_loaded(self, name: str) -> bool:
        return bool(self.model_loaded) and model_key(self.model_loaded) == model_key(name)

    def model_title(self, name: str) -> str:
        """This node's own title for a model, to send as ``sd_model_checkpoint``."""
        key = model_key(name)
        return next((title for title in self.model_titles() if model_key(title) == key), name)

    def record_success(self, observed: dict[str, Any]) -> None:
        """A check or a job succeeded: reset the failure count and re-admit the node.

        1. Compare-and-set to healthy from any other state; if that changed
           the row, the node has recovered: announce it, so queued jobs are
           dispatched to it at once (exactly one caller sees the change).
        2. Otherwise just write the observations.
        """
        now = timezone.now()
        fields = {"state": self.State.HEALTHY, "failures": 0, "last_check_at": now, "last_ok_at": now, "last_error": ""}
        fields.update(observed)
        recovered = Node.objects.filter(pk=self.pk).exclude(state=self.State.HEALTHY).update(**fields)
        if not recovered:
            Node.objects.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)
        if recovered:
            log.info("node %s is healthy", self.name)
            node_recovered.send(sender=Node, node=self)

    def record_failure(self, error: str) -> None:
        """A check or a job failed on the node's side; eject it after EJECT_AFTER_FAILURES in a row."""
        now = timezone.now()
        error = error[:500]
        Node.objects.filter(pk=self.pk).update(failures=F("failures") + 1, last_check_at=now, last_error=error)
        self.refresh_from_db(fields=["failures", "state"])
        self.last_check_at, self.last_error = now, error
        if self.failures >= EJECT_AFTER_FAILURES:
            ejected = Node.objects.filter(pk=self.pk).exclude(state=self.State.UNHEALTHY).update(
                state=self.State.UNHEALTHY, busy=False
            )
            if ejected:
                self.state = self.State.UNHEALTHY
                log.warning("node %s ejected after %d consecutive failures: %s", self.name, self.failures, error)

    def record_images(self, count: int) -> None:
        Node.objects.filter(pk=self.pk).update(images_done=F("images_done") + count)


class NodeCheck(models.Model):
    """One health check, kept for a day for the monitor's charts."""

    node = models.ForeignKey(Node, models.CASCADE, related_name="checks")
    checked_at = models.DateTimeField(default=timezone.now, db_index=True)
    ok = models.BooleanField()
    latency_ms = models.PositiveIntegerField(null=True)
    vram_used = models.BigIntegerField(null=True)
    images_done = models.PositiveBigIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)

    KEEP = timedelta(hours=24)

    class Meta:
        ordering = ["-checked_at"]
        indexes = [models.Index(fields=["node", "-checked_at"])]

    @classmethod
    def prune(cls) -> int:
        deleted, _ = cls.objects.filter(checked_at__lt=timezone.now() - cls.KEEP).delete()
        return deleted
