"""Turns readings into payloads on tag topics and publishes them QoS 1."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Callable

from nexus.gateway.adapter import Reading
from nexus.gateway.metrics import GatewayMetrics
from nexus.model.payload import PointPayload, encode_point, point_topic
from nexus.mqtt import MqttClient

log = logging.getLogger(__name__)

AckCallback = Callable[[str, PointPayload], None]
"""Called with (topic, payload) once the broker acknowledged a point."""


class Publisher:
    def __init__(
        self,
        mqtt: MqttClient,
        *,
        gateway_id: str,
        metrics: GatewayMetrics,
        on_acked: AckCallback | None = None,
    ) -> None:
        self._mqtt = mqtt
        self._gateway_id = gateway_id
        self._metrics = metrics
        self._on_acked = on_acked
        self._seq: dict[str, itertools.count[int]] = {}
        self._outstanding: set[asyncio.Future[None]] = set()

    async def publish(
        self, site: str, line: str, device: str, readings: list[Reading], ts_ms: int
    ) -> None:
        """Hand every reading to the broker; returns when they are sent, not yet acknowledged."""
        seq = self._seq.setdefault(device, itertools.count(1))
        for reading in readings:
            payload = PointPayload(
                v=reading.value,
                q=reading.quality.label,
                ts=ts_ms,
                u=reading.unit,
                seq=next(seq),
                gw=self._gateway_id,
            )
            topic = point_topic(site, line, device, reading.tag)
            fut = await self._mqtt.publish_nowait(topic, encode_point(payload))
            self._outstanding.add(fut)
            self._metrics.inflight.inc()
            fut.add_done_callback(functools.partial(self._done, topic=topic, payload=payload))

    def _done(self, fut: asyncio.Future[None], *, topic: str, payload: PointPayload) -> None:
        self._outstanding.discard(fut)
        self._metrics.inflight.dec()
        if fut.cancelled():
            return
        if (error := fut.exception()) is not None:
            self._metrics.publish_failures.inc()
            log.error("point %s seq %d not published: %s", topic, payload.seq, error)
            return
        self._metrics.points_published.inc()
        if self._on_acked is not None:
            self._on_acked(topic, payload)

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    async def drain(self, within_s: float) -> bool:
        """Wait until every published point is acknowledged; False if some are still open."""
        if not self._outstanding:
            return True
        _, pending = await asyncio.wait(set(self._outstanding), timeout=within_s)
        return not pending
