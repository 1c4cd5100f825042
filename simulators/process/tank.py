"""`tank`: a tank whose level a PID loop holds by driving a pump (or valve) on one side.

    level        dh/dt = (q_in − q_out) / (3600 · area_m2),  0 ≤ h ≤ height_m   (q in m³/h)
    pump flow    q_pump = pump_max_m3h · u / 100             (u: the PID output, %)
    pump power   P = pump_rated_kw · (u / 100)³              (affinity law of a drive-fed pump)

The pump is on the `inflow` side (it fills the tank against the `outflow` demand) or on the
`outflow` side (it empties the tank against the `inflow`); the other side's flow is an input.

The PID (every step, on the level at that step) with error e = setpoint − level on the inflow
side (level − setpoint on the outflow side):

    u = kp · e + I + D,   I += ki · e · dt,   D = −kd · (change of the level) / dt (signed like e)

u is clamped into [output_min, output_max]; anti-windup by conditional integration: the integral
does not grow while u is saturated in the direction of e, and is itself kept in the output range.
The derivative acts on the measurement, so a setpoint step gives no kick. While `run` ≤ 0 the
pump is off and the integral holds. At t = 0 the level is `initial_level_m` (default: the
setpoint) and the integral is the output that balances the other side's flow, so a tank that
starts at its setpoint stays there until something changes.

The level integrates the flows held during each step: a zero-order hold, like a PLC scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from simulators.process.base import Bounds, Input, ModelSpec, Runtime, flag


class Tank(ModelSpec):
    """A tank, its level controller and the pump the controller drives."""

    kind: Literal["tank"]
    area_m2: float = Field(gt=0)
    height_m: float = Field(gt=0)
    initial_level_m: float | None = Field(default=None, ge=0)
    setpoint_m: Input = Field(description="level setpoint, m")
    pump: Literal["inflow", "outflow"] = "inflow"
    inflow: Input | None = Field(default=None, description="m³/h; when the pump is on outflow")
    outflow: Input | None = Field(default=None, description="m³/h; when the pump is on inflow")
    pump_max_m3h: float = Field(gt=0)
    pump_rated_kw: float = Field(default=0.0, ge=0)
    run: Input = Field(default=1.0, description="the pump may run while this is > 0")
    kp: float = Field(default=100.0, ge=0, description="% per m of error")
    ki: float = Field(default=0.05, ge=0, description="% per m of error per second")
    kd: float = Field(default=0.0, ge=0, description="% per m/s of level change")
    output_min: float = Field(default=0.0, ge=0, le=100)
    output_max: float = Field(default=100.0, ge=0, le=100)

    INPUTS: ClassVar[tuple[str, ...]] = ("setpoint_m", "inflow", "outflow", "run")
    OUTPUTS: ClassVar[dict[str, str]] = {
        "level_m": "m",
        "level_pct": "%",
        "volume_m3": "m³",
        "setpoint_m": "m",
        "error_m": "m",
        "inflow_m3h": "m³/h",
        "outflow_m3h": "m³/h",
        "pump_pct": "%",
        "pump_power_kw": "kW",
        "pump_running": "",
        "overflow": "",
    }

    @model_validator(mode="after")
    def _check_sides(self) -> Tank:
        other = "outflow" if self.pump == "inflow" else "inflow"
        if getattr(self, self.pump) is not None:
            raise ValueError(
                f"the pump is on the {self.pump} side: set {other} (the other side's flow), "
                f"not {self.pump}"
            )
        if getattr(self, other) is None:
            raise ValueError(f"the pump is on the {self.pump} side: set {other} (m³/h)")
        if self.output_min >= self.output_max:
            raise ValueError("output_min must be less than output_max")
        if self.initial_level_m is not None and self.initial_level_m > self.height_m:
            raise ValueError("initial_level_m must not exceed height_m")
        return self

    def output_bounds(self, output: str) -> Bounds:
        if output == "level_m":
            return 0.0, self.height_m
        if output == "level_pct":
            return 0.0, 100.0
        if output == "volume_m3":
            return 0.0, self.area_m2 * self.height_m
        if output == "pump_pct":
            return 0.0, self.output_max  # 0 while not running
        if output == f"{self.pump}_m3h":
            return 0.0, self.pump_max_m3h * self.output_max / 100
        if output == "pump_power_kw":
            return 0.0, self.pump_rated_kw * (self.output_max / 100) ** 3
        if output in ("pump_running", "overflow"):
            return 0.0, 1.0
        return None

    def runtime(self, seed: int, dt: float) -> TankRuntime:
        return TankRuntime(self, seed, dt)


class TankRuntime(Runtime):
    __slots__ = ("integral", "level", "q_in", "q_out", "sign", "spec")

    def __init__(self, spec: Tank, seed: int, dt: float) -> None:
        super().__init__(seed, dt, len(spec.OUTPUTS))
        self.spec = spec
        self.sign = 1.0 if spec.pump == "inflow" else -1.0
        self.level = 0.0
        self.integral = 0.0
        self.q_in = 0.0
        self.q_out = 0.0

    def start(self, t: float, x: Sequence[float]) -> None:
        spec = self.spec
        setpoint, inflow, outflow, _run = x
        initial = spec.initial_level_m
        self.level = min(max(setpoint if initial is None else initial, 0.0), spec.height_m)
        other = outflow if spec.pump == "inflow" else inflow
        balance = 100.0 * max(other, 0.0) / spec.pump_max_m3h
        self.integral = min(max(balance, spec.output_min), spec.output_max)
        self._control(x, self.level)

    def step(self, k: int, t: float, x: Sequence[float]) -> None:
        spec = self.spec
        before = self.level
        level = before + (self.q_in - self.q_out) * self.dt / (3600.0 * spec.area_m2)
        self.level = min(max(level, 0.0), spec.height_m)
        self._control(x, before)

    def _control(self, x: Sequence[float], before: float) -> None:
        """The PID output on the level now, the flows it gives, and the outputs."""
        spec = self.spec
        setpoint, inflow, outflow, run = x
        level = self.level
        error = self.sign * (setpoint - level)
        if run > 0:
            p = spec.kp * error
            d = -self.sign * spec.kd * (level - before) / self.dt
            integral = self.integral + spec.ki * error * self.dt
            u = p + integral + d
            if not ((u > spec.output_max and error > 0) or (u < spec.output_min and error < 0)):
                self.integral = min(max(integral, spec.output_min), spec.output_max)
            u = min(max(p + self.integral + d, spec.output_min), spec.output_max)
        else:
            u = 0.0
        q_pump = spec.pump_max_m3h * u / 100.0
        if spec.pump == "inflow":
            self.q_in, self.q_out = q_pump, max(outflow, 0.0)
        else:
            self.q_in, self.q_out = max(inflow, 0.0), q_pump
        out = self.outputs
        out[0] = level
        out[1] = 100.0 * level / spec.height_m
        out[2] = level * spec.area_m2
        out[3] = setpoint
        out[4] = setpoint - level
        out[5] = self.q_in
        out[6] = self.q_out
        out[7] = u
        out[8] = spec.pump_rated_kw * (u / 100.0) ** 3
        out[9] = flag(u > 0)
        out[10] = flag(level >= spec.height_m)
