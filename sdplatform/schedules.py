"""Periodic tasks are declared in code, one ``SCHEDULES`` list per app module
``<app>/schedules.py``, and written to django-q2's table by ``manage.py
sync_schedules`` after ``migrate`` (never from ``AppConfig.ready()``)."""

from importlib import import_module
from typing import NamedTuple

from django.apps import apps
from django.db import transaction
from django_q.models import Schedule


class ScheduledTask(NamedTuple):
    name: str
    func: str
    schedule_type: str  # one of django-q2's Schedule.TYPE codes
    minutes: int | None = None


SCHEDULES = [
    ScheduledTask("clear expired sessions", "sdplatform.tasks.clear_expired_sessions", Schedule.DAILY),
]


def declared_schedules() -> list[ScheduledTask]:
    declared: list[ScheduledTask] = []
    for config in apps.get_app_configs():
        try:
            module = import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as e:
            if e.name != f"{config.name}.schedules":
                raise
            continue
        declared.extend(getattr(module, "SCHEDULES", []))
    return declared


def sync_schedules(declared: list[ScheduledTask]) -> dict[str, int]:
    """Upsert the declared schedules by name and delete the ones no longer declared.

    An unchanged schedule keeps its ``next_run``, so running this on every
    deploy does not shift or re-trigger anything.
    """
    counts = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0}
    with transaction.atomic():
        for task in declared:
            wanted = {"func": task.func, "schedule_type": task.schedule_type, "minutes": task.minutes, "repeats": -1}
            schedule = Schedule.objects.filter(name=task.name).first()
            if schedule is None:
                Schedule.objects.create(name=task.name, **wanted)
                counts["created"] += 1
            elif any(getattr(schedule, field) != value for field, value in wanted.items()):
                Schedule.objects.filter(pk=schedule.pk).update(**wanted)
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        # One-off schedules (webhook retries) are made at run time, not declared: keep them.
        stale = Schedule.objects.exclude(name__in=[task.name for task in declared]).exclude(schedule_type=Schedule.ONCE)
        counts["deleted"], _ = stale.delete()
    return counts
