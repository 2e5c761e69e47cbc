import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Plan(models.Model):
    """What a user may do: quotas, limits, trash retention and a share of the cluster."""

    name = models.CharField(_("name"), max_length=50, unique=True)
    is_default = models.BooleanField(_("default for new accounts"), default=False)
    images_per_day = models.PositiveIntegerField(_("images per 24 hours"), default=50)
    max_concurrent_jobs = models.PositiveSmallIntegerField(_("jobs in flight at once"), default=2)
    max_pixels = models.PositiveIntegerField(_("largest image (width × height)"), default=1024 * 1024)
    max_steps = models.PositiveSmallIntegerField(_("most sampling steps"), default=50)
    max_images_per_job = models.PositiveSmallIntegerField(_("most images per job"), default=4)
    retention_days = models.PositiveSmallIntegerField(_("days in the trash before purge"), default=7)
    weight = models.PositiveSmallIntegerField(
        _("scheduling weight"),
        default=1,
        help_text=_("When the cluster is busy, users of a plan with weight 3 get three times the slots of weight 1."),
    )

    class Meta:
        ordering = ["weight", "name"]
        verbose_name = _("plan")
        verbose_name_plural = _("plans")

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        with transaction.atomic():
            if self.is_default:
                Plan.objects.exclude(pk=self.pk).filter(is_default=True).update(is_default=False)
            super().save(*args, **kwargs)

    @classmethod
    def default(cls) -> "Plan":
        plan = cls.objects.filter(is_default=True).first() or cls.objects.order_by("weight", "pk").first()
        # A database without plans (e.g. an emptied table) still gets the model defaults.
        return plan or cls(name="default")


def _new_webhook_secret() -> str:
    return secrets.token_hex(32)


class User(AbstractUser):
    """The platform's user; custom from the first migration so fields can be added later."""

    plan = models.ForeignKey(
        Plan, models.SET_NULL, null=True, blank=True, related_name="users", help_text=_("Empty: the default plan.")
    )
    quota_exempt = models.BooleanField(_("exempt from quotas"), default=False)
    default_model = models.CharField(_("default model"), max_length=300, blank=True)
    deletion_requested_at = models.DateTimeField(_("deletion requested"), null=True, blank=True)
    webhook_secret = models.CharField(
        _("webhook signing secret"), max_length=64, default=_new_webhook_secret, help_text=_("Signs job callbacks (HMAC-SHA256).")
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    def get_plan(self) -> Plan:
        return self.plan if self.plan_id else Plan.default()


TOKEN_PREFIX = "sdp_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    """A named API token. Only its hash is stored; the token is shown once when created."""

    user = models.ForeignKey(User, models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, help_text=_("The token's first characters, to tell tokens apart."))
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user: User, name: str) -> tuple["ApiToken", str]:
        """Create a token; returns the row and the token itself, which is not stored anywhere."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = cls.objects.create(user=user, name=name, prefix=token[: len(TOKEN_PREFIX) + 6], key_hash=hash_token(token))
        return row, token

    @classmethod
    def authenticate(cls, token: str) -> User | None:
        """The active user a token belongs to, or None; records when it was last used."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = cls.objects.select_related("user").filter(key_hash=hash_token(token)).first()
        if row is None or not row.user.is_active:
            return None
        now = timezone.now()
        # Write at most once a minute: a busy client would otherwise write on every call.
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
            cls.objects.filter(pk=row.pk).update(last_used_at=now)
        return row.user
