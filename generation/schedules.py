from django_q.models import Schedule

from sdplatform.schedules import ScheduledTask

# The cluster's health loop also triggers keep_jobs_moving every ~15 s
# (nodes_checked); this schedule covers a worker pool without that loop.
SCHEDULES = [
    ScheduledTask("keep jobs moving", "generation.tasks.keep_jobs_moving", Schedule.MINUTES, 1),
    ScheduledTask("purge trash", "generation.tasks.purge_trash", Schedule.DAILY),
]
