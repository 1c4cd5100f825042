"""Turns readings into MQTT messages and publishes them QoS 1.

``batch`` mode (the default) sends all points of one device poll as one message on the device
topic; ``tag`` mode sends one message per point on its tag topic, for consumers that subscribe
to single tags. Both forms are in docs/data-contract.md; the ingest accepts both.

With a spool, messages produced while the broker is unreachable go to disk and are sent, in
order and before anything newer, once it is back (store-and-forward). Messages already handed to
the MQTT client when the connection drops stay in its memory and are resent on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import Callable
from enum import StrEnum

import msgspec

from nexus.backoff import Backoff
from nexus.errors import NoSubscribersError
from nexus.gateway.adapter import Reading
from nexus.gateway.metrics import GatewayMetrics
from nexus.gateway.spool import DiskSpool, Record
from nexus.model.payload import (
    PointPayload,
    decode_points,
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
        spool: DiskSpool | None = None,
    ) -> None:
        self._mqtt = mqtt
        self._gateway_id = gateway_id
        self._metrics = metrics
        self._mode = mode
        self._on_acked = on_acked
        self._seq: dict[str, itertools.count[int]] = {}
        self._outstanding: set[asyncio.Future[None]] = set()
        self.points_acked = 0
        self._spool = spool
        self._spooling = spool is not None and spool.pending
        self._kick = asyncio.Event()
        self._spool_idle = asyncio.Event()
        if not self._spooling:
            self._spool_idle.set()
        self._drainer: asyncio.Task[None] | None = None
        self._nobody_listening = False

    def start(self) -> None:
        """Start forwarding the spool (left over from before a restart, or filled later)."""
        if self._spool is not None and self._drainer is None:
            self._drainer = asyncio.create_task(self._forward(), name="spool:forward")
            if self._spooling:
                self._kick.set()

    async def stop(self) -> None:
        if self._drainer is not None:
            self._drainer.cancel()
            await asyncio.gather(self._drainer, return_exceptions=True)
            self._drainer = None
        if self._spool is not None:
            self._spool.close()

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
        spool = self._spool
        if spool is not None and (self._spooling or not self._mqtt.connected.is_set()):
            if not self._spooling:
                log.warning("broker unreachable: spooling to %s", spool.directory)
            spool.append(topic, body)
            self._spooling = True
            self._spool_idle.clear()
            self._metrics.spooled_points.inc(len(points))
            self._metrics.spool_bytes.set(spool.size_bytes)
            self._kick.set()
            return
        fut = await self._mqtt.publish_nowait(topic, body)
        self._outstanding.add(fut)
        self._metrics.inflight.inc(len(points))
        fut.add_done_callback(
            functools.partial(self._done, topic=topic, body=body, topics=topics, points=points)
        )

    def _undelivered(self, topic: str, body: bytes, points: list[PointPayload]) -> None:
        """The broker took the message but nobody subscribes: keep it for later if we can."""
        if not self._nobody_listening:
            log.warning(
                "broker reports no subscribers for %s (is the ingest running?); %s",
                topic,
                "keeping messages in the spool" if self._spool else "points are not delivered",
            )
            self._nobody_listening = True
        if self._spool is None:
            self._metrics.undelivered_points.inc(len(points))
            return
        self._spool.append(topic, body)
        self._spooling = True
        self._spool_idle.clear()
        self._metrics.spooled_points.inc(len(points))
        self._kick.set()

    def _done(
        self,
        fut: asyncio.Future[None],
        *,
        topic: str,
        body: bytes,
        topics: list[str],
        points: list[PointPayload],
    ) -> None:
        self._outstanding.discard(fut)
        self._metrics.inflight.dec(len(points))
        if fut.cancelled():
            return
        if isinstance(error := fut.exception(), NoSubscribersError):
            self._undelivered(topic, body, points)
            return
        if error is not None:
            self._metrics.publish_failures.inc()
            log.error("%d points of %s not published: %s", len(points), topics[0], error)
            return
        if self._nobody_listening:
            log.info("subscribers are back: points are delivered again")
            self._nobody_listening = False
        self._metrics.points_published.inc(len(points))
        self.points_acked += len(points)
        if self._on_acked is not None:
            for topic, point in zip(topics, points, strict=True):
                self._on_acked(topic, point)

    async def _forward(self) -> None:
        """Send spooled messages in order, a chunk at a time, once the broker is reachable."""
        spool = self._spool
        assert spool is not None
        backoff = Backoff(base=0.5, cap=10.0)
        while True:
            await self._kick.wait()
            await self._mqtt.connected.wait()
            chunk, position = spool.read(500)
            if not chunk:
                self._spooling = False
                self._spool_idle.set()
                self._kick.clear()
                self._metrics.spool_bytes.set(spool.size_bytes)
                log.info("spool forwarded; publishing directly again")
                continue
            futures = [await self._mqtt.publish_nowait(topic, body) for topic, body in chunk]
            results = await asyncio.gather(*futures, return_exceptions=True)
            if any(isinstance(r, NoSubscribersError) for r in results):
                # Not delivered: keep the chunk and try again (the copies that did arrive are
                # absorbed by the historian's unique key).
                if not self._nobody_listening:
                    log.warning("no subscribers while forwarding the spool; retrying")
                    self._nobody_listening = True
                await backoff.sleep()
                continue
            backoff.reset()
            self._nobody_listening = False
            spool.commit(position)
            self._metrics.spool_bytes.set(spool.size_bytes)
            for (topic, body), result in zip(chunk, results, strict=True):
                points = _points_of(topic, body)
                if isinstance(result, BaseException):
                    self._metrics.publish_failures.inc()
                    log.error("spooled message for %s refused: %s", topic, result)
                    continue
                self._metrics.points_published.inc(len(points))
                self.points_acked += len(points)
                if self._on_acked is not None:
                    for tag_topic, point in points:
                        self._on_acked(tag_topic, point)

    def spool_evicted(self, records: list[Record]) -> None:
        """The spool was full and dropped these: count their points as lost."""
        self._metrics.spool_evicted_points.inc(sum(len(_points_of(t, b)) for t, b in records))

    @property
    def spooling(self) -> bool:
        return self._spooling

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    async def forward_spool(self, within_s: float) -> bool:
        """At shutdown: give the spool up to `within_s` to reach the broker; False if it did not.

        What is left stays on disk and is sent by the next start (same spool directory).
        """
        if not self._spooling or self._drainer is None:
            return True
        self._kick.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._spool_idle.wait(), within_s)
        if self._spooling:
            log.warning("spool not yet forwarded at shutdown: it stays on disk for the next start")
        return not self._spooling

    async def drain(self, within_s: float) -> bool:
        """Wait until every published message is acknowledged; False if some are still open."""
        if not self._outstanding:
            return True
        _, pending = await asyncio.wait(set(self._outstanding), timeout=within_s)
        return not pending


def _points_of(topic: str, body: bytes) -> list[tuple[str, PointPayload]]:
    try:
        return decode_points(topic, body)
    except (
        ValueError,
        msgspec.DecodeError,
    ):  # our own encoding: cannot happen unless the spool file was damaged
        log.exception("undecodable spooled message for %s", topic)
        return []
