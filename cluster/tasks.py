"""django-q2 tasks of the cluster app. Each takes ids or nothing and is safe to run twice."""

import logging
import time

from django.conf import settings
from django.db import close_old_connections

from cluster.health import check_nodes
from cluster.models import Node
from cluster.signals import nodes_checked

log = logging.getLogger(__name__)

# django-q2's scheduler wakes about every 30 seconds and schedules have a
# resolution of a minute, so a 15-second cadence cannot be a schedule of its
# own: the "check nodes" schedule starts this loop once a minute and the loop
# checks every NODE_CHECK_SECONDS until just before the next one starts.
LOOP_SECONDS = 55


def check_nodes_for_a_minute() -> int:
    """Run health passes every NODE_CHECK_SECONDS for about a minute; returns the number of passes."""
    deadline = time.monotonic() + LOOP_SECONDS
    passes = 0
    while True:
        started = time.monotonic()
        close_old_connections()
        check_nodes()
        nodes_checked.send(sender=Node)
        passes += 1
        next_pass = started + settings.NODE_CHECK_SECONDS
        if next_pass + settings.NODE_CHECK_TIMEOUT > deadline:
            return passes
        time.sleep(max(0.0, next_pass - time.monotonic()))
