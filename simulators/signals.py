"""Deterministic signal generators: each value is a pure function of (simulated time, seed).

A signal is configured in the plant file by a mapping with a `kind` key; the kinds are
`sine`, `ramp`, `random_walk`, `step`, `counter`, `constant`, `schedule` and `text` (strings).
`t` is the simulated time in seconds since the twin started (see `simulators.clock.SimClock`);
`seed` is the tag's seed, derived from the plant seed, the device name and the tag name by
`tag_seed` (a stable hash, so it is the same in every process and on every run). Only
`random_walk` uses the seed; the other kinds are functions of `t` alone.

The kind `model` is not a function of `t`: it names an output of one of the device's process
models (simulators/process/), and is bound to that model when the plant is expanded. What a twin
tag serves is any `Source`: a signal, a bound model output or a replayed recording.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

_MASK64 = (1 << 64) - 1


def tag_seed(plant_seed: int, device: str, tag: str) -> int:
    """The seed of one tag: a stable 64-bit hash of (plant seed, device name, tag name)."""
    text = f"{plant_seed}\x1f{device}\x1f{tag}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def model_seed(plant_seed: int, device: str, model: str) -> int:
    """The seed of one process model of one expanded device (its random faults, its inputs).

    `tag_seed` with the model's name prefixed by "model:": tag names cannot contain ":", so a
    model's stream never equals a tag's, and each copy of a `count` device gets its own.
    """
    return tag_seed(plant_seed, device, f"model:{model}")


def _splitmix64(x: int) -> int:
    """One SplitMix64 output for input `x` (a counter-based PRNG: no state to carry)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _uniform(seed: int, k: int) -> float:
    """A deterministic number in [-1, 1) for step `k` of the stream `seed`."""
    bits = _splitmix64((seed ^ _splitmix64(k)) & _MASK64) >> 11  # 53 random bits
    return bits / float(1 << 52) - 1.0


def uniform01(seed: int, k: int) -> float:
    """A deterministic number in [0, 1) for step `k` of the stream `seed` (no state)."""
    return (_splitmix64((seed ^ _splitmix64(k)) & _MASK64) >> 11) / float(1 << 53)


def derive_seed(seed: int, stream: int) -> int:
    """An independent stream of `seed` (e.g. one for "does it fail", one for "how long")."""
    return _splitmix64((seed + 0x632BE59BD9B4E019 * (stream + 1)) & _MASK64)


class Source(Protocol):
    """What a twin tag serves: a signal, a bound model output or a replayed recording."""

    @property
    def kind(self) -> str:
        """The signal's kind; "model" for a bound model output, "replay" for a recording."""
        ...

    def at(self, t: float, seed: int) -> float:
        """The numeric value at simulated time `t`."""
        ...

    def sample(self, t: float, seed: int) -> float | str:
        """The value at `t`: a string for a text source, else a number."""
        ...

    def bounds(self) -> tuple[float, float] | None:
        """The smallest and largest value, or None if unknown or unbounded."""
        ...


class _Signal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def at(self, t: float, seed: int) -> float:
        """The value at simulated time `t` (seconds) for the tag seeded with `seed`."""
        raise NotImplementedError  # pragma: no cover - overridden

    def sample(self, t: float, seed: int) -> float | str:
        """The value at `t`; only a text signal gives a string."""
        return self.at(t, seed)

    def bounds(self) -> tuple[float, float] | None:
        """The smallest and largest value the signal can take, or None if unbounded."""
        raise NotImplementedError  # pragma: no cover - overridden


class Sine(_Signal):
    """offset + amplitude · sin(2π · t / period_s + phase), phase in degrees."""

    kind: Literal["sine"]
    amplitude: float
    offset: float = 0.0
    period_s: float = Field(gt=0)
    phase: float = Field(default=0.0, description="degrees")

    def at(self, t: float, seed: int) -> float:
        angle = 2.0 * math.pi * t / self.period_s + math.radians(self.phase)
        return self.offset + self.amplitude * math.sin(angle)

    def bounds(self) -> tuple[float, float]:
        a = abs(self.amplitude)
        return self.offset - a, self.offset + a


class Ramp(_Signal):
    """start + slope · t; with `min` and `max`, wraps into [min, max) (a saw tooth)."""

    kind: Literal["ramp"]
    start: float = 0.0
    slope: float = Field(description="change per second")
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check_wrap(self) -> Ramp:
        if (self.min is None) != (self.max is None):
            raise ValueError("set both min and max (to wrap) or neither")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError("min must be less than max")
        return self

    def at(self, t: float, seed: int) -> float:
        v = self.start + self.slope * t
        if self.min is None or self.max is None:
            return v
        return self.min + (v - self.min) % (self.max - self.min)

    def bounds(self) -> tuple[float, float] | None:
        if self.min is None or self.max is None:
            return None
        return self.min, self.max


class RandomWalk(_Signal):
    """A bounded random walk: every `dt_s` seconds the value moves by up to ±step.

    The value at step k = floor(t / dt_s) is start (clamped into [min, max]) followed by k
    moves, each uniform in [-step, step) from a counter-based PRNG keyed by (seed, step index),
    reflected at min and max. The same (seed, t) always gives the same value whatever the call
    order. The last (step, value) per seed is memoised so time moving forward costs one move per
    step; asking for an earlier time recomputes from step 0.
    """

    kind: Literal["random_walk"]
    start: float
    step: float = Field(gt=0)
    min: float
    max: float
    dt_s: float = Field(default=1.0, gt=0)

    _memo: dict[int, tuple[int, float]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_range(self) -> RandomWalk:
        if self.min >= self.max:
            raise ValueError("min must be less than max")
        return self

    def at(self, t: float, seed: int) -> float:
        k = max(0, math.floor(t / self.dt_s))
        k0, v = self._memo.get(seed, (0, min(max(self.start, self.min), self.max)))
        if k < k0:
            k0, v = 0, min(max(self.start, self.min), self.max)
        lo, hi, step = self.min, self.max, self.step
        for i in range(k0, k):
            v += step * _uniform(seed, i)
            if v > hi:
                v = 2.0 * hi - v
            if v < lo:
                v = 2.0 * lo - v
            v = min(max(v, lo), hi)
        self._memo[seed] = (k, v)
        return v

    def bounds(self) -> tuple[float, float]:
        return self.min, self.max


class Step(_Signal):
    """Cycles through `levels`, holding each for `dwell_s` seconds."""

    kind: Literal["step"]
    levels: list[float] = Field(min_length=1)
    dwell_s: float = Field(gt=0)

    def at(self, t: float, seed: int) -> float:
        return self.levels[math.floor(t / self.dwell_s) % len(self.levels)]

    def bounds(self) -> tuple[float, float]:
        return min(self.levels), max(self.levels)


class Counter(_Signal):
    """An integer count: floor(start + increment · t), wrapping to 0 after `max`."""

    kind: Literal["counter"]
    start: int = Field(default=0, ge=0)
    increment: float = Field(gt=0, description="counts per second")
    max: int = Field(default=65535, ge=1, description="last value before wrapping to 0")

    @model_validator(mode="after")
    def _check_start(self) -> Counter:
        if self.start > self.max:
            raise ValueError("start must not exceed max")
        return self

    def at(self, t: float, seed: int) -> float:
        return float(math.floor(self.start + self.increment * t) % (self.max + 1))

    def bounds(self) -> tuple[float, float]:
        return 0.0, float(self.max)


class Constant(_Signal):
    """Always `value` (an integer stays exact: 64-bit limits are served as written)."""

    kind: Literal["constant"]
    value: int | float

    def at(self, t: float, seed: int) -> float:
        return self.value

    def bounds(self) -> tuple[float, float]:
        return self.value, self.value


class Text(_Signal):
    """Cycles through the strings `values`, holding each for `dwell_s` seconds (string tags)."""

    kind: Literal["text"]
    values: list[str] = Field(min_length=1)
    dwell_s: float = Field(default=1.0, gt=0)

    def index_at(self, t: float) -> int:
        return math.floor(t / self.dwell_s) % len(self.values)

    def at(self, t: float, seed: int) -> float:
        """The index of the current string (a text has no numeric value)."""
        return float(self.index_at(t))

    def sample(self, t: float, seed: int) -> str:
        return self.text_at(t)

    def text_at(self, t: float) -> str:
        return self.values[self.index_at(t)]

    def bounds(self) -> tuple[float, float]:
        return 0.0, float(len(self.values) - 1)


class Schedule(_Signal):
    """A value that changes at given times and holds in between (a setpoint plan).

    `points` are [time_s, value] pairs in increasing time; the value at `t` is that of the last
    point at or before `t` (before the first point: the first value). With `period_s` the plan
    repeats (e.g. 86400 for a daily plan) and, before the first point of a period, the last
    value of the previous period holds.
    """

    kind: Literal["schedule"]
    points: list[tuple[float, float]] = Field(min_length=1)
    period_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_points(self) -> Schedule:
        times = [p[0] for p in self.points]
        if any(b <= a for a, b in itertools.pairwise(times)):
            raise ValueError("the points' times must increase")
        if times[0] < 0:
            raise ValueError("the points' times must not be negative")
        if self.period_s is not None and times[-1] >= self.period_s:
            raise ValueError("every point must lie within the period (time < period_s)")
        return self

    def at(self, t: float, seed: int) -> float:
        points = self.points
        if self.period_s is not None:
            t %= self.period_s
        i = bisect.bisect_right(points, t, key=lambda p: p[0]) - 1
        if i < 0:
            return points[-1 if self.period_s is not None else 0][1]
        return points[i][1]

    def bounds(self) -> tuple[float, float]:
        values = [p[1] for p in self.points]
        return min(values), max(values)


class ModelRef(_Signal):
    """An output of one of the device's process models: `output` · scale + offset.

    In the plant file it only names the model and the output; `Plant.devices()` binds it to the
    model instance of each expanded device (`simulators.process.runtime.ModelOutput`), which is
    what the tag then serves. The reference itself has no value.
    """

    kind: Literal["model"]
    model: str = Field(min_length=1)
    output: str = Field(min_length=1)
    scale: float = 1.0
    offset: float = 0.0

    def at(self, t: float, seed: int) -> float:
        raise TypeError(
            f"model output {self.model}.{self.output} is not bound to a device (Plant.devices())"
        )

    def bounds(self) -> None:
        return None


Signal = Annotated[
    Sine | Ramp | RandomWalk | Step | Counter | Constant | Schedule | Text | ModelRef,
    Field(discriminator="kind"),
]
"""A tag's signal configuration, chosen by its `kind`."""
