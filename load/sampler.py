"""End-to-end latency, publish → row committed in the historian, measured on a sample.

Nobody can subscribe to a database commit, so the sampler asks: about ``per_s`` acknowledged
points per second are remembered with their publish time, and every ``interval_s`` one indexed
query asks which of them are stored now. Each acknowledged message is taken with probability
per_s ÷ (messages acknowledged in the last second), so samples spread evenly over time (the
ingest commits in batches: a sample taken at bursts would see only one phase of its cycle);
a token bucket caps the rate all the same.

- When the server tracks commit timestamps (``track_commit_timestamp = on``) the latency is
  exact: the row's commit time minus the publish time (both wall clocks; one machine, or NTP).
- Otherwise it is the time of the first query that saw the row minus the publish time: an
  upper bound, at most ``interval_s`` late.

A sampled point not stored within ``timeout_s`` is reported as never stored.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from load.telemetry import Key

StoredLookup = Callable[[Sequence[Key]], Mapping[Key, float | None]]
"""Which of these keys are stored, each with its commit time in ms (or None if unknown)."""


@dataclass(frozen=True, slots=True)
class Sample:
    key: Key
    published: float
    """``clock()`` at publish."""
    published_wall_ms: float
    """Wall time at publish, ms since the epoch (compared with commit timestamps)."""


@dataclass(frozen=True, slots=True)
class Observation:
    sample: Sample
    latency_s: float
    exact: bool
    """True when measured from the commit timestamp, False when from the query time."""


class E2ESampler:
    """Remembers up to ``per_s`` acknowledged points per second and finds them stored."""

    def __init__(
        self,
        *,
        per_s: float,
        timeout_s: float,
        max_pending: int = 5000,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if per_s < 0 or timeout_s <= 0:
            raise ValueError("need per_s >= 0 and timeout_s > 0")
        self.per_s = per_s
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self._clock = clock
        self._rand = rand
        self._window_start = clock()
        self._window_offers = 0
        self._offer_rate = 0.0
        self._tokens = 1.0 if per_s > 0 else 0.0
        self._refilled = clock()
        self._pending: dict[Key, Sample] = {}

    @property
    def pending(self) -> int:
        return len(self._pending)

    def offer(self, key: Key, published: float, published_wall_ms: float) -> bool:
        """Sample this point if the budget allows; True when it was taken."""
        if self.per_s == 0 or len(self._pending) >= self.max_pending:
            return False
        now = self._clock()
        if now - self._window_start >= 1.0:
            self._offer_rate = self._window_offers / (now - self._window_start)
            self._window_start, self._window_offers = now, 0
        self._window_offers += 1
        if self._offer_rate > self.per_s and self._rand() >= self.per_s / self._offer_rate:
            return False
        self._tokens = min(max(self.per_s, 1.0), self._tokens + (now - self._refilled) * self.per_s)
        self._refilled = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        self._pending[key] = Sample(key, published, published_wall_ms)
        return True

    def check(self, lookup: StoredLookup) -> tuple[list[Observation], list[Sample]]:
        """Ask once: (samples found stored, samples past the timeout and still not stored)."""
        if not self._pending:
            return [], []
        asked = self._clock()
        stored = lookup(list(self._pending))
        found: list[Observation] = []
        for key, commit_ms in stored.items():
            sample = self._pending.pop(key, None)
            if sample is None:
                continue
            if commit_ms is not None:
                latency = max(0.0, commit_ms - sample.published_wall_ms) / 1000
                found.append(Observation(sample, latency, exact=True))
            else:
                found.append(Observation(sample, max(0.0, asked - sample.published), exact=False))
        expired = [s for s in self._pending.values() if asked - s.published > self.timeout_s]
        for sample in expired:
            del self._pending[sample.key]
        return found, expired

    def abandon(self) -> list[Sample]:
        """Forget every pending sample (end of run): they were never seen stored."""
        pending = list(self._pending.values())
        self._pending.clear()
        return pending
