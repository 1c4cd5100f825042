"""Polls one device on its own schedule; a slow or dead device delays nobody else."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from nexus.errors import DeviceError
from nexus.gateway.adapter import DeviceAdapter
from nexus.gateway.metrics import GatewayMetrics
from nexus.gateway.publisher import Publisher

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DeviceStatus:
    """What the gateway knows about one device, for the API, /ready and the demo's live view."""

    name: str
    site: str
    line: str
    interval_s: float
    up: bool = False
    polls: int = 0
    errors: int = 0
    points: int = 0
    last_ok_ms: int | None = None
    last_error: str | None = None
    missed_deadlines: int = 0
    _seen: bool = field(default=False, repr=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "site": self.site,
            "line": self.line,
            "interval_s": self.interval_s,
            "up": self.up,
            "polls": self.polls,
            "errors": self.errors,
            "points": self.points,
            "last_ok_ms": self.last_ok_ms,
            "last_error": self.last_error,
            "missed_deadlines": self.missed_deadlines,
        }


class DevicePoller:
    def __init__(
        self,
        adapter: DeviceAdapter,
        status: DeviceStatus,
        publisher: Publisher,
        metrics: GatewayMetrics,
    ) -> None:
        self.adapter = adapter
        self.status = status
        self._publisher = publisher
        self._metrics = metrics

    async def run(self) -> None:
        """Poll forever at fixed ticks; a poll that overruns skips the ticks it missed."""
        loop = asyncio.get_running_loop()
        interval = self.status.interval_s
        next_tick = loop.time()
        try:
            while True:
                await self.poll_once()
                next_tick += interval
                now = loop.time()
                if now > next_tick:
                    missed = int((now - next_tick) // interval) + 1
                    next_tick += missed * interval
                    self.status.missed_deadlines += missed
                    self._metrics.missed_deadlines.labels(self.status.name).inc(missed)
                await asyncio.sleep(next_tick - now)
        finally:
            await self.adapter.close()

    async def poll_once(self) -> None:
        status = self.status
        started = time.perf_counter()
        ts_ms = time.time_ns() // 1_000_000
        status.polls += 1
        try:
            readings = await self.adapter.read()
        except Exception as exc:  # one broken device must never stop the others
            if not isinstance(exc, DeviceError):
                log.exception("%s: unexpected error while polling", status.name)
            status.errors += 1
            status.last_error = str(exc)
            self._metrics.polls.labels(status.name, "error").inc()
            self._metrics.device_up.labels(status.name).set(0)
            if status.up or not status._seen:
                log.warning("%s is down: %s", status.name, exc)
            status.up, status._seen = False, True
            return
        self._metrics.poll_seconds.observe(time.perf_counter() - started)
        self._metrics.polls.labels(status.name, "ok").inc()
        self._metrics.device_up.labels(status.name).set(1)
        self._metrics.points_acquired.inc(len(readings))
        if not status.up:
            log.info("%s is up (%d tags)", status.name, len(readings))
        status.up, status._seen = True, True
        status.last_ok_ms = ts_ms
        status.points += len(readings)
        await self._publisher.publish(status.site, status.line, status.name, readings, ts_ms)
