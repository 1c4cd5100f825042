"""The signal generators: deterministic, seeded, and each of the expected shape."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from simulators.signals import Constant, Counter, Ramp, RandomWalk, Signal, Sine, Step, tag_seed

SIGNAL: TypeAdapter[Signal] = TypeAdapter(Signal)


def make(**config: Any) -> Signal:
    return SIGNAL.validate_python(config)


def walk(**overrides: Any) -> Signal:
    return make(
        **{"kind": "random_walk", "start": 50, "step": 2, "min": 0, "max": 100, **overrides}
    )


def test_tag_seed_is_a_stable_hash() -> None:
    # Fixed: a change would change every random walk of every plant file.
    assert tag_seed(42, "press-01", "temperature") == tag_seed(42, "press-01", "temperature")
    assert tag_seed(42, "press-01", "temperature") == 0xC02DD5795C50A936
    seeds = {tag_seed(s, d, t) for s in (1, 2) for d in ("a", "b") for t in ("x", "y")}
    assert len(seeds) == 8
    assert tag_seed(1, "ab", "c") != tag_seed(1, "a", "bc")
    assert all(0 <= s < 2**64 for s in seeds)


def test_random_walk_same_seed_same_values_whatever_the_call_order() -> None:
    times = [i * 0.5 for i in range(400)]
    forward = [walk().at(t, 1234) for t in times]
    shuffled_signal = walk()
    order = list(range(len(times)))
    random.Random(0).shuffle(order)
    shuffled = dict.fromkeys(order, 0.0)
    for i in order:
        shuffled[i] = shuffled_signal.at(times[i], 1234)
    assert [shuffled[i] for i in range(len(times))] == forward
    # one signal shared by several seeds (the copies of a device) keeps them apart
    shared = walk()
    for t in times:
        assert shared.at(t, 1234) == forward[times.index(t)]
        shared.at(t, 99)


def test_random_walk_different_seed_differs() -> None:
    a = [walk().at(t, 1) for t in range(50)]
    b = [walk().at(t, 2) for t in range(50)]
    assert a[0] == b[0] == 50
    assert a != b


def test_random_walk_stays_in_range_moves_by_at_most_step_each_dt() -> None:
    signal = walk(start=95, step=3, min=90, max=100, dt_s=2)
    values = [signal.at(t, 5) for t in range(0, 2000, 2)]
    assert all(90 <= v <= 100 for v in values)
    assert all(abs(b - a) <= 3 for a, b in itertools.pairwise(values))
    assert len(set(values)) > 100
    assert signal.at(1.99, 5) == signal.at(0, 5)  # constant within a step
    assert signal.at(-5, 5) == 95  # before start: the start


def test_random_walk_clamps_its_start() -> None:
    assert walk(start=500).at(0, 1) == 100


def test_sine_bounds_and_shape() -> None:
    signal = make(kind="sine", amplitude=5, offset=80, period_s=60)
    values = [signal.at(t / 10, 0) for t in range(1200)]
    assert min(values) >= 75
    assert max(values) <= 85
    assert signal.at(15, 0) == pytest.approx(85)
    assert signal.at(45, 0) == pytest.approx(75)
    assert signal.at(0, 0) == pytest.approx(80)
    assert signal.at(7, 0) == pytest.approx(signal.at(67, 0))
    shifted = make(kind="sine", amplitude=5, offset=80, period_s=60, phase=90)
    assert shifted.at(0, 0) == pytest.approx(85)
    assert signal.bounds() == (75, 85)


def test_sine_is_the_same_for_every_seed() -> None:
    signal = make(kind="sine", amplitude=1, period_s=10)
    assert signal.at(3.3, 1) == signal.at(3.3, 2)


def test_ramp_is_linear_and_wraps_into_min_max() -> None:
    ramp = make(kind="ramp", start=10, slope=0.5)
    assert [ramp.at(t, 0) for t in (0, 2, 10)] == [10, 11, 15]
    assert ramp.bounds() is None
    saw = make(kind="ramp", start=90, slope=5, min=0, max=100)
    assert saw.at(0, 0) == 90
    assert saw.at(2, 0) == 0  # 100 wraps to min
    assert saw.at(3, 0) == 5
    assert all(0 <= saw.at(t / 3, 0) < 100 for t in range(1000))
    down = make(kind="ramp", start=100, slope=-1, min=0, max=100)
    assert down.at(1, 0) == 99
    assert down.at(101, 0) == 99


def test_step_cycles_through_levels() -> None:
    step = make(kind="step", levels=[1, 2, 3], dwell_s=10)
    assert [step.at(t, 0) for t in (0, 9.99, 10, 25, 30, 31)] == [1, 1, 2, 3, 1, 1]
    assert step.bounds() == (1, 3)


def test_counter_counts_and_wraps_after_max() -> None:
    counter = make(kind="counter", start=5, increment=1, max=9)
    assert [counter.at(t, 0) for t in (0, 1, 4, 4.9, 5, 6, 15)] == [5, 6, 9, 9, 0, 1, 0]
    slow = make(kind="counter", increment=0.25)
    assert [slow.at(t, 0) for t in (0, 3.9, 4, 8)] == [0, 0, 1, 2]
    assert slow.bounds() == (0, 65535)
    assert all(float(v).is_integer() for v in (counter.at(t / 7, 0) for t in range(100)))


def test_constant() -> None:
    constant = make(kind="constant", value=3.5)
    assert constant.at(0, 0) == constant.at(1e6, 9) == 3.5


def test_discriminated_union_picks_the_kind() -> None:
    assert isinstance(make(kind="sine", amplitude=1, period_s=1), Sine)
    assert isinstance(make(kind="ramp", slope=1), Ramp)
    assert isinstance(walk(), RandomWalk)
    assert isinstance(make(kind="step", levels=[0], dwell_s=1), Step)
    assert isinstance(make(kind="counter", increment=1), Counter)
    assert isinstance(make(kind="constant", value=0), Constant)


@pytest.mark.parametrize(
    "config",
    [
        {"kind": "square", "period_s": 1},
        {"amplitude": 1, "period_s": 1},
        {"kind": "sine", "amplitude": 1, "period_s": 0},
        {"kind": "sine", "amplitude": 1, "period_s": 1, "frequency": 2},
        {"kind": "ramp", "slope": 1, "min": 0},
        {"kind": "ramp", "slope": 1, "min": 5, "max": 5},
        {"kind": "random_walk", "start": 0, "step": 1, "min": 1, "max": 0},
        {"kind": "step", "levels": [], "dwell_s": 1},
        {"kind": "counter", "increment": 1, "start": 10, "max": 5},
    ],
)
def test_invalid_signal_configs_are_rejected(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make(**config)


def test_signals_are_pure_functions_of_time() -> None:
    signals = [
        make(kind="sine", amplitude=2, period_s=13, phase=10),
        make(kind="ramp", start=1, slope=0.1, min=0, max=3),
        walk(),
        make(kind="step", levels=[4, 5], dwell_s=2),
        make(kind="counter", increment=3, max=100),
    ]
    rng = random.Random(1)
    times = [rng.uniform(0, 500) for _ in range(50)]
    for signal in signals:
        first = [signal.at(t, 77) for t in times]
        again = [signal.at(t, 77) for t in reversed(times)][::-1]
        assert first == again
        assert all(math.isfinite(v) for v in first)
