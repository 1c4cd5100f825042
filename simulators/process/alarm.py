"""`alarm`: a high and/or low alarm with hysteresis on another model's output or a tag.

    high alarm   on when x > high,  off again when x < high − hysteresis
    low alarm    on when x < low,   off again when x > low + hysteresis

Between the two thresholds the alarm keeps its state, so a value hovering around the threshold
(noise, a slow ramp) raises it once instead of chattering. The alarm is evaluated at every step
on the input at that step; `count` counts how often it was raised (an off → on change).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from simulators.process.base import Bounds, Input, ModelSpec, Runtime, flag


class Alarm(ModelSpec):
    """Threshold alarms with hysteresis, exposed as bool outputs."""

    kind: Literal["alarm"]
    input: Input = Field(description="the value watched (typically a model output or a tag)")
    high: float | None = None
    low: float | None = None
    hysteresis: float = Field(default=0.0, ge=0)

    INPUTS: ClassVar[tuple[str, ...]] = ("input",)
    OUTPUTS: ClassVar[dict[str, str]] = {"active": "", "high": "", "low": "", "count": ""}

    @model_validator(mode="after")
    def _check_thresholds(self) -> Alarm:
        if self.high is None and self.low is None:
            raise ValueError("set high, low or both")
        if self.high is not None and self.low is not None and self.low >= self.high:
            raise ValueError("low must be less than high")
        return self

    def output_bounds(self, output: str) -> Bounds:
        return None if output == "count" else (0.0, 1.0)

    def runtime(self, seed: int, dt: float) -> AlarmRuntime:
        return AlarmRuntime(self, seed, dt)


class AlarmRuntime(Runtime):
    __slots__ = ("count", "high_on", "low_on", "spec")

    def __init__(self, spec: Alarm, seed: int, dt: float) -> None:
        super().__init__(seed, dt, 4)
        self.spec = spec
        self.high_on = False
        self.low_on = False
        self.count = 0

    def start(self, t: float, x: Sequence[float]) -> None:
        self.high_on = self.low_on = False
        self.count = 0
        self.step(0, t, x)

    def step(self, k: int, t: float, x: Sequence[float]) -> None:
        spec = self.spec
        value = x[0]
        was = self.high_on or self.low_on
        if spec.high is not None:
            limit = spec.high - spec.hysteresis if self.high_on else spec.high
            self.high_on = value >= limit if self.high_on else value > limit
        if spec.low is not None:
            limit = spec.low + spec.hysteresis if self.low_on else spec.low
            self.low_on = value <= limit if self.low_on else value < limit
        active = self.high_on or self.low_on
        if active and not was:
            self.count += 1
        out = self.outputs
        out[0] = flag(active)
        out[1] = flag(self.high_on)
        out[2] = flag(self.low_on)
        out[3] = float(self.count)
