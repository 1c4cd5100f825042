from __future__ import annotations

import random

from nexus.backoff import Backoff
from nexus.gateway.breaker import BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state_of(b: CircuitBreaker) -> BreakerState:
    """The state, read through a call (so the type checker does not carry a narrowed state)."""
    return b.state


def breaker(clock: FakeClock) -> CircuitBreaker:
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(3))
    return CircuitBreaker(failure_threshold=3, backoff=backoff, clock=clock)


def test_opens_after_consecutive_failures_and_blocks_polls() -> None:
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(2):
        b.failure()
        assert b.allow()
    b.failure()
    assert b.state is BreakerState.OPEN
    assert not b.allow()
    assert b.next_probe_in is not None
    assert 0.5 <= b.next_probe_in <= 1.0


def test_half_open_probe_closes_on_success_and_reopens_longer_on_failure() -> None:
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(3):
        b.failure()
    clock.now += 1.0
    assert b.allow()
    assert b.state is BreakerState.HALF_OPEN
    b.failure()
    assert state_of(b) is BreakerState.OPEN
    first_wait = b.next_probe_in
    assert first_wait is not None
    assert first_wait >= 1.0  # the second delay is drawn from [1, 2]
    assert first_wait <= 2.0
    clock.now += 2.0
    assert b.allow()
    b.success()
    assert state_of(b) is BreakerState.CLOSED
    assert b.consecutive_failures == 0
    assert b.opened_count == 1


def test_a_success_resets_the_failure_count() -> None:
    clock = FakeClock()
    b = breaker(clock)
    b.failure()
    b.failure()
    b.success()
    b.failure()
    b.failure()
    assert b.state is BreakerState.CLOSED
