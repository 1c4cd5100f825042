"""`machine`: the state of a machine (idle, running, fault, maintenance) over a shift schedule.

The schedule says when the machine should run (`shifts`) and when it is in planned maintenance
(`maintenance` windows, which win over shifts). While it should run, it fails at random: at every
step a fault starts with probability 1 − exp(−dt / mtbf_s), drawn from the counter-based PRNG
keyed by the model's seed and the step number, so a plant seed gives the same faults every run.
A fault lasts repair_s · (0.5 + u) with u uniform in [0, 1) from a second stream, whatever the
schedule says meanwhile. Hours are hours of the simulated day: t = 0 is `t0_h` o'clock.

Other models of the device follow the state through its outputs, e.g. a motor's
`run: {kind: model, model: line, output: running}`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.process.base import Bounds, ModelSpec, Runtime, flag
from simulators.signals import derive_seed, uniform01

IDLE, RUNNING, FAULT, MAINTENANCE = 0, 1, 2, 3
STATE_NAMES = ("idle", "running", "fault", "maintenance")
"""The state codes served by the `state` output, in order."""


class Window(BaseModel):
    """From start_h to end_h o'clock every day; end_h < start_h runs over midnight; 0 to 24 is
    the whole day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_h: float = Field(ge=0, le=24)
    end_h: float = Field(ge=0, le=24)

    @model_validator(mode="after")
    def _check_span(self) -> Window:
        if self.start_h == self.end_h:
            raise ValueError("start_h and end_h are equal: an empty window (0 to 24: all day)")
        return self

    def start_day(self, day: int, h: float) -> int | None:
        """The day the window covering (day, hour h) started, or None if it does not cover it."""
        if self.start_h < self.end_h:
            return day if self.start_h <= h < self.end_h else None
        if h >= self.start_h:
            return day
        if h < self.end_h:
            return day - 1
        return None


class MaintenanceWindow(Window):
    """A planned maintenance window: every `every_days` days, on day `day` of that cycle (day 0
    is the first simulated day)."""

    every_days: int = Field(default=1, ge=1)
    day: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check_day(self) -> MaintenanceWindow:
        if self.day >= self.every_days:
            raise ValueError("day must be less than every_days")
        return self

    def covers(self, day: int, h: float) -> bool:
        start = self.start_day(day, h)
        return start is not None and start % self.every_days == self.day


class Machine(ModelSpec):
    """Machine states on a shift schedule with planned maintenance and random faults."""

    kind: Literal["machine"]
    t0_h: float = Field(default=0.0, ge=0, lt=24, description="hour of the day at t = 0")
    shifts: list[Window] | None = Field(
        default=None, description="when the machine runs (default: always)"
    )
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    mtbf_s: float | None = Field(
        default=None, gt=0, description="mean running time between faults (default: none)"
    )
    repair_s: float = Field(default=600.0, gt=0, description="mean fault duration")

    OUTPUTS: ClassVar[dict[str, str]] = {
        "state": "",
        "running": "",
        "idle": "",
        "fault": "",
        "maintenance": "",
        "faults": "faults",
        "run_hours": "h",
    }

    def output_bounds(self, output: str) -> Bounds:
        if output == "state":
            return float(IDLE), float(MAINTENANCE)
        if output in ("running", "idle", "fault", "maintenance"):
            return 0.0, 1.0
        return None

    def scheduled(self, t: float) -> int:
        """The state the schedule asks for at `t` (RUNNING, IDLE or MAINTENANCE)."""
        hours = self.t0_h + t / 3600.0
        day = math.floor(hours / 24.0)
        h = hours - 24.0 * day
        if any(w.covers(day, h) for w in self.maintenance):
            return MAINTENANCE
        if self.shifts is None or any(s.start_day(day, h) is not None for s in self.shifts):
            return RUNNING
        return IDLE

    def runtime(self, seed: int, dt: float) -> MachineRuntime:
        return MachineRuntime(self, seed, dt)


class MachineRuntime(Runtime):
    __slots__ = ("fault_until", "faults", "p_fault", "repair_seed", "run_s", "spec", "state")

    def __init__(self, spec: Machine, seed: int, dt: float) -> None:
        super().__init__(seed, dt, len(spec.OUTPUTS))
        self.spec = spec
        self.p_fault = 0.0 if spec.mtbf_s is None else -math.expm1(-dt / spec.mtbf_s)
        self.repair_seed = derive_seed(seed, 1)
        self.fault_until = -math.inf
        self.faults = 0
        self.run_s = 0.0
        self.state = IDLE

    def start(self, t: float, x: Sequence[float]) -> None:
        self.fault_until = -math.inf
        self.faults = 0
        self.run_s = 0.0
        self._enter(0, t)

    def step(self, k: int, t: float, x: Sequence[float]) -> None:
        if self.state == RUNNING:
            self.run_s += self.dt
        self._enter(k, t)

    def _enter(self, k: int, t: float) -> None:
        if t < self.fault_until:
            state = FAULT
        else:
            state = self.spec.scheduled(t)
            if state == RUNNING and self.p_fault and uniform01(self.seed, k) < self.p_fault:
                state = FAULT
                self.faults += 1
                self.fault_until = t + self.spec.repair_s * (0.5 + uniform01(self.repair_seed, k))
        self.state = state
        out = self.outputs
        out[0] = float(state)
        out[1] = flag(state == RUNNING)
        out[2] = flag(state == IDLE)
        out[3] = flag(state == FAULT)
        out[4] = flag(state == MAINTENANCE)
        out[5] = float(self.faults)
        out[6] = self.run_s / 3600.0
