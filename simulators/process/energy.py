"""`energy`: an energy meter integrating a power.

    power    P = max(power_kw, 0)                             (kW; a meter only counts up)
    total    dE/dt = P / 3600                                 (kWh per second; never wraps)
    reading  = (start_kwh + E) mod rollover_kwh               (no rollover: start_kwh + E)

The integral is exact for the power the twin serves: each step adds the power of the step before
times dt, so E(t) equals the integral of the served (step-held) power from 0 to t. `rollover_kwh`
models a register that starts again at 0 (e.g. 100000 for a five-digit meter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from simulators.process.base import Bounds, Input, ModelSpec, Runtime


class Energy(ModelSpec):
    """A kWh meter: monotonic, optionally rolling over to 0."""

    kind: Literal["energy"]
    power_kw: Input = Field(description="the power metered, kW")
    start_kwh: float = Field(default=0.0, ge=0)
    rollover_kwh: float | None = Field(default=None, gt=0)

    INPUTS: ClassVar[tuple[str, ...]] = ("power_kw",)
    OUTPUTS: ClassVar[dict[str, str]] = {"energy_kwh": "kWh", "total_kwh": "kWh", "power_kw": "kW"}

    @model_validator(mode="after")
    def _check_start(self) -> Energy:
        if self.rollover_kwh is not None and self.start_kwh >= self.rollover_kwh:
            raise ValueError("start_kwh must be less than rollover_kwh")
        return self

    def output_bounds(self, output: str) -> Bounds:
        if output == "energy_kwh" and self.rollover_kwh is not None:
            return 0.0, self.rollover_kwh
        return None

    def runtime(self, seed: int, dt: float) -> EnergyRuntime:
        return EnergyRuntime(self, seed, dt)


class EnergyRuntime(Runtime):
    __slots__ = ("spec", "total")

    def __init__(self, spec: Energy, seed: int, dt: float) -> None:
        super().__init__(seed, dt, 3)
        self.spec = spec
        self.total = 0.0

    def start(self, t: float, x: Sequence[float]) -> None:
        self.total = 0.0
        self._outputs(x)

    def step(self, k: int, t: float, x: Sequence[float]) -> None:
        self.total += self.outputs[2] * self.dt / 3600.0
        self._outputs(x)

    def _outputs(self, x: Sequence[float]) -> None:
        out = self.outputs
        reading = self.spec.start_kwh + self.total
        rollover = self.spec.rollover_kwh
        out[0] = reading % rollover if rollover is not None else reading
        out[1] = self.total
        out[2] = max(x[0], 0.0)
