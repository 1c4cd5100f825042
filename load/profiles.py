"""Load profiles: how many simulated devices run at each second of a test, and when it ends.

Pure functions of the run time, so they are tested without Locust; ``load.shapes`` wraps each
in a Locust ``LoadTestShape``. Parameters come from NEXUS_LOAD_* environment variables
(docs/load-testing.md); an invalid value raises ``ProfileError`` naming the variable.

- **step**: ``STEP_USERS`` more devices every ``STEP_SECONDS``, ``STEPS`` times, then stop.
- **ramp**: from ``RAMP_FROM`` to ``RAMP_TO`` devices linearly over ``RAMP_SECONDS``, hold
  ``HOLD_SECONDS``, then stop.
- **spike**: ``SPIKE_BASE`` devices for ``SPIKE_AT`` seconds, ``SPIKE_PEAK`` for
  ``SPIKE_SECONDS``, ``SPIKE_BASE`` again for ``SPIKE_AFTER`` seconds (recovery), then stop.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

PREFIX = "NEXUS_LOAD_"

Tick = tuple[int, float]
"""(users, spawn rate per second)"""


class ProfileError(ValueError):
    """An invalid profile parameter; the message names the environment variable."""


class Profile(Protocol):
    def at(self, t: float) -> Tick | None:
        """Users and spawn rate at run time ``t`` seconds; None when the test is over."""
        ...

    @property
    def duration_s(self) -> float: ...


@dataclass(frozen=True)
class StepProfile:
    users_per_step: int = 10
    step_s: float = 30.0
    steps: int = 5
    spawn_rate: float = 0.0
    """0: the step's users within one second."""

    @property
    def duration_s(self) -> float:
        return self.steps * self.step_s

    def at(self, t: float) -> Tick | None:
        if t >= self.duration_s:
            return None
        step = int(t // self.step_s) + 1
        return step * self.users_per_step, self.spawn_rate or float(self.users_per_step)


@dataclass(frozen=True)
class RampProfile:
    start_users: int = 0
    end_users: int = 100
    ramp_s: float = 120.0
    hold_s: float = 30.0
    spawn_rate: float = 0.0
    """0: twice the ramp's slope (the shape re-targets every second)."""

    @property
    def duration_s(self) -> float:
        return self.ramp_s + self.hold_s

    def at(self, t: float) -> Tick | None:
        if t >= self.duration_s:
            return None
        fraction = min(1.0, t / self.ramp_s)
        users = round(self.start_users + (self.end_users - self.start_users) * fraction)
        slope = abs(self.end_users - self.start_users) / self.ramp_s
        return users, self.spawn_rate or max(1.0, math.ceil(2 * slope))


@dataclass(frozen=True)
class SpikeProfile:
    base_users: int = 10
    peak_users: int = 100
    before_s: float = 30.0
    spike_s: float = 30.0
    after_s: float = 60.0
    spawn_rate: float = 0.0
    """0: the whole spike within one second."""

    @property
    def duration_s(self) -> float:
        return self.before_s + self.spike_s + self.after_s

    def at(self, t: float) -> Tick | None:
        if t >= self.duration_s:
            return None
        rate = self.spawn_rate or float(max(1, abs(self.peak_users - self.base_users)))
        in_spike = self.before_s <= t < self.before_s + self.spike_s
        return (self.peak_users if in_spike else self.base_users), rate


PROFILES = ("step", "ramp", "spike")


class _Env:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(PREFIX + name, "").strip()
        return value or None

    def users(self, name: str, default: int) -> int:
        raw = self._raw(name)
        try:
            value = default if raw is None else int(raw)
        except ValueError:
            raise ProfileError(f"{PREFIX}{name}: not an integer: {raw!r}") from None
        if not 0 <= value <= 100_000:
            raise ProfileError(f"{PREFIX}{name}: must be 0–100000, not {value}")
        return value

    def seconds(self, name: str, default: float, *, positive: bool = True) -> float:
        raw = self._raw(name)
        try:
            value = default if raw is None else float(raw)
        except ValueError:
            raise ProfileError(f"{PREFIX}{name}: not a number of seconds: {raw!r}") from None
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise ProfileError(f"{PREFIX}{name}: must be {'>' if positive else '>='} 0")
        return value


def profile_from_env(name: str, env: Mapping[str, str] | None = None) -> Profile:
    """The profile ``name`` (step, ramp, spike) with its NEXUS_LOAD_* parameters."""
    e = _Env(os.environ if env is None else env)
    rate = e.seconds("SPAWN_RATE", 0.0, positive=False)
    if name == "step":
        steps = e.users("STEPS", 5)
        if steps < 1:
            raise ProfileError(f"{PREFIX}STEPS: at least 1")
        return StepProfile(e.users("STEP_USERS", 10), e.seconds("STEP_SECONDS", 30), steps, rate)
    if name == "ramp":
        return RampProfile(
            e.users("RAMP_FROM", 0),
            e.users("RAMP_TO", 100),
            e.seconds("RAMP_SECONDS", 120),
            e.seconds("HOLD_SECONDS", 30, positive=False),
            rate,
        )
    if name == "spike":
        return SpikeProfile(
            e.users("SPIKE_BASE", 10),
            e.users("SPIKE_PEAK", 100),
            e.seconds("SPIKE_AT", 30, positive=False),
            e.seconds("SPIKE_SECONDS", 30),
            e.seconds("SPIKE_AFTER", 60, positive=False),
            rate,
        )
    raise ProfileError(f"{PREFIX}SHAPE: unknown shape {name!r} (step, ramp, spike)")
