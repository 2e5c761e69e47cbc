"""Every message to a user's websocket goes through here (STYLE rule 11).

An event is the job's public state (``job_state``) plus an ``event`` name:
queued, started, progress, succeeded, failed, cancelled, expired.
"""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from generation.models import Job
from generation.queue import job_state


def user_group(user_id: int) -> str:
    return f"jobs.user.{user_id}"


def send_to_user(user_id: int, data: dict[str, Any]) -> None:
    """Send one JSON event to all of the user's open websockets."""
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(user_group(user_id), {"type": "job.event", "data": data})


def job_changed(job: Job, event: str, **extra: Any) -> None:
    send_to_user(job.owner_id, {"event": event, **job_state(job), **extra})
