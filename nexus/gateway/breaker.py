"""A circuit breaker per device: stop hammering a device that does not answer.

    closed ──(failure_threshold consecutive failures)──▶ open
    open ──(probe delay elapsed)──▶ half-open: one probe poll
    half-open ──success──▶ closed        half-open ──failure──▶ open (longer delay)

Probe delays grow exponentially with jitter (nexus.backoff), capped, so hundreds of devices that
failed together do not all come back in the same second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from nexus.backoff import Backoff


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 3,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self._backoff = backoff or Backoff(base=1.0, cap=60.0)
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_count = 0
        self._next_probe = 0.0

    def allow(self) -> bool:
        """May the device be polled now? An open breaker lets one probe through when due."""
        if self.state is BreakerState.OPEN and self._clock() >= self._next_probe:
            self.state = BreakerState.HALF_OPEN
        return self.state is not BreakerState.OPEN

    def success(self) -> None:
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._backoff.reset()

    def failure(self) -> None:
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED
            and self.consecutive_failures >= self.failure_threshold
        ):
            if self.state is BreakerState.CLOSED:
                self.opened_count += 1
            self.state = BreakerState.OPEN
            self._next_probe = self._clock() + self._backoff.next_delay()

    @property
    def next_probe_in(self) -> float | None:
        if self.state is not BreakerState.OPEN:
            return None
        return max(0.0, self._next_probe - self._clock())
