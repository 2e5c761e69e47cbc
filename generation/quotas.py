"""Per-user quotas, derived from the jobs themselves so they cannot drift.

Images count against the rolling 24-hour window from the moment a job is
submitted; a job that fails, is cancelled or expires gives them back simply
by no longer matching the query.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import F, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, JsonResponse
from django_ratelimit.core import get_usage
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import Plan, User
from generation.models import Job

WINDOW = timedelta(hours=24)
REFUNDED = (Job.Status.FAILED, Job.Status.CANCELLED, Job.Status.EXPIRED)


class QuotaExceeded(Exception):
    """A refusal that names the limit, the current usage and when it frees up."""

    def __init__(self, code: str, message: str, retry_at: datetime | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_at = retry_at

    def retry_after_seconds(self) -> int | None:
        if self.retry_at is None:
            return None
        return max(1, int((self.retry_at - timezone.now()).total_seconds()) + 1)


@dataclass
class Usage:
    plan: Plan
    images_used: int
    images_left: int
    jobs_in_flight: int
    next_free_at: datetime | None  # when the oldest counted images leave the window


def counted_jobs(user: User, now: datetime | None = None):
    since = (now or timezone.now()) - WINDOW
    return Job.objects.filter(owner=user, created_at__gt=since).exclude(status__in=REFUNDED)


def images_in_window(user: User, now: datetime | None = None) -> int:
    q = counted_jobs(user, now).annotate(n=F("batch_size") * F("n_iter"))
    return q.aggregate(total=Sum("n"))["total"] or 0


def usage(user: User) -> Usage:
    plan = user.get_plan()
    now = timezone.now()
    used = images_in_window(user, now)
    oldest = counted_jobs(user, now).order_by("created_at").values_list("created_at", flat=True).first()
    return Usage(
        plan=plan,
        images_used=used,
        images_left=max(0, plan.images_per_day - used),
        jobs_in_flight=Job.objects.filter(owner=user, status__in=Job.ACTIVE).count(),
        next_free_at=oldest + WINDOW if oldest else None,
    )


def daily_images(user: User, days: int = 14) -> list[tuple[date, int]]:
    """Images per day over the last ``days`` days (today last), refunded jobs left out, in one query."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    rows = (
        Job.objects.filter(owner=user, created_at__date__gte=first)
        .exclude(status__in=REFUNDED)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Sum(F("batch_size") * F("n_iter")))
        .values_list("day", "n")
    )
    counts = dict(rows)
    return [(first + timedelta(days=i), counts.get(first + timedelta(days=i), 0)) for i in range(days)]


def check_limits(user: User, width: int, height: int, steps: int, images: int) -> dict[str, str]:
    """Per-job limits of the user's plan; returns field → message for what is too large."""
    if user.quota_exempt:
        return {}
    plan = user.get_plan()
    errors = {}
    if steps > plan.max_steps:
        errors["steps"] = _("Your plan %(plan)s allows at most %(max)d steps.") % {"plan": plan.name, "max": plan.max_steps}
    if width * height > plan.max_pixels:
        errors["width"] = _("Your plan %(plan)s allows at most %(max)d pixels (width × height); %(w)d×%(h)d is %(n)d.") % {
            "plan": plan.name,
            "max": plan.max_pixels,
            "w": width,
            "h": height,
            "n": width * height,
        }
    if images > plan.max_images_per_job:
        errors["batch_size"] = _("Your plan %(plan)s allows at most %(max)d images per job.") % {
            "plan": plan.name,
            "max": plan.max_images_per_job,
        }
    return errors


def reserve(user: User, images: int) -> None:
    """Check the concurrent-job and daily-image quotas for a new job.

    Call inside the transaction that creates the job, after locking the
    user's row (``lock_user``): two submissions of one user then run this
    one after the other, so together they can never pass the quota.
    """
    if user.quota_exempt:
        return
    plan = user.get_plan()
    now = timezone.now()
    active = Job.objects.filter(owner=user, status__in=Job.ACTIVE).count()
    if active >= plan.max_concurrent_jobs:
        raise QuotaExceeded(
            "concurrency",
            _("You have %(n)d jobs queued or running; your plan %(plan)s allows %(max)d at once. Wait for one to finish.")
            % {"n": active, "plan": plan.name, "max": plan.max_concurrent_jobs},
        )
    used = images_in_window(user, now)
    if used + images > plan.images_per_day:
        freed_at = _when_enough_frees_up(user, now, used + images - plan.images_per_day)
        raise QuotaExceeded(
            "quota",
            _(
                "This job needs %(need)d images but only %(left)d of your %(quota)d images per 24 hours are left "
                "(plan %(plan)s). Enough frees up at %(when)s."
            )
            % {
                "need": images,
                "left": max(0, plan.images_per_day - used),
                "quota": plan.images_per_day,
                "plan": plan.name,
                "when": date_format(timezone.localtime(freed_at), "DATETIME_FORMAT") if freed_at else "–",
            },
            retry_at=freed_at,
        )


def _when_enough_frees_up(user: User, now: datetime, excess: int) -> datetime | None:
    freed = 0
    for created_at, n in counted_jobs(user, now).order_by("created_at").annotate(n=F("batch_size") * F("n_iter")).values_list("created_at", "n"):
        freed += n
        if freed >= excess:
            return created_at + WINDOW
    return None


def check_submission_rate(request: HttpRequest) -> None:
    """Per-user and per-address limits on how fast jobs are submitted (cache-backed)."""
    for key, rate in (("user", settings.SUBMIT_RATE_PER_USER), ("ip", settings.SUBMIT_RATE_PER_IP)):
        limit = get_usage(request, group="submit-job", key=key, rate=rate, increment=True)
        if limit and limit["should_limit"]:
            raise QuotaExceeded(
                "rate_limited",
                _("Too many submissions (at most %(rate)s per %(per)s). Try again in %(retry)d seconds.")
                % {"rate": rate, "per": _("user") if key == "user" else _("address"), "retry": limit["time_left"]},
                retry_at=timezone.now() + timedelta(seconds=limit["time_left"]),
            )


def lock_user(user: User) -> None:
    """Serialize this user's submissions until the transaction ends (a row lock; SQLite locks the whole database)."""
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()


def quota_response(e: QuotaExceeded) -> JsonResponse:
    """HTTP 429 with the refusal and, when known, when to try again."""
    body = {"error": e.code, "message": e.message}
    if e.retry_at:
        body["retry_at"] = e.retry_at.isoformat()
    response = JsonResponse(body, status=429)
    if e.retry_after_seconds():
        response["Retry-After"] = str(e.retry_after_seconds())
    return response
