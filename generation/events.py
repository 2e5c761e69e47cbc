"""Every message to a user's websocket goes through here (STYLE rule 11)."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def user_group(user_id: int) -> str:
    return f"jobs.user.{user_id}"


def send_to_user(user_id: int, data: dict[str, Any]) -> None:
    """Send one JSON event to all of the user's open websockets."""
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(user_group(user_id), {"type": "job.event", "data": data})
