"""What a gateway publishes, read back over MQTT by tag, for tests to wait on."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from types import TracebackType

from nexus.conformance.runner import points_of, wait_subscribed
from nexus.model.payload import PointPayload, split_topic
from nexus.mqtt import MqttClient
from nexus.settings import MqttSettings


class Received:
    """``async with Received(settings, "dev/site1/#") as rx``: every point published under the
    filter, by (device, tag), in order; subscribed when the block starts."""

    def __init__(self, settings: MqttSettings, topic_filter: str) -> None:
        self._probe = f"nexus-test/{uuid.uuid4().hex}"
        self._client = MqttClient(
            settings.model_copy(update={"client_id": f"{settings.client_id}-rx"}),
            subscriptions=(topic_filter, self._probe),
        )
        self._task: asyncio.Task[None] | None = None
        self.points: dict[tuple[str, str], list[PointPayload]] = defaultdict(list)

    async def __aenter__(self) -> Received:
        await self._client.start()
        await wait_subscribed(self._client, self._probe)
        self._task = asyncio.create_task(self._collect(), name="test:received")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.stop()

    async def _collect(self) -> None:
        while True:
            message = await self._client.messages.get()
            if message.topic == self._probe:
                continue
            for topic, point in points_of(message):
                _, _, device, tag = split_topic(topic)
                self.points[(device, tag)].append(point)

    def of(self, device: str, tag: str) -> list[PointPayload]:
        return self.points.get((device, tag), [])

    def last(self, device: str, tag: str) -> PointPayload | None:
        points = self.of(device, tag)
        return points[-1] if points else None

    def count(self, device: str) -> int:
        return sum(len(p) for (d, _), p in self.points.items() if d == device)
