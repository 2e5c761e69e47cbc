import pytest
from django.core.management import call_command
from django_q.models import Schedule

from sdplatform.schedules import ScheduledTask, declared_schedules, sync_schedules

pytestmark = pytest.mark.django_db


def test_it_collects_the_schedules_declared_by_the_apps():
    names = {task.name for task in declared_schedules()}
    assert "clear expired sessions" in names


def test_it_creates_then_leaves_schedules_unchanged():
    declared = [ScheduledTask("tick", "sdplatform.tasks.clear_expired_sessions", Schedule.MINUTES, 5)]
    assert sync_schedules(declared) == {"created": 1, "updated": 0, "unchanged": 0, "deleted": 0}
    next_run = Schedule.objects.get(name="tick").next_run

    assert sync_schedules(declared) == {"created": 0, "updated": 0, "unchanged": 1, "deleted": 0}
    schedule = Schedule.objects.get(name="tick")
    assert schedule.next_run == next_run
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "sdplatform.tasks.clear_expired_sessions",
        Schedule.MINUTES,
        5,
        -1,
    )


def test_it_updates_a_changed_schedule_and_deletes_stale_ones():
    sync_schedules([ScheduledTask("tick", "sdplatform.tasks.clear_expired_sessions", Schedule.MINUTES, 5)])
    Schedule.objects.create(name="clicked together in the admin", func="os.getcwd", schedule_type=Schedule.HOURLY)

    counts = sync_schedules([ScheduledTask("tick", "sdplatform.tasks.clear_expired_sessions", Schedule.MINUTES, 1)])
    assert counts == {"created": 0, "updated": 1, "unchanged": 0, "deleted": 1}
    assert list(Schedule.objects.values_list("name", "minutes")) == [("tick", 1)]


def test_the_command_prints_counts(capsys):
    call_command("sync_schedules")
    assert "created" in capsys.readouterr().out
    assert Schedule.objects.filter(name="clear expired sessions", func="sdplatform.tasks.clear_expired_sessions").exists()
