"""Scenario files (`scenarios/*.yaml`): a plant, services, a load, a timeline of faults and
expectations, validated at load with errors that name the file, the line and the field.

Times (`duration_s`, a fault's `at`, `duration`, `every`) are in seconds of the full form;
`Scenario.scaled(f)` multiplies them all (CI runs the short form, `NEXUS_SCENARIO_SCALE`).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nexus.errors import ConfigError
from nexus.model.loading import load_yaml_model
from simulators.faults import ONE_OFF, DeviceFacts, FaultParams, FaultSpec, device_problems

SCALE_ENV = "NEXUS_SCENARIO_SCALE"


class Service(StrEnum):
    GATEWAY = "gateway"
    INGEST = "ingest"


class Component(StrEnum):
    """What a process fault can hit."""

    GATEWAY = "gateway"
    INGEST = "ingest"
    BROKER = "broker"
    DATABASE = "database"


class Link(StrEnum):
    """The network links that run through a fault-injecting proxy."""

    GATEWAY_BROKER = "gateway-broker"
    INGEST_BROKER = "ingest-broker"
    INGEST_DATABASE = "ingest-database"


class Action(StrEnum):
    KILL = "kill"  # SIGKILL; back after `duration` if given
    PAUSE = "pause"  # SIGSTOP, SIGCONT after `duration`
    STOP = "stop"  # graceful stop (SIGTERM), started again after `duration` if given
    RESTART = "restart"  # graceful stop and start at once
    SCALE = "scale"  # a service to `replicas`
    NETWORK = "network"  # a link fault for `duration`
    DEVICE = "device"  # a twin device fault for `duration`


PROCESS_ACTIONS = frozenset({Action.KILL, Action.PAUSE, Action.STOP, Action.RESTART})


class DeviceFaultKind(StrEnum):
    """Every fault of the twin's devices (simulators/faults.py: protocols and parameters)."""

    OFFLINE = "offline"  # the device's port is closed
    SILENT = "silent"  # Modbus: connections accepted, requests never answered
    SLOW = "slow"  # latency_ms added to every request
    PROTOCOL_ERROR = "protocol_error"  # code: Modbus exception, OPC UA Bad status, S7 error
    QUALITY = "quality"  # OPC UA: quality good/uncertain/bad
    STATUS = "status"  # OPC UA: every variable's status
    CPU_STOP = "cpu_stop"  # S7: CPU in STOP
    SESSION_KILL = "session_kill"  # open connections (OPC UA sessions) closed, once
    RESTART = "restart"  # the device's server stopped and started, once
    FROZEN = "frozen"  # values stop changing
    SPIKES = "spikes"  # outliers: magnitude, probability or every_n, seed
    BYTE_ORDER = "byte_order"  # Modbus: word order swapped; S7: little-endian


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSpec(_Model):
    """What a link does while faulted (all may be combined)."""

    latency_ms: float = Field(default=0, ge=0, le=60_000)
    jitter_ms: float = Field(default=0, ge=0, le=60_000)
    bandwidth_kbps: float | None = Field(default=None, gt=0, description="kilobytes per second")
    cut: bool = Field(default=False, description="drop every connection and refuse new ones")
    reset: bool = Field(default=False, description="reset the open connections once")

    @property
    def describe(self) -> str:
        parts = []
        if self.cut:
            parts.append("cut")
        if self.reset:
            parts.append("reset")
        if self.latency_ms or self.jitter_ms:
            parts.append(f"latency {self.latency_ms:g}±{self.jitter_ms:g} ms")
        if self.bandwidth_kbps is not None:
            parts.append(f"{self.bandwidth_kbps:g} kB/s")
        return ", ".join(parts) or "no-op"


class Fault(_Model):
    """One entry of the timeline: at `at` seconds, `action` on `target`."""

    at: float = Field(ge=0)
    action: Action
    target: str = Field(description="a component, a service, a link or a device name")
    replica: int | None = Field(default=None, ge=0, description="replica index (default 0)")
    duration: float | None = Field(default=None, gt=0)
    replicas: int | None = Field(default=None, ge=0, le=16, description="for scale")
    network: NetworkSpec | None = None
    kind: DeviceFaultKind | None = Field(default=None, description="for device")
    params: FaultParams | None = Field(default=None, description="for device: the kind's")
    repeat: int = Field(default=1, ge=1, le=1000, description="times, `every` seconds apart")
    every: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Fault:
        if self.action in PROCESS_ACTIONS:
            _choice(self.target, Component, "target")
            if self.action is Action.PAUSE and self.duration is None:
                raise ValueError("pause needs a duration (SIGCONT after it)")
        elif self.action is Action.SCALE:
            service = _choice(self.target, Service, "target")
            if service is Service.GATEWAY:
                raise ValueError(
                    "gateway replicas do not share the fleet yet (fleet sharding, a separate "
                    "issue): only ingest can be scaled"
                )
            if self.replicas is None:
                raise ValueError("scale needs replicas")
        elif self.action is Action.NETWORK:
            _choice(self.target, Link, "target")
            if self.network is None:
                raise ValueError("network needs a network: spec")
            if self.duration is None and not self.network.reset:
                raise ValueError("a network fault needs a duration")
        elif self.action is Action.DEVICE:
            self._check_device_fault()
        if self.params is not None and self.action is not Action.DEVICE:
            raise ValueError("params are for device faults only")
        if self.repeat > 1 and self.every is None:
            raise ValueError("repeat needs every")
        if self.every is not None and self.duration is not None and self.duration >= self.every:
            raise ValueError("duration must be shorter than every")
        return self

    def _check_device_fault(self) -> None:
        if self.kind is None:
            raise ValueError("device needs kind")
        if self.kind.value in ONE_OFF:
            if self.duration is not None:
                raise ValueError(f"{self.kind.value} happens once: it takes no duration")
        elif self.duration is None:
            raise ValueError("device needs kind and duration")
        self.device_spec()

    def device_spec(self) -> FaultSpec:
        """The device fault (kind and params), checked; ValueError names the bad parameter."""
        assert self.kind is not None
        given = self.params.given() if self.params is not None else {}
        try:
            return FaultSpec.model_validate({"kind": self.kind.value, **given})
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"params.{field}: {first['msg']}") from None

    @property
    def component(self) -> Component:
        return Component(self.target)

    @property
    def link(self) -> Link:
        return Link(self.target)

    def label(self) -> str:
        """A one-line description for the progress view and the report."""
        where = self.target
        if self.action in PROCESS_ACTIONS and self.target in (Service.GATEWAY, Service.INGEST):
            where = f"{self.target}-{self.replica or 0}"
        text = f"{self.action.value} {where}"
        if self.action is Action.SCALE:
            text += f" to {self.replicas}"
        elif self.network is not None:
            text += f" ({self.network.describe})"
        elif self.kind is not None:
            text += f" {self.device_spec().describe() if self.params else self.kind.value}"
        if self.duration is not None:
            text += f" for {self.duration:g}s"
        return text

    def occurrences(self) -> list[Fault]:
        """The fault once per repetition, each with its own `at`."""
        if self.repeat == 1:
            return [self]
        step = self.every or 0.0
        return [
            self.model_copy(update={"at": self.at + i * step, "repeat": 1, "every": None})
            for i in range(self.repeat)
        ]

    def scaled(self, factor: float) -> Fault:
        def s(value: float | None) -> float | None:
            return None if value is None else value * factor

        return self.model_copy(
            update={"at": self.at * factor, "duration": s(self.duration), "every": s(self.every)}
        )


class ServiceSpec(_Model):
    replicas: int = Field(default=1, ge=0, le=16)


class Services(_Model):
    gateway: ServiceSpec = ServiceSpec(replicas=1)
    ingest: ServiceSpec = ServiceSpec(replicas=1)


class Load(_Model):
    """How hard the plant is polled: the gateway's poll interval and publish mode."""

    poll_interval_ms: int | None = Field(default=None, ge=100, le=60_000)
    publish_mode: Literal["batch", "tag"] = "batch"


class Expectations(_Model):
    """What a run must show; any unmet one fails the scenario."""

    lost: int = Field(default=0, ge=0, description="at most this many acknowledged points lost")
    duplicates: int = Field(default=0, ge=0)
    latency_p99_ms: float | None = Field(default=None, gt=0)
    max_gap_s: float | None = Field(default=None, gt=0, description="acquisition gap per device")
    min_delivered: int = Field(default=1, ge=0)
    replicas_reached: dict[Service, int] = Field(default_factory=dict)
    replicas_at_end: dict[Service, Annotated[int, Field(ge=0, le=16)]] = Field(
        default_factory=dict,
        description="at most this many replicas running when the timeline ends (scaled back in)",
    )


class Scenario(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    plant: Path = Field(description="plant file, relative to the scenario file")
    duration_s: float = Field(gt=0, le=3600)
    drain_timeout_s: float = Field(default=90, gt=0, description="not scaled")
    services: Services = Services()
    load: Load = Load()
    timeline: list[Fault] = Field(default_factory=list)
    expect: Expectations = Expectations()
    scale: float = Field(default=1.0, gt=0, description="set by the runner, not in files")
    source: Path | None = Field(default=None, description="set by the loader")

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        for fault in self.timeline:
            last = fault.at + (fault.repeat - 1) * (fault.every or 0) + (fault.duration or 0)
            if last > self.duration_s:
                raise ValueError(
                    f"fault {fault.label()!r} ends at {last:g}s, after duration_s "
                    f"{self.duration_s:g}"
                )
        return self

    def faults(self) -> list[Fault]:
        """Every fault occurrence in time order (repeats expanded), at this scale."""
        expanded = [f.scaled(self.scale) for fault in self.timeline for f in fault.occurrences()]
        return sorted(expanded, key=lambda f: f.at)

    @property
    def run_s(self) -> float:
        return self.duration_s * self.scale

    def scaled(self, factor: float) -> Scenario:
        return self.model_copy(update={"scale": factor})

    @property
    def plant_path(self) -> Path:
        base = self.source.parent if self.source is not None else Path.cwd()
        return (base / self.plant).resolve()


def _choice(value: str, enum: type[StrEnum], field: str) -> StrEnum:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ValueError(f"{field} {value!r} is not one of: {allowed}") from None


def load_scenario(path: str | Path, *, scale: float | None = None) -> Scenario:
    """Load and validate a scenario file; ConfigError names the file, line and field.

    The plant file must exist and every device a fault names must be in it.
    """
    path = Path(path)
    scenario = load_yaml_model(path, Scenario).model_copy(update={"source": path.resolve()})
    if scale is not None:
        if scale <= 0:
            raise ConfigError("must be positive", field="scale")
        scenario = scenario.scaled(scale)
    _check_plant(scenario, path)
    return scenario


def _check_plant(scenario: Scenario, path: Path) -> None:
    from simulators.plant import load_plant

    plant_path = scenario.plant_path
    if not plant_path.is_file():
        raise ConfigError(f"plant file {plant_path} does not exist", file=str(path), field="plant")
    plant = load_plant(plant_path)
    devices = {
        d.name: DeviceFacts(d.protocol, frozenset(t.name for t in d.tags)) for d in plant.devices()
    }
    if not devices:  # pragma: no cover - a plant has at least one device
        raise ConfigError("the plant has no device", file=str(path), field="plant")
    for i, fault in enumerate(scenario.timeline):
        if fault.action is not Action.DEVICE:
            continue
        facts = devices.get(fault.target)
        if facts is None:
            raise ConfigError(
                f"no device {fault.target!r} in {scenario.plant}",
                file=str(path),
                field=f"timeline[{i}].target",
            )
        for field, message in device_problems(fault.device_spec(), fault.target, facts):
            raise ConfigError(
                message,
                file=str(path),
                field=f"timeline[{i}].{'params.' if field != 'kind' else ''}{field}",
            )


def scale_from_env(default: float = 1.0) -> float:
    raw = os.environ.get(SCALE_ENV)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"not a number: {raw!r}", file="environment", field=SCALE_ENV) from None
    if value <= 0:
        raise ConfigError("must be positive", file="environment", field=SCALE_ENV)
    return value
