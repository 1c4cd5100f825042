"""The plant file: sites, lines and simulated devices, each tag with the signal it serves.

See scenarios/plants/README.md for the format. `load_plant` reads a file; every problem is a
`nexus.errors.ConfigError` naming the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from nexus.errors import ConfigError
from nexus.model.loading import load_yaml_model
from nexus.model.tags import ModbusDevice, ModbusTag, Name, RegisterTable
from simulators.modbus.encoding import INTEGER_RANGE, raw_unclamped
from simulators.signals import Signal, tag_seed
from simulators.twin import TwinDevice, TwinTag

Loc = tuple[int | str, ...]

_NAME_MAX = 64


class PlantTag(ModbusTag):
    """A tag of a simulated device: every field of `ModbusTag`, plus the signal it serves."""

    signal: Signal


class DeviceSpec(BaseModel):
    """A simulated device as written in the plant file; `count` > 1 makes numbered copies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    count: int = Field(default=1, ge=1, le=9999)
    protocol: Literal["modbus"] = "modbus"
    port: int | None = Field(default=None, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255)
    poll_interval_ms: int = Field(default=1000, ge=100, le=60000)
    timeout_ms: int = Field(default=1000, ge=50, le=60000)
    max_registers_per_read: int = Field(default=125, ge=1, le=125)
    tags: list[PlantTag] = Field(min_length=1)

    def expanded_names(self) -> list[str]:
        """press, or press-01 … press-10 for count 10 (zero-padded, at least two digits)."""
        if self.count == 1:
            return [self.name]
        width = max(2, len(str(self.count)))
        return [f"{self.name}-{i:0{width}d}" for i in range(1, self.count + 1)]


class LineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    devices: list[DeviceSpec] = Field(min_length=1)


class SiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    lines: list[LineSpec] = Field(min_length=1)


class ModbusListen(BaseModel):
    """Where the fleet listens: device i (file order, after expansion) on base_port + i.

    base_port 0 lets the operating system choose a free port for every device that does not
    set its own `port`; the running fleet then reports the ports (tests use this).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    base_port: int = Field(default=15020, ge=0, le=65535)


class Plant(BaseModel):
    """A plant file: the whole simulated plant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plant: Name
    seed: int = 0
    modbus: ModbusListen = ModbusListen()
    sites: list[SiteSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_plant(self) -> Plant:
        problems = list(self._problems())
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("plant", "{message}", {"message": message}),
                        loc=loc,
                        input=None,
                    )
                    for loc, message in problems
                ],
            )
        return self

    # -- expansion ---------------------------------------------------------------------------

    def _specs(self) -> Iterator[tuple[Loc, SiteSpec, LineSpec, DeviceSpec]]:
        for si, site in enumerate(self.sites):
            for li, line in enumerate(site.lines):
                for di, spec in enumerate(line.devices):
                    yield ("sites", si, "lines", li, "devices", di), site, line, spec

    def _expanded(self) -> Iterator[tuple[Loc, SiteSpec, LineSpec, DeviceSpec, str, int]]:
        """(loc, site, line, spec, name, port) of every device in file order."""
        index = 0
        for loc, site, line, spec in self._specs():
            for copy, name in enumerate(spec.expanded_names()):
                if spec.port is not None:
                    port = spec.port + copy
                elif self.modbus.base_port == 0:
                    port = 0
                else:
                    port = self.modbus.base_port + index
                yield loc, site, line, spec, name, port
                index += 1

    def devices(self) -> list[TwinDevice]:
        """Every device after `count` expansion, in file order, with its site, line and port.

        Port 0 means "chosen by the operating system when the fleet starts" (base_port 0).
        """
        out: list[TwinDevice] = []
        for _loc, site, line, spec, name, port in self._expanded():
            out.append(
                TwinDevice(
                    name=name,
                    site=site.name,
                    line=line.name,
                    port=port,
                    unit_id=spec.unit_id,
                    poll_interval_ms=spec.poll_interval_ms,
                    timeout_ms=spec.timeout_ms,
                    max_registers_per_read=spec.max_registers_per_read,
                    tags=tuple(
                        TwinTag(tag=t, signal=t.signal, seed=tag_seed(self.seed, name, t.name))
                        for t in spec.tags
                    ),
                )
            )
        return out

    @property
    def device_count(self) -> int:
        return sum(spec.count for _loc, _s, _l, spec in self._specs())

    @property
    def tag_count(self) -> int:
        return sum(spec.count * len(spec.tags) for _loc, _s, _l, spec in self._specs())

    # -- the gateway's view ------------------------------------------------------------------

    def gateway_config(self, host: str | None = None) -> list[ModbusDevice]:
        """The gateway's device list: every device at `host` (default modbus.host) and its port."""
        devices = self.devices()
        if any(d.port == 0 for d in devices):
            raise ConfigError(
                "base_port 0 means the ports are chosen when the fleet starts; "
                "ask the running fleet (ModbusFleet.gateway_config) or set a base port",
                field="modbus.base_port",
            )
        return gateway_config(devices, host or self.modbus.host)

    def gateway_yaml(self, host: str | None = None) -> str:
        """`gateway_config` as the gateway's YAML file: {"devices": [...]}."""
        return gateway_yaml(self.gateway_config(host))

    def with_base_port(self, port: int) -> Plant:
        """A copy whose devices without their own `port` listen from `port` on (0: any free)."""
        data = self.model_dump()
        data["modbus"]["base_port"] = port
        try:
            return Plant.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(first["msg"], field=_dotted(first["loc"])) from exc

    # -- validation --------------------------------------------------------------------------

    def _problems(self) -> Iterator[tuple[Loc, str]]:
        yield from _unique(
            ((("sites", si, "name"), site.name) for si, site in enumerate(self.sites)), "site"
        )
        for si, site in enumerate(self.sites):
            yield from _unique(
                (
                    (("sites", si, "lines", li, "name"), line.name)
                    for li, line in enumerate(site.lines)
                ),
                f"line of site {site.name}",
            )
        yield from self._device_problems()
        for loc, _site, _line, spec in self._specs():
            yield from _tag_problems(loc, spec)

    def _device_problems(self) -> Iterator[tuple[Loc, str]]:
        names: dict[str, Loc] = {}
        ports: dict[int, str] = {}
        for loc, _site, _line, spec, name, port in self._expanded():
            if len(name) > _NAME_MAX:
                yield (*loc, "name"), f"device name {name!r} is longer than {_NAME_MAX} characters"
            if name in names:
                yield (
                    (*loc, "name"),
                    f"device name {name!r} is also used at {_dotted(names[name])}",
                )
            names.setdefault(name, loc)
            if port == 0:
                continue
            port_loc: Loc = (*loc, "port") if spec.port is not None else ("modbus", "base_port")
            if port > 65535:
                yield port_loc, f"device {name} would listen on port {port}, above 65535"
            elif port in ports:
                yield port_loc, f"device {name} would listen on port {port}, as {ports[port]} does"
            ports.setdefault(port, name)


def _tag_problems(loc: Loc, spec: DeviceSpec) -> Iterator[tuple[Loc, str]]:
    yield from _unique(
        (((*loc, "tags", ti, "name"), tag.name) for ti, tag in enumerate(spec.tags)),
        f"tag of device {spec.name}",
    )
    used: dict[tuple[RegisterTable, int], str] = {}
    for ti, tag in enumerate(spec.tags):
        tloc: Loc = (*loc, "tags", ti)
        span = range(tag.address, tag.address + tag.register_count)
        clash = sorted({used[(tag.table, a)] for a in span if (tag.table, a) in used})
        if clash:
            last = tag.address + tag.register_count - 1
            yield (
                (*tloc, "address"),
                f"tag {tag.name} ({tag.table.value} {tag.address}–{last}) overlaps tag "
                f"{', '.join(clash)} of device {spec.name}",
            )
        for a in span:
            used.setdefault((tag.table, a), tag.name)
        if tag.table.is_bit and (tag.scale != 1 or tag.offset != 0):
            yield (*tloc, "scale"), "a bool tag takes no scale or offset"
        yield from _range_problems(tloc, tag)


def _range_problems(loc: Loc, tag: PlantTag) -> Iterator[tuple[Loc, str]]:
    """An integer tag whose bounded signal does not fit its type is an error.

    Unbounded signals (a ramp without min/max) are allowed: the raw value saturates at the
    type's limit (see simulators.modbus.encoding).
    """
    if tag.type not in INTEGER_RANGE:
        return
    bounds = tag.signal.bounds()
    if bounds is None:
        return
    lo, hi = INTEGER_RANGE[tag.type]
    raws = sorted(round(raw_unclamped(tag, b)) for b in bounds)
    if raws[0] < lo or raws[1] > hi:
        yield (
            (*loc, "signal"),
            f"the signal spans {bounds[0]:g}…{bounds[1]:g}, raw {raws[0]}…{raws[1]} with scale "
            f"{tag.scale:g} and offset {tag.offset:g}, which does not fit {tag.type.value} "
            f"({lo}…{hi})",
        )


def _unique(items: Iterator[tuple[Loc, str]], what: str) -> Iterator[tuple[Loc, str]]:
    seen: set[str] = set()
    for loc, name in items:
        if name in seen:
            yield loc, f"{what} name {name!r} is used twice"
        seen.add(name)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def gateway_config(devices: list[TwinDevice], host: str) -> list[ModbusDevice]:
    """The gateway's device list for `devices` served at `host`."""
    return [d.modbus_device(host) for d in devices]


def gateway_yaml(devices: list[ModbusDevice]) -> str:
    """The gateway's YAML device file: {"devices": [...]}, one entry per device."""
    data: dict[str, Any] = {"devices": [d.model_dump(mode="json") for d in devices]}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def load_plant(path: str | Path) -> Plant:
    """Read and validate a plant file; raise ConfigError naming file:line and field."""
    return load_yaml_model(path, Plant)
