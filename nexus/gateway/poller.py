"""Polls one device on its own schedule; a slow or dead device delays nobody else.

Each device has its own task, timeout and circuit breaker. While a device is down, its polls
(which open connections) pass through its protocol's ConnectLimiter, so a plant coming back at
once does not cause a reconnect storm; polls of healthy devices never wait for anything shared.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nexus.errors import DeviceError
from nexus.gateway.adapter import DeviceAdapter
from nexus.gateway.adapters import raise_if_cancelled
from nexus.gateway.breaker import BreakerState, CircuitBreaker
from nexus.gateway.limiter import ConnectLimiter
from nexus.gateway.metrics import GatewayMetrics
from nexus.gateway.publisher import Publisher

log = logging.getLogger(__name__)

StatusCallback = Callable[["DeviceStatus"], Awaitable[None]]


@dataclass(slots=True)
class DeviceStatus:
    """What the gateway knows about one device, for the API, metrics and the live view."""

    name: str
    site: str
    line: str
    interval_s: float
    protocol: str = "modbus"
    up: bool = False
    polls: int = 0
    errors: int = 0
    skipped: int = 0
    points: int = 0
    last_ok_ms: int | None = None
    last_error: str | None = None
    missed_deadlines: int = 0
    breaker: BreakerState = BreakerState.CLOSED
    _seen: bool = field(default=False, repr=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "site": self.site,
            "line": self.line,
            "protocol": self.protocol,
            "interval_s": self.interval_s,
            "up": self.up,
            "breaker": self.breaker.value,
            "polls": self.polls,
            "errors": self.errors,
            "skipped_while_open": self.skipped,
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
        *,
        breaker: CircuitBreaker | None = None,
        limiter: ConnectLimiter | None = None,
        on_change: StatusCallback | None = None,
    ) -> None:
        self.adapter = adapter
        self.status = status
        self.breaker = breaker or CircuitBreaker()
        self._publisher = publisher
        self._metrics = metrics
        self._limiter = limiter
        self._on_change = on_change

    async def run(self) -> None:
        """Poll forever at fixed ticks; a poll that overruns skips the ticks it missed."""
        loop = asyncio.get_running_loop()
        interval = self.status.interval_s
        next_tick = loop.time()
        try:
            while True:
                await self.poll_once()
                raise_if_cancelled()  # a library may have swallowed our cancellation (3.11)
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
        if not self.breaker.allow():
            status.skipped += 1
            return
        started = time.perf_counter()
        ts_ms = time.time_ns() // 1_000_000
        status.polls += 1
        try:
            if status.up or self._limiter is None:
                readings = await self.adapter.read()
            else:
                async with self._limiter:
                    self._metrics.reconnect_attempts.labels(status.protocol).inc()
                    readings = await self.adapter.read()
        except Exception as exc:  # one broken device must never stop the others
            if not isinstance(exc, DeviceError):
                log.exception("%s: unexpected error while polling", status.name)
            await self._failed(exc)
            status.breaker = self.breaker.state
            return
        self._metrics.poll_seconds.observe(time.perf_counter() - started)
        self._metrics.polls.labels(status.name, "ok").inc()
        self._metrics.points_acquired.inc(len(readings))
        self.breaker.success()
        status.last_ok_ms = ts_ms
        status.points += len(readings)
        if not status.up or not status._seen:
            log.info("%s is up (%d tags)", status.name, len(readings))
            await self._changed(up=True)
        await self._publisher.publish(status.site, status.line, status.name, readings, ts_ms)

    async def _failed(self, exc: Exception) -> None:
        status = self.status
        status.errors += 1
        status.last_error = str(exc)
        self._metrics.polls.labels(status.name, "error").inc()
        was_open = self.breaker.state is BreakerState.OPEN
        self.breaker.failure()
        if status.up or not status._seen:
            log.warning("%s is down: %s", status.name, exc)
            await self._changed(up=False)
        elif self.breaker.state is BreakerState.OPEN and not was_open:
            await self._changed(up=False)

    async def _changed(self, *, up: bool) -> None:
        status = self.status
        if self.breaker.state is BreakerState.OPEN and status.breaker is not BreakerState.OPEN:
            log.warning(
                "%s: circuit open after %d failures; next probe in %.1f s",
                status.name,
                self.breaker.consecutive_failures,
                self.breaker.next_probe_in or 0.0,
            )
        status.up, status._seen, status.breaker = up, True, self.breaker.state
        self._metrics.device_up.labels(status.name).set(1 if up else 0)
        self._metrics.breaker_open.labels(status.name).set(
            1 if self.breaker.state is BreakerState.OPEN else 0
        )
        if self._on_change is not None:
            await self._on_change(status)
