"""Every message to a user's websocket goes through here (STYLE rule 11).

An event is the job's public state (``job_state``) plus an ``event`` name:
queued, started, progress, succeeded, failed, cancelled, expired.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from generation import webhooks
from generation.models import Job
from generation.queue import job_state


log = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"jobs.user.{user_id}"


def send_to_user(user_id: int, data: dict[str, Any]) -> None:
    """Send one JSON event to all of the user's open websockets."""
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(user_group(user_id), {"type": "job.event", "data": data})


def job_changed(job: Job, event: str, **extra: Any) -> None:
    """Tell the owner's open pages; best effort, as the job's row is the truth.

    A channel layer that is down must not fail a job: pages catch up from
    the job's state when their websocket reconnects.
    """
    try:
        send_to_user(job.owner_id, {"event": event, **job_state(job), **extra})
    except Exception:
        log.warning("job %s: could not send the %s event", job.code, event, exc_info=True)
    # The job's callback, if it has one and this event ended it (never raises).
    webhooks.job_ended(job, event)
