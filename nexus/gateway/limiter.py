"""Bounds reconnect attempts per protocol, so a plant coming back does not cause a storm."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType


class ConnectLimiter:
    """At most ``rate_per_s`` attempts per second (token bucket, burst of one second) and
    ``concurrency`` attempts at once. Used only for polls of devices that are down, i.e. the
    polls that open a connection; healthy devices never wait for it.
    """

    def __init__(
        self,
        *,
        rate_per_s: float,
        concurrency: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or concurrency < 1:
            raise ValueError("need rate_per_s > 0 and concurrency >= 1")
        self.rate_per_s = rate_per_s
        self._clock = clock
        self._tokens = rate_per_s
        self._last = clock()
        self._slots = asyncio.Semaphore(concurrency)
        self._lock = asyncio.Lock()
        self.attempts = 0

    async def _take_token(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(
                    self.rate_per_s, self._tokens + (now - self._last) * self.rate_per_s
                )
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate_per_s)

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        try:
            await self._take_token()
        except BaseException:
            self._slots.release()
            raise
        self.attempts += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._slots.release()
