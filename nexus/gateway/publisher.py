"""Turns readings into MQTT messages and publishes them QoS 1.

``batch`` mode (the default) sends all points of one device poll as one message on the device
topic; ``tag`` mode sends one message per point on its tag topic, for consumers that subscribe
to single tags. Both forms are in docs/data-contract.md; the ingest accepts both.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Callable
from enum import StrEnum

from nexus.gateway.adapter import Reading
from nexus.gateway.metrics import GatewayMetrics
from nexus.model.payload import (
    PointPayload,
    device_topic,
    encode_batch,
    encode_point,
    point_topic,
)
from nexus.mqtt import MqttClient

log = logging.getLogger(__name__)

AckCallback = Callable[[str, PointPayload], None]
"""Called with (tag topic, point) for every point once the broker acknowledged it."""


class PublishMode(StrEnum):
    BATCH = "batch"
    TAG = "tag"


class Publisher:
    def __init__(
        self,
        mqtt: MqttClient,
        *,
        gateway_id: str,
        metrics: GatewayMetrics,
        mode: PublishMode = PublishMode.BATCH,
        on_acked: AckCallback | None = None,
    ) -> None:
        self._mqtt = mqtt
        self._gateway_id = gateway_id
        self._metrics = metrics
        self._mode = mode
        self._on_acked = on_acked
        self._seq: dict[str, itertools.count[int]] = {}
        self._outstanding: set[asyncio.Future[None]] = set()

    async def publish(
        self, site: str, line: str, device: str, readings: list[Reading], ts_ms: int
    ) -> None:
        """Hand the readings to the broker; returns when they are sent, not yet acknowledged."""
        if not readings:
            return
        seq = self._seq.setdefault(device, itertools.count(1))
        points = [
            PointPayload(
                v=r.value,
                q=r.quality.label,
                ts=ts_ms,
                u=r.unit,
                seq=next(seq),
                gw=self._gateway_id,
            )
            for r in readings
        ]
        topics = [point_topic(site, line, device, r.tag) for r in readings]
        if self._mode is PublishMode.BATCH:
            body = encode_batch(self._gateway_id, ts_ms, points, [r.tag for r in readings])
            await self._send(device_topic(site, line, device), body, topics, points)
            return
        for topic, point in zip(topics, points, strict=True):
            await self._send(topic, encode_point(point), [topic], [point])

    async def _send(
        self, topic: str, body: bytes, topics: list[str], points: list[PointPayload]
    ) -> None:
        fut = await self._mqtt.publish_nowait(topic, body)
        self._outstanding.add(fut)
        self._metrics.inflight.inc(len(points))
        fut.add_done_callback(functools.partial(self._done, topics=topics, points=points))

    def _done(
        self, fut: asyncio.Future[None], *, topics: list[str], points: list[PointPayload]
    ) -> None:
        self._outstanding.discard(fut)
        self._metrics.inflight.dec(len(points))
        if fut.cancelled():
            return
        if (error := fut.exception()) is not None:
            self._metrics.publish_failures.inc()
            log.error("%d points of %s not published: %s", len(points), topics[0], error)
            return
        self._metrics.points_published.inc(len(points))
        if self._on_acked is not None:
            for topic, point in zip(topics, points, strict=True):
                self._on_acked(topic, point)

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    async def drain(self, within_s: float) -> bool:
        """Wait until every published message is acknowledged; False if some are still open."""
        if not self._outstanding:
            return True
        _, pending = await asyncio.wait(set(self._outstanding), timeout=within_s)
        return not pending
