"""The end-to-end sampler: a bounded sample, exact or query-time latency, and expiry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from load.sampler import E2ESampler
from load.telemetry import Key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def key(i: int) -> Key:
    return (f"dev/s/l/d/t{i}", 1_795_000_000_000 + i)


def test_at_most_per_s_points_a_second_are_sampled() -> None:
    clock = Clock()
    sampler = E2ESampler(per_s=2, timeout_s=10, clock=clock, rand=lambda: 0.0)
    taken = [sampler.offer(key(i), clock.now, 0) for i in range(5)]
    assert taken.count(True) == 1  # the bucket starts with one token
    clock.now += 1.0
    taken = [sampler.offer(key(10 + i), clock.now, 0) for i in range(5)]
    assert taken.count(True) == 2
    assert sampler.pending == 3


def test_samples_are_drawn_with_the_probability_that_spreads_them_evenly() -> None:
    clock = Clock()
    draws = iter([0.3, 0.1, 0.3, 0.1])
    sampler = E2ESampler(per_s=2, timeout_s=10, clock=clock, rand=lambda: next(draws))
    for i in range(10):  # the first second: 10 offers a second from now on
        sampler.offer(key(i), clock.now, 0)
    clock.now += 1.0
    taken = [sampler.offer(key(20 + i), clock.now, 0) for i in range(4)]
    assert taken == [False, True, False, True]  # p = 2/10 once 10 offers a second come


def test_no_samples_when_disabled() -> None:
    sampler = E2ESampler(per_s=0, timeout_s=10)
    assert not sampler.offer(key(1), 0, 0)


def test_latency_is_the_commit_time_when_known_else_the_query_time() -> None:
    clock = Clock()
    sampler = E2ESampler(per_s=100, timeout_s=10, clock=clock)
    sampler.offer(key(1), published=100.0, published_wall_ms=5_000.0)
    clock.now = 100.5
    sampler.offer(key(2), published=100.5, published_wall_ms=5_500.0)
    clock.now = 101.0

    def lookup(keys: Sequence[Key]) -> Mapping[Key, float | None]:
        return {key(1): 5_250.0, key(2): None}

    found, expired = sampler.check(lookup)
    latencies = {o.sample.key: (o.latency_s, o.exact) for o in found}
    assert latencies == {key(1): (0.25, True), key(2): (0.5, False)}
    assert expired == []
    assert sampler.pending == 0


def test_a_sample_never_stored_expires_after_the_timeout() -> None:
    clock = Clock()
    sampler = E2ESampler(per_s=100, timeout_s=5, clock=clock)
    sampler.offer(key(1), published=clock.now, published_wall_ms=0)

    def nothing(keys: Sequence[Key]) -> Mapping[Key, float | None]:
        return {}

    clock.now += 4
    assert sampler.check(nothing) == ([], [])
    clock.now += 2
    found, expired = sampler.check(nothing)
    assert found == []
    assert [s.key for s in expired] == [key(1)]
    assert sampler.pending == 0


def test_abandon_returns_what_is_still_pending() -> None:
    sampler = E2ESampler(per_s=100, timeout_s=5)
    sampler.offer(key(1), 0, 0)
    assert [s.key for s in sampler.abandon()] == [key(1)]
    assert sampler.pending == 0
