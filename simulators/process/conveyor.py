"""`conveyor`: a piece counter (bottles, cases, parts) whose rate follows the machine.

    rate   r = max(rate_per_min, 0) while run > 0, else 0        (pieces/min)
    total  dN/dt = r / 60                                         (pieces, never wraps)
    count  = (start + floor(N)) mod (max + 1)                     (what a PLC counter shows)

The count wraps to 0 after `max` (65535 for a 16-bit counter), as a real counter register does.
The rate is typically another model's output: the machine state (`run`) and a motor's speed
(`rate_per_min: {kind: model, model: motor, output: speed_rpm, scale: 0.25}`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from simulators.process.base import Bounds, Input, ModelSpec, Runtime, flag


class Conveyor(ModelSpec):
    """A piece counter that wraps at `max`, counting at a rate while the machine runs."""

    kind: Literal["conveyor"]
    rate_per_min: Input = Field(description="pieces per minute while running")
    run: Input = Field(default=1.0, description="counts while this is > 0")
    start: int = Field(default=0, ge=0, description="the count at t = 0")
    max: int = Field(default=65535, ge=1, description="last count before wrapping to 0")
    unit: str = Field(default="pieces", description="what is counted (the count's unit)")

    INPUTS: ClassVar[tuple[str, ...]] = ("rate_per_min", "run")

    @model_validator(mode="after")
    def _check_start(self) -> Conveyor:
        if self.start > self.max:
            raise ValueError("start must not exceed max")
        return self

    def units(self) -> dict[str, str]:
        return {
            "count": self.unit,
            "rate_per_min": f"{self.unit}/min",
            "total": self.unit,
            "running": "",
        }

    def output_bounds(self, output: str) -> Bounds:
        if output == "count":
            return 0.0, float(self.max)
        if output == "running":
            return 0.0, 1.0
        return None

    def runtime(self, seed: int, dt: float) -> ConveyorRuntime:
        return ConveyorRuntime(self, seed, dt)


class ConveyorRuntime(Runtime):
    __slots__ = ("rate", "spec", "total")

    def __init__(self, spec: Conveyor, seed: int, dt: float) -> None:
        super().__init__(seed, dt, 4)
        self.spec = spec
        self.total = 0.0
        self.rate = 0.0

    def start(self, t: float, x: Sequence[float]) -> None:
        self.total = 0.0
        self._outputs(x)

    def step(self, k: int, t: float, x: Sequence[float]) -> None:
        self.total += self.rate * self.dt / 60.0
        self._outputs(x)

    def _outputs(self, x: Sequence[float]) -> None:
        rate, run = x
        self.rate = max(rate, 0.0) if run > 0 else 0.0
        out = self.outputs
        out[0] = float((self.spec.start + math.floor(self.total)) % (self.spec.max + 1))
        out[1] = self.rate
        out[2] = self.total
        out[3] = flag(self.rate > 0)
