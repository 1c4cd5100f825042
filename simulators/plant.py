"""The plant file: sites, lines and simulated devices, each tag with the signal it serves.

See scenarios/plants/README.md for the format. `load_plant` reads a file; every problem is a
`nexus.errors.ConfigError` naming the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from nexus.errors import ConfigError
from nexus.model.loading import load_yaml_model
from nexus.model.s7address import S7Area, S7Type
from nexus.model.tags import (
    AnyDevice,
    DataType,
    ModbusTag,
    Name,
    OpcUaType,
    RegisterTable,
    protocol_dispatch,
    protocol_of,
)
from simulators.faults import DeviceFacts, TimelineFault, timeline_problems
from simulators.modbus.encoding import INTEGER_RANGE, raw_unclamped
from simulators.opcua.model import INTEGER_RANGE as OPCUA_INTEGER_RANGE
from simulators.opcua.model import OpcUaPlantTag, OpcUaTwinDevice, OpcUaTwinTag, node_id
from simulators.process.models import ProcessModel
from simulators.process.runtime import BoundTag, bind_tags
from simulators.process.validation import model_problems, ref_bounds, ref_problem
from simulators.replay import Replay
from simulators.s7.model import INTEGER_RANGE as S7_INTEGER_RANGE
from simulators.s7.model import S7PlantTag, S7TwinDevice, S7TwinTag
from simulators.signals import ModelRef, Signal, Text
from simulators.twin import TwinDevice, TwinTag

AnyTwinDevice = TwinDevice | OpcUaTwinDevice | S7TwinDevice
"""A simulated device of any protocol."""

Loc = tuple[int | str, ...]

_NAME_MAX = 64


class PlantTag(ModbusTag):
    """A tag of a simulated device: every field of `ModbusTag`, plus the signal it serves."""

    signal: Signal


class _DeviceSpecBase(BaseModel):
    """What every simulated device has; `count` > 1 makes numbered copies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    count: int = Field(default=1, ge=1, le=9999)
    port: int | None = Field(default=None, ge=1, le=65535)
    poll_interval_ms: int = Field(default=1000, ge=100, le=60000)
    timeout_ms: int = Field(default=1000, ge=50, le=60000)
    models: dict[Name, ProcessModel] = Field(
        default_factory=dict, description="process models whose outputs tags can serve"
    )
    dt_s: float = Field(
        default=1.0, gt=0, le=3600, description="the integration step of the device's models"
    )

    def expanded_names(self) -> list[str]:
        """press, or press-01 … press-10 for count 10 (zero-padded, at least two digits)."""
        if self.count == 1:
            return [self.name]
        width = max(2, len(str(self.count)))
        return [f"{self.name}-{i:0{width}d}" for i in range(1, self.count + 1)]


class DeviceSpec(_DeviceSpecBase):
    """A simulated Modbus TCP device as written in the plant file."""

    protocol: Literal["modbus"] = "modbus"
    unit_id: int = Field(default=1, ge=0, le=255)
    max_registers_per_read: int = Field(default=125, ge=1, le=125)
    tags: list[PlantTag] = Field(min_length=1)


class OpcUaDeviceSpec(_DeviceSpecBase):
    """A simulated OPC UA server (one per device) as written in the plant file."""

    protocol: Literal["opcua"]
    mode: Literal["subscription", "polling"] = "subscription"
    timeout_ms: int = Field(default=2000, ge=50, le=60000)
    tags: list[OpcUaPlantTag] = Field(min_length=1)


class S7DeviceSpec(_DeviceSpecBase):
    """A simulated Siemens S7 PLC as written in the plant file."""

    protocol: Literal["s7"]
    rack: int = Field(default=0, ge=0, le=7)
    slot: int = Field(default=1, ge=0, le=31)
    tags: list[S7PlantTag] = Field(min_length=1)


AnyDeviceSpec = DeviceSpec | OpcUaDeviceSpec | S7DeviceSpec

DeviceSpecField = Annotated[
    Annotated[DeviceSpec, Tag("modbus")]
    | Annotated[OpcUaDeviceSpec, Tag("opcua")]
    | Annotated[S7DeviceSpec, Tag("s7")],
    Discriminator(protocol_of),
    WrapValidator(
        protocol_dispatch(
            {"modbus": DeviceSpec, "opcua": OpcUaDeviceSpec, "s7": S7DeviceSpec}, "DeviceSpec"
        )
    ),
]


class LineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    devices: list[DeviceSpecField] = Field(min_length=1)


class SiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    lines: list[LineSpec] = Field(min_length=1)


class ModbusListen(BaseModel):
    """Where the fleet listens: device i of the protocol (file order, after expansion) on
    base_port + i.

    base_port 0 lets the operating system choose a free port for every device that does not
    set its own `port`; the running fleet then reports the ports (tests use this).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    base_port: int = Field(default=15020, ge=0, le=65535)


class OpcUaListen(ModbusListen):
    """Where the OPC UA servers listen, and how often their variables are refreshed."""

    base_port: int = Field(default=14840, ge=0, le=65535)
    update_interval_ms: int = Field(default=250, ge=10, le=60000)


class S7Listen(ModbusListen):
    base_port: int = Field(default=11020, ge=0, le=65535)


class Plant(BaseModel):
    """A plant file: the whole simulated plant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plant: Name
    seed: int = 0
    modbus: ModbusListen = ModbusListen()
    opcua: OpcUaListen = OpcUaListen()
    s7: S7Listen = S7Listen()
    sites: list[SiteSpec] = Field(min_length=1)
    _replay: Replay | None = PrivateAttr(default=None)  # see with_replay
    faults: list[TimelineFault] = []  # see simulators/faults.py

    def listen(self, protocol: str) -> ModbusListen:
        """The listen section of `protocol` (modbus, opcua or s7)."""
        listen: ModbusListen = getattr(self, protocol)
        return listen

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

    def _specs(self) -> Iterator[tuple[Loc, SiteSpec, LineSpec, AnyDeviceSpec]]:
        for si, site in enumerate(self.sites):
            for li, line in enumerate(site.lines):
                for di, spec in enumerate(line.devices):
                    yield ("sites", si, "lines", li, "devices", di), site, line, spec

    def _expanded(self) -> Iterator[tuple[Loc, SiteSpec, LineSpec, AnyDeviceSpec, str, int]]:
        """(loc, site, line, spec, name, port) of every device in file order.

        Devices are numbered per protocol: the i-th Modbus device listens on modbus.base_port
        + i, the i-th OPC UA server on opcua.base_port + i, and so on.
        """
        index = dict.fromkeys(("modbus", "opcua", "s7"), 0)
        for loc, site, line, spec in self._specs():
            base = self.listen(spec.protocol).base_port
            for copy, name in enumerate(spec.expanded_names()):
                if spec.port is not None:
                    port = spec.port + copy
                elif base == 0:
                    port = 0
                else:
                    port = base + index[spec.protocol]
                yield loc, site, line, spec, name, port
                index[spec.protocol] += 1

    def devices(self) -> list[AnyTwinDevice]:
        """Every device after `count` expansion, in file order, with its site, line and port.

        Port 0 means "chosen by the operating system when the fleet starts" (base_port 0).
        Each call binds fresh model instances (they all compute the same values: see
        simulators/process/runtime.py) and, with `with_replay`, the recording's tags.
        """
        return [
            _twin_device(self.seed, site, line, spec, name, port, self._replay)
            for _loc, site, line, spec, name, port in self._expanded()
        ]

    @property
    def replay(self) -> Replay | None:
        """The recording that drives some tags (`with_replay`), or None."""
        return self._replay

    def with_replay(self, replay: Replay | str | Path, *, loop: bool | None = None) -> Plant:
        """A copy whose tags recorded in `replay` (a CSV as `nexus sim record` writes it, or a
        loaded `Replay`) serve the recording instead of their signal or model; with `loop` the
        recording starts again after its end (default: a loaded Replay's own setting, else no).

        A device or tag of the recording that the plant does not have, or a value the tag
        cannot hold, is a ConfigError naming the CSV file and line.
        """
        if not isinstance(replay, Replay):
            replay = Replay.load(replay, loop=bool(loop))
        elif loop is not None and loop != replay.loop:
            replay = replay.looping(loop)
        replay.check(
            {
                name: {t.name: _is_text(t) for t in spec.tags}
                for _loc, _site, _line, spec, name, _port in self._expanded()
            }
        )
        copy = self.model_copy()
        copy._replay = replay
        return copy

    def modbus_devices(self) -> list[TwinDevice]:
        return [d for d in self.devices() if isinstance(d, TwinDevice)]

    @property
    def protocols(self) -> set[str]:
        return {spec.protocol for _loc, _s, _l, spec in self._specs()}

    @property
    def device_count(self) -> int:
        return sum(spec.count for _loc, _s, _l, spec in self._specs())

    @property
    def tag_count(self) -> int:
        return sum(spec.count * len(spec.tags) for _loc, _s, _l, spec in self._specs())

    def hosts(self, host: str | None = None) -> dict[str, str]:
        """Where the devices of each protocol are reached: `host` for all, else each listen host."""
        return {p: host or self.listen(p).host for p in ("modbus", "opcua", "s7")}

    # -- the gateway's view ------------------------------------------------------------------

    def gateway_config(self, host: str | None = None) -> list[AnyDevice]:
        """The gateway's device list: every device at `host` (default: its protocol's listen
        host) and its port."""
        devices = self.devices()
        for device in devices:
            if device.port == 0:
                raise ConfigError(
                    "base_port 0 means the ports are chosen when the fleet starts; "
                    "ask the running fleet (Fleet.gateway_config) or set a base port",
                    field=f"{device.protocol}.base_port",
                )
        return gateway_config(devices, self.hosts(host))

    def gateway_yaml(self, host: str | None = None) -> str:
        """`gateway_config` as the gateway's YAML file: {"devices": [...]}."""
        return gateway_yaml(self.gateway_config(host))

    def with_base_port(self, port: int) -> Plant:
        """A copy whose devices without their own `port` listen from `port` on (0: any free):
        the Modbus devices first, then the OPC UA servers, then the S7 PLCs."""
        data = self.model_dump()
        next_port = port
        for protocol in ("modbus", "opcua", "s7"):
            data[protocol]["base_port"] = next_port
            if port:
                next_port += sum(
                    spec.count
                    for _l, _s, _li, spec in self._specs()
                    if spec.protocol == protocol and spec.port is None
                )
        try:
            moved = Plant.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(first["msg"], field=_dotted(first["loc"])) from exc
        moved._replay = self._replay
        return moved

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
        yield from timeline_problems(
            self.faults,
            {
                name: DeviceFacts(spec.protocol, frozenset(t.name for t in spec.tags))
                for _loc, _site, _line, spec, name, _port in self._expanded()
            },
        )
        for loc, _site, _line, spec in self._specs():
            yield from model_problems(loc, spec.models, spec.tags)
            if isinstance(spec, DeviceSpec):
                yield from _tag_problems(loc, spec)
            elif isinstance(spec, OpcUaDeviceSpec):
                yield from _opcua_tag_problems(loc, spec)
            else:
                yield from _s7_tag_problems(loc, spec)

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
            port_loc: Loc = (
                (*loc, "port") if spec.port is not None else (spec.protocol, "base_port")
            )
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
        yield from _range_problems(tloc, tag, _signal_bounds(spec, tag.signal))


def _is_text(tag: PlantTag | OpcUaPlantTag | S7PlantTag) -> bool:
    """Whether the tag holds a string (a replayed value is then text, else a number)."""
    return isinstance(tag.signal, Text)


def _signal_bounds(spec: AnyDeviceSpec, signal: Signal) -> tuple[float, float] | None:
    """The signal's bounds; for a model output, those the model gives (if the output exists)."""
    if isinstance(signal, ModelRef):
        if ref_problem(spec.models, signal) is not None:
            return None
        return ref_bounds(spec.models, signal)
    return signal.bounds()


def _range_problems(
    loc: Loc, tag: PlantTag, bounds: tuple[float, float] | None
) -> Iterator[tuple[Loc, str]]:
    """An integer tag whose bounded signal does not fit its type is an error.

    Unbounded signals (a ramp without min/max) are allowed: the raw value saturates at the
    type's limit (see simulators.modbus.encoding).
    """
    yield from _text_problems(loc, tag.type is DataType.STRING, tag.type.value, tag.signal)
    if tag.type not in INTEGER_RANGE or isinstance(tag.signal, Text):
        return
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


def _text_problems(
    loc: Loc, is_string: bool, type_name: str, signal: Signal
) -> Iterator[tuple[Loc, str]]:
    if is_string and not isinstance(signal, Text):
        yield (*loc, "signal"), f"a {type_name} tag needs a text signal (kind: text)"
    if not is_string and isinstance(signal, Text):
        yield (*loc, "signal"), f"a text signal needs a string tag, not {type_name}"


def _bounds_problem(
    loc: Loc,
    signal: Signal,
    type_name: str,
    limits: tuple[int, int] | None,
    bounds: tuple[float, float] | None,
) -> Iterator[tuple[Loc, str]]:
    if limits is None or isinstance(signal, Text):
        return
    if bounds is None:
        return
    lo, hi = limits
    if round(bounds[0]) < lo or round(bounds[1]) > hi:
        yield (
            (*loc, "signal"),
            f"the signal spans {bounds[0]:g}…{bounds[1]:g}, which does not fit {type_name} "
            f"({lo}…{hi})",
        )


def _opcua_tag_problems(loc: Loc, spec: OpcUaDeviceSpec) -> Iterator[tuple[Loc, str]]:
    yield from _unique(
        (((*loc, "tags", ti, "name"), tag.name) for ti, tag in enumerate(spec.tags)),
        f"tag of device {spec.name}",
    )
    for ti, tag in enumerate(spec.tags):
        tloc: Loc = (*loc, "tags", ti)
        yield from _text_problems(tloc, tag.type is OpcUaType.STRING, tag.type.value, tag.signal)
        yield from _bounds_problem(
            tloc,
            tag.signal,
            tag.type.value,
            OPCUA_INTEGER_RANGE.get(tag.type),
            _signal_bounds(spec, tag.signal),
        )


def _s7_tag_problems(loc: Loc, spec: S7DeviceSpec) -> Iterator[tuple[Loc, str]]:
    yield from _unique(
        (((*loc, "tags", ti, "name"), tag.name) for ti, tag in enumerate(spec.tags)),
        f"tag of device {spec.name}",
    )
    used: dict[tuple[S7Area, int, int, int], str] = {}
    for ti, tag in enumerate(spec.tags):
        tloc: Loc = (*loc, "tags", ti)
        where = tag.location
        is_bit = where.type is S7Type.BOOL
        # a BOOL owns one bit of its byte; any other type owns whole bytes (bit -1)
        cells = (
            [(where.area, where.db, where.start, where.bit)]
            if is_bit
            else [(where.area, where.db, b, -1) for b in range(where.start, where.end)]
        )
        clash = sorted(
            {
                used[key]
                for area, db, byte, bit in cells
                for key in (
                    [(area, db, byte, bit), (area, db, byte, -1)]
                    if is_bit
                    else [(area, db, byte, -1), *((area, db, byte, b) for b in range(8))]
                )
                if key in used
            }
        )
        if clash:
            yield (
                (*tloc, "address"),
                f"tag {tag.name} ({tag.address}) overlaps tag {', '.join(clash)}",
            )
        for cell in cells:
            used.setdefault(cell, tag.name)
        yield from _text_problems(tloc, where.type.is_string, where.type.value, tag.signal)
        yield from _bounds_problem(
            tloc,
            tag.signal,
            where.type.value,
            S7_INTEGER_RANGE.get(where.type),
            _signal_bounds(spec, tag.signal),
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


_T = TypeVar("_T", PlantTag, OpcUaPlantTag, S7PlantTag)


def _with_unit(tag: _T, bound: BoundTag) -> _T:
    """The tag with its model output's unit, when it serves one and sets no unit itself."""
    if bound.unit and not tag.unit:
        return tag.model_copy(update={"unit": bound.unit})
    return tag


def _twin_device(
    plant_seed: int,
    site: SiteSpec,
    line: LineSpec,
    spec: AnyDeviceSpec,
    name: str,
    port: int,
    replay: Replay | None = None,
) -> AnyTwinDevice:
    replayed = replay.sources(name) if replay is not None else None
    bound = bind_tags(plant_seed, name, spec.dt_s, spec.models, spec.tags, replayed)
    if isinstance(spec, DeviceSpec):
        return TwinDevice(
            name=name,
            site=site.name,
            line=line.name,
            port=port,
            unit_id=spec.unit_id,
            poll_interval_ms=spec.poll_interval_ms,
            timeout_ms=spec.timeout_ms,
            max_registers_per_read=spec.max_registers_per_read,
            tags=tuple(
                TwinTag(tag=_with_unit(t, b), signal=b.source, seed=b.seed)
                for t, b in zip(spec.tags, bound, strict=True)
            ),
        )
    if isinstance(spec, OpcUaDeviceSpec):
        return OpcUaTwinDevice(
            name=name,
            site=site.name,
            line=line.name,
            port=port,
            poll_interval_ms=spec.poll_interval_ms,
            timeout_ms=spec.timeout_ms,
            mode=spec.mode,
            tags=tuple(
                OpcUaTwinTag(
                    spec=_with_unit(t, b),
                    signal=b.source,
                    seed=b.seed,
                    node_id=node_id(site.name, line.name, name, t.name),
                )
                for t, b in zip(spec.tags, bound, strict=True)
            ),
        )
    return S7TwinDevice(
        name=name,
        site=site.name,
        line=line.name,
        port=port,
        rack=spec.rack,
        slot=spec.slot,
        poll_interval_ms=spec.poll_interval_ms,
        timeout_ms=spec.timeout_ms,
        tags=tuple(
            S7TwinTag(tag=_with_unit(t, b), signal=b.source, seed=b.seed)
            for t, b in zip(spec.tags, bound, strict=True)
        ),
    )


def gateway_config(
    devices: Sequence[AnyTwinDevice], hosts: Mapping[str, str] | str
) -> list[AnyDevice]:
    """The gateway's device list for `devices`, each reached at its protocol's host."""
    return [
        d.gateway_device(hosts if isinstance(hosts, str) else hosts[d.protocol]) for d in devices
    ]


def gateway_yaml(devices: Sequence[AnyDevice]) -> str:
    """The gateway's YAML device file: {"devices": [...]}, one entry per device."""
    data: dict[str, Any] = {"devices": [d.model_dump(mode="json") for d in devices]}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def load_plant(path: str | Path) -> Plant:
    """Read and validate a plant file; raise ConfigError naming file:line and field."""
    return load_yaml_model(path, Plant)
