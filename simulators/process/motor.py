"""`motor`: an induction motor on a drive: speed, current, shaft power and winding temperature.

    target speed  n*   = setpoint while run > 0, else 0                       (rpm)
    speed         dn/dt = (n* − n) / tau_s                                    (first-order lag)
    per-unit      s    = |n| / rated_speed_rpm
    current       I    = s · (no_load_current_a + (rated_current_a − no_load_current_a) · load)
    power         P    = rated_power_kw · load · s                            (torque × speed)
    temperature   dθ/dt = (ambient_c + rated_rise_c · (I / rated_current_a)² − θ) / thermal_tau_s

`load` is the fraction of rated torque. The current is what a drive draws for the power it
delivers, so it grows with both load and speed, and the winding heats with I² (copper losses)
toward its steady state with the thermal time constant. Both lags are integrated exactly over
each step for the inputs held during it (x(t+dt) = x* + (x − x*)·e^(−dt/τ)), so any dt is stable.
The motor starts at rest, at the ambient temperature (or `initial_temperature_c`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from simulators.process.base import Bounds, Input, ModelSpec, Runtime, flag

_SETTLED_RPM = 1e-6


class Motor(ModelSpec):
    """A motor following a speed setpoint, with current, power and a thermal model."""

    kind: Literal["motor"]
    setpoint: Input = Field(description="speed setpoint, rpm")
    run: Input = Field(default=1.0, description="the motor runs while this is > 0")
    load: Input = Field(default=0.8, description="fraction of rated torque")
    ambient_c: Input = 25.0
    rated_speed_rpm: float = Field(default=1450.0, gt=0)
    rated_current_a: float = Field(default=20.0, gt=0)
    no_load_current_a: float = Field(default=6.0, ge=0)
    rated_power_kw: float = Field(default=11.0, gt=0)
    tau_s: float = Field(default=3.0, gt=0, description="speed time constant")
    thermal_tau_s: float = Field(default=900.0, gt=0, description="winding time constant")
    rated_rise_c: float = Field(
        default=60.0, ge=0, description="steady winding rise above ambient at rated current"
    )
    initial_temperature_c: float | None = None

    INPUTS: ClassVar[tuple[str, ...]] = ("setpoint", "run", "load", "ambient_c")
    OUTPUTS: ClassVar[dict[str, str]] = {
        "speed_rpm": "rpm",
        "current_a": "A",
        "power_kw": "kW",
        "temperature_c": "°C",
        "running": "",
    }

    @model_validator(mode="after")
    def _check_currents(self) -> Motor:
        if self.no_load_current_a > self.rated_current_a:
            raise ValueError("no_load_current_a must not exceed rated_current_a")
        return self

    def output_bounds(self, output: str) -> Bounds:
        return (0.0, 1.0) if output == "running" else None

    def runtime(self, seed: int, dt: float) -> MotorRuntime:
        return MotorRuntime(self, seed, dt)


class MotorRuntime(Runtime):
    __slots__ = ("a_speed", "a_thermal", "spec", "target", "theta_ss")

    def __init__(self, spec: Motor, seed: int, dt: float) -> None:
        super().__init__(seed, dt, len(spec.OUTPUTS))
        self.spec = spec
        self.a_speed = math.exp(-dt / spec.tau_s)
        self.a_thermal = math.exp(-dt / spec.thermal_tau_s)
        self.target = 0.0
        self.theta_ss = 0.0

    def start(self, t: float, x: Sequence[float]) -> None:
        out = self.outputs
        out[0] = 0.0
        initial = self.spec.initial_temperature_c
        out[3] = x[3] if initial is None else initial
        self._outputs(x)

    def step(self, k: int, t: float, x: Sequence[float]) -> None:
        out = self.outputs
        speed = self.target + (out[0] - self.target) * self.a_speed
        # the lag only approaches its target: settle on it once closer than a micro-rpm
        out[0] = self.target if abs(speed - self.target) < _SETTLED_RPM else speed
        out[3] = self.theta_ss + (out[3] - self.theta_ss) * self.a_thermal
        self._outputs(x)

    def _outputs(self, x: Sequence[float]) -> None:
        """Current, power and the targets the lags move toward, from the speed and inputs."""
        spec = self.spec
        setpoint, run, load, ambient = x
        load = max(load, 0.0)
        out = self.outputs
        s = abs(out[0]) / spec.rated_speed_rpm
        i0 = spec.no_load_current_a
        current = s * (i0 + (spec.rated_current_a - i0) * load)
        out[1] = current
        out[2] = spec.rated_power_kw * load * s
        out[4] = flag(s > 0.01)
        self.target = setpoint if run > 0 else 0.0
        self.theta_ss = ambient + spec.rated_rise_c * (current / spec.rated_current_a) ** 2
