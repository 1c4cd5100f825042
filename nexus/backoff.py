"""One capped, jittered exponential backoff, used for every retry loop."""

from __future__ import annotations

import asyncio
import random


class Backoff:
    """Delays of base · 2ⁿ, capped at `cap`, each drawn uniformly from [½·d, d] ("equal jitter").

    Jitter spreads the retries of many clients that failed together, so a server coming back is
    not hit by all of them at once.
    """

    def __init__(self, base: float = 0.2, cap: float = 30.0, *, rng: random.Random | None = None):
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    async def sleep(self) -> float:
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay

    def reset(self) -> None:
        self.attempt = 0
