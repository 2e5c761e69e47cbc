from django_q.models import Schedule

from sdplatform.schedules import ScheduledTask

SCHEDULES = [
    ScheduledTask("check nodes", "cluster.tasks.check_nodes_for_a_minute", Schedule.MINUTES, 1),
]
