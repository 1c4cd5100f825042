from __future__ import annotations

import random

import pytest

from nexus.backoff import Backoff


def test_delays_grow_exponentially_within_jitter_and_cap() -> None:
    backoff = Backoff(base=0.5, cap=4.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_reset_starts_over_and_jitter_differs_between_clients() -> None:
    a, b = Backoff(rng=random.Random(1)), Backoff(rng=random.Random(2))
    for _ in range(5):
        a.next_delay()
    a.reset()
    assert a.next_delay() <= a.base
    assert [Backoff(rng=random.Random(1)).next_delay() for _ in range(1)] != [b.next_delay()]


def test_invalid_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="base"):
        Backoff(base=0)
