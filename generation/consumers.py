from channels.generic.websocket import AsyncJsonWebsocketConsumer

from generation.events import user_group


class JobsConsumer(AsyncJsonWebsocketConsumer):
    """Pushes the signed-in user's job events; one group per user, so nothing needs filtering."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Closing before accept rejects the handshake (HTTP 403).
            await self.close()
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_event(self, event: dict) -> None:
        await self.send_json(event["data"])
