"""Account deletion: deactivate now, purge after the plan's retention, cancel by signing in again.

The purge itself (generation/purge.py) removes the account's jobs, images,
files and finally the user row; ``accounts`` never imports ``generation``.
"""

from datetime import datetime, timedelta

from django.utils import timezone

from accounts.models import User
from accounts.signals import deletion_requested


def purge_date(user: User) -> datetime | None:
    """When the account's data will be purged, or None when no deletion is pending."""
    if user.deletion_requested_at is None:
        return None
    return user.deletion_requested_at + timedelta(days=user.get_plan().retention_days)


def request_deletion(user: User) -> bool:
    """Deactivate the account and start the retention clock (compare-and-set: once only)."""
    now = timezone.now()
    changed = User.objects.filter(pk=user.pk, deletion_requested_at__isnull=True).update(deletion_requested_at=now, is_active=False)
    if changed:
        user.deletion_requested_at, user.is_active = now, False
        deletion_requested.send(sender=User, user=user)
    return changed == 1


def can_cancel(user: User) -> bool:
    """A pending deletion can be cancelled until its purge date; after that the purge may run any time."""
    when = purge_date(user)
    return when is not None and timezone.now() < when


def cancel_deletion(user: User) -> bool:
    """Reactivate an account whose deletion is pending."""
    changed = User.objects.filter(pk=user.pk, deletion_requested_at__isnull=False).update(deletion_requested_at=None, is_active=True)
    if changed:
        user.deletion_requested_at, user.is_active = None, True
    return changed == 1
