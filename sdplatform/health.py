"""Probes behind /healthz: can this process reach its database and channel layer?"""

import asyncio
import logging
import time
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import DatabaseError, connection

log = logging.getLogger(__name__)

CHANNEL_LAYER_TIMEOUT = 3.0


def check_database() -> dict[str, Any]:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as e:
        # The details (host, user) stay in the log: this endpoint needs no login.
        log.warning("health: database check failed: %s", e)
        return {"ok": False, "vendor": connection.vendor, "error": "unreachable"}
    return {"ok": True, "vendor": connection.vendor, "ms": _ms_since(started)}


def check_channel_layer() -> dict[str, Any]:
    """Send a message to a fresh channel and read it back, as a consumer would."""
    layer = get_channel_layer()
    backend = f"{type(layer).__module__}.{type(layer).__name__}"
    started = time.monotonic()
    try:
        async_to_sync(_round_trip)(layer)
    except Exception as e:  # any layer failure (refused, timeout, full) means "not ok"
        log.warning("health: channel layer check failed: %r", e)
        return {"ok": False, "backend": backend, "error": "unreachable"}
    return {"ok": True, "backend": backend, "ms": _ms_since(started)}


async def _round_trip(layer) -> None:
    # A plain channel name rather than new_channel(): channels-lite serves
    # process-local channels from a poller that does not survive between the
    # event loops of successive sync requests.
    channel = f"healthz.{uuid.uuid4().hex}"
    await layer.send(channel, {"type": "healthz.ping"})
    message = await asyncio.wait_for(layer.receive(channel), CHANNEL_LAYER_TIMEOUT)
    if message.get("type") != "healthz.ping":
        raise RuntimeError(f"unexpected message {message!r}")


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
