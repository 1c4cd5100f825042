"""Device faults of the twin: what each kind does, its parameters, and the plant's timeline.

A fault is a kind and its parameters (`FaultSpec`); the fleet applies it to one device
(`Fleet.apply_fault`), from Python, from the HTTP fault API (simulators/api.py) or from the
plant file's `faults:` timeline (`TimelineFault`), and logs each application with its time.

| kind             | protocols          | parameters                                   |
|------------------|--------------------|----------------------------------------------|
| `offline`        | all                | port closed, connections dropped             |
| `restart`        | all (one-off)      | server stopped and started again             |
| `session_kill`   | all (one-off)      | open connections (OPC UA: sessions) closed   |
| `slow`           | all                | `latency_ms` added to every request          |
| `silent`         | Modbus             | requests read, never answered                |
| `protocol_error` | all                | `code`, `tags`                               |
| `quality`        | OPC UA             | `quality` (good, uncertain, bad), `tags`     |
| `status`         | OPC UA             | `status`: `quality` of every variable        |
| `cpu_stop`       | S7                 | CPU in STOP (SZL 0x0424), values frozen      |
| `frozen`         | all                | `tags`: values stop changing                 |
| `spikes`         | all                | `magnitude`, `probability` or `every_n`, `seed`, `tags` |
| `byte_order`     | Modbus, S7         | `tags`: word order swapped (Modbus), little-endian (S7) |

`tags` (optional) limits a fault to some tags of the device (default: all of them).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from simulators.opcua.model import StatusName

FaultKind = Literal[
    "offline",
    "restart",
    "session_kill",
    "slow",
    "silent",
    "protocol_error",
    "quality",
    "status",
    "cpu_stop",
    "frozen",
    "spikes",
    "byte_order",
]
FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]

Protocol = Literal["modbus", "opcua", "s7"]
PROTOCOL_LABEL = {"modbus": "Modbus", "opcua": "OPC UA", "s7": "S7"}

SUPPORTED: dict[str, frozenset[str]] = {
    "offline": frozenset({"modbus", "opcua", "s7"}),
    "restart": frozenset({"modbus", "opcua", "s7"}),
    "session_kill": frozenset({"modbus", "opcua", "s7"}),
    "slow": frozenset({"modbus", "opcua", "s7"}),
    "silent": frozenset({"modbus"}),
    "protocol_error": frozenset({"modbus", "opcua", "s7"}),
    "quality": frozenset({"opcua"}),
    "status": frozenset({"opcua"}),
    "cpu_stop": frozenset({"s7"}),
    "frozen": frozenset({"modbus", "opcua", "s7"}),
    "spikes": frozenset({"modbus", "opcua", "s7"}),
    "byte_order": frozenset({"modbus", "s7"}),
}
"""Which protocols have each fault kind."""

WHY_NOT: dict[tuple[str, str], str] = {
    ("byte_order", "opcua"): "OPC UA values are typed Variants, they have no byte order",
    ("quality", "modbus"): "Modbus carries no quality: use protocol_error",
    ("quality", "s7"): "S7 carries no quality: use protocol_error or cpu_stop",
}

ONE_OFF = frozenset({"restart", "session_kill"})
"""Kinds that happen once (no on/off, no duration)."""

PARAMETERS: dict[str, frozenset[str]] = {
    "latency_ms": frozenset({"slow"}),
    "code": frozenset({"protocol_error"}),
    "quality": frozenset({"quality"}),
    "status": frozenset({"status"}),
    "magnitude": frozenset({"spikes"}),
    "probability": frozenset({"spikes"}),
    "every_n": frozenset({"spikes"}),
    "seed": frozenset({"spikes"}),
    "tags": frozenset({"protocol_error", "quality", "frozen", "spikes", "byte_order"}),
}
"""Which kinds take each parameter."""

MODBUS_CODES = {
    1: "ILLEGAL_FUNCTION",
    2: "ILLEGAL_ADDRESS",
    3: "ILLEGAL_VALUE",
    4: "DEVICE_FAILURE",
    5: "ACKNOWLEDGE",
    6: "DEVICE_BUSY",
    7: "NEGATIVE_ACKNOWLEDGE",
    8: "MEMORY_PARITY_ERROR",
    10: "GATEWAY_PATH_UNAVAILABLE",
    11: "GATEWAY_TARGET_NO_RESPONSE",
}
"""Modbus exception codes a `protocol_error` may answer."""

S7_ITEM_CODES = {
    0x01: "hardware fault",
    0x03: "object access not allowed",
    0x05: "address out of range",
    0x06: "data type not supported",
    0x07: "data type inconsistent",
    0x0A: "object does not exist",
}
"""S7 item return codes a `protocol_error` may answer (any code above 0xFF is a PDU error:
error class << 8 | error code, e.g. 0x8104 "object does not exist" for the whole request)."""

DEFAULT_CODE: dict[str, int | str] = {
    "modbus": 4,
    "opcua": "BadCommunicationError",
    "s7": 0x01,
}


class FaultParams(BaseModel):
    """Every parameter of every fault kind; None when not given (see `PARAMETERS`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: int | None = Field(default=None, ge=1, le=60_000)
    code: int | str | None = Field(
        default=None,
        description="Modbus exception code, OPC UA Bad StatusCode name, S7 item return code "
        "or PDU error (class << 8 | code)",
    )
    quality: StatusName | None = None
    status: StatusName | None = None
    magnitude: float | None = Field(default=None, allow_inf_nan=False)
    probability: float | None = Field(default=None, gt=0, le=1)
    every_n: int | None = Field(default=None, ge=1, le=1_000_000)
    seed: int | None = None
    tags: tuple[str, ...] | None = Field(default=None, min_length=1)

    def params(self) -> FaultParams:
        """The parameters alone (a `FaultSpec` without its kind)."""
        return FaultParams.model_validate(self.given())

    def given(self) -> dict[str, Any]:
        """The parameters that were given, as JSON-able values."""
        return {
            name: getattr(self, name)
            for name in FaultParams.model_fields
            if getattr(self, name) is not None
        } | ({"tags": list(self.tags)} if self.tags is not None else {})


def _raise(model: str, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
    if problems:
        raise ValidationError.from_exception_data(
            model,
            [
                InitErrorDetails(
                    type=PydanticCustomError("fault", "{message}", {"message": message}),
                    loc=loc,
                    input=None,
                )
                for loc, message in problems
            ],
        )


class FaultSpec(FaultParams):
    """A fault: its kind and the parameters that kind takes (checked, naming the field)."""

    kind: FaultKind

    def _clearing(self) -> bool:
        return False

    @model_validator(mode="after")
    def _check_parameters(self) -> FaultSpec:
        _raise(type(self).__name__, [((f,), m) for f, m in spec_problems(self, self._clearing())])
        return self

    def spec(self) -> FaultSpec:
        """The kind and parameters alone (without a request's or a timeline's fields)."""
        if self._clearing():  # switched off: its parameters do not matter
            return FaultSpec.model_construct(kind=self.kind)
        return FaultSpec.model_validate({"kind": self.kind, **self.given()})

    def describe(self) -> str:
        """`kind` and its parameters on one line: ``slow latency_ms=500``."""
        params = " ".join(
            f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in self.given().items()
        )
        return f"{self.kind} {params}".rstrip()


def spec_problems(spec: FaultParams, clearing: bool = False) -> Iterator[tuple[str, str]]:
    """(field, message) for every parameter that does not fit the kind of `spec`.

    When `clearing` (a fault switched off), required parameters may be left out.
    """
    kind = getattr(spec, "kind", None)
    if kind is None:
        return
    for name, kinds in PARAMETERS.items():
        if getattr(spec, name) is not None and kind not in kinds:
            takes = sorted(p for p, ks in PARAMETERS.items() if kind in ks)
            yield (
                name,
                f"{kind} takes no {name} (it takes: {', '.join(takes) or 'no parameter'})",
            )
    if clearing:
        return
    if kind == "slow" and spec.latency_ms is None:
        yield "latency_ms", "slow needs latency_ms (milliseconds added to every request)"
    if kind == "spikes":
        if spec.magnitude is None:
            yield "magnitude", "spikes needs magnitude (added to a value to make an outlier)"
        elif spec.magnitude == 0:
            yield "magnitude", "a spike of magnitude 0 is no spike"
        if spec.probability is None and spec.every_n is None:
            yield "every_n", "spikes needs probability (0–1) or every_n (every n-th sample)"
        elif spec.probability is not None and spec.every_n is not None:
            yield "every_n", "give probability or every_n, not both"


class TimelineFault(FaultSpec):
    """One entry of a plant file's `faults:` timeline: `kind` on `device` `at` seconds after
    the fleet started (wall time), cleared `duration` seconds later (default: never)."""

    at: float = Field(ge=0, le=7 * 86_400, allow_inf_nan=False)
    device: str
    duration: float | None = Field(default=None, gt=0, le=7 * 86_400, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check_duration(self) -> TimelineFault:
        if self.kind in ONE_OFF and self.duration is not None:
            _raise(
                type(self).__name__,
                [(("duration",), f"{self.kind} happens once: it takes no duration")],
            )
        return self


@dataclass(frozen=True)
class DeviceFacts:
    """What fault checks need to know of a device."""

    protocol: str
    tags: frozenset[str]


def device_problems(spec: FaultSpec, name: str, device: DeviceFacts) -> Iterator[tuple[str, str]]:
    """(field, message) for a fault that `device` (called `name`) cannot take."""
    if spec.kind not in SUPPORTED or device.protocol not in SUPPORTED[spec.kind]:
        yield "kind", unsupported_message(spec.kind, name, device.protocol)
        return
    for tag in spec.tags or ():
        if tag not in device.tags:
            yield "tags", f"device {name} has no tag {tag!r}"
    if spec.code is not None:
        problem = code_problem(device.protocol, spec.code)
        if problem is not None:
            yield "code", problem


def unsupported_message(kind: str, device: str, protocol: str) -> str:
    labels = [PROTOCOL_LABEL[p] for p in ("modbus", "opcua", "s7") if p in SUPPORTED.get(kind, ())]
    article = "a" if labels[0] == "Modbus" else "an"
    message = (
        f"device {device} is not {article} {' or '.join(labels)} device: it has no {kind} fault"
    )
    why = WHY_NOT.get((kind, protocol))
    return f"{message} ({why})" if why else message


def code_problem(protocol: str, code: int | str) -> str | None:
    """Why `code` is not a protocol error of `protocol` (None: it is one)."""
    if protocol == "modbus":
        if isinstance(code, int) and not isinstance(code, bool) and code in MODBUS_CODES:
            return None
        allowed = ", ".join(f"{c} {n}" for c, n in MODBUS_CODES.items())
        return f"{code!r} is not a Modbus exception code ({allowed})"
    if protocol == "s7":
        if (
            isinstance(code, int)
            and not isinstance(code, bool)
            and (code in S7_ITEM_CODES or 0x100 <= code <= 0xFFFF)
        ):
            return None
        allowed = ", ".join(f"0x{c:02X} {n}" for c, n in S7_ITEM_CODES.items())
        return (
            f"{code!r} is not an S7 item return code ({allowed}) nor a PDU error "
            "(0x0100–0xFFFF: error class << 8 | error code)"
        )
    if not isinstance(code, str):
        return f"{code!r}: an OPC UA code is a Bad StatusCode name, e.g. BadSensorFailure"
    value = opcua_status_code(code)
    if value is None:
        return f"{code!r} is not an OPC UA StatusCode name (e.g. BadCommunicationError)"
    if (value >> 30) & 0b11 < 2:
        return f"{code} is not a Bad StatusCode"
    return None


def opcua_status_code(name: str) -> int | None:
    """The value of an OPC UA StatusCode by its name (asyncua's table), None if unknown."""
    from asyncua import ua

    value = getattr(ua.StatusCodes, name, None)
    return value if isinstance(value, int) and name[:1].isupper() else None


def timeline_problems(
    faults: Iterable[TimelineFault], devices: Mapping[str, DeviceFacts]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(loc, message) for every timeline entry naming an unknown device or a fault its
    device cannot take."""
    for i, fault in enumerate(faults):
        facts = devices.get(fault.device)
        if facts is None:
            yield ("faults", i, "device"), f"the plant has no device {fault.device!r}"
            continue
        for name, message in device_problems(fault, fault.device, facts):
            yield ("faults", i, name), message


def request_body(
    device: str, kind: str, on: bool, params: FaultParams | None = None
) -> dict[str, Any]:
    """The body of ``POST /faults`` for this fault (for targets that run the fleet elsewhere)."""
    return {"device": device, "kind": kind, "on": on, **(params.given() if params else {})}


# -- what a server does while faults are on --------------------------------------------------


def _selects(tags: frozenset[str] | None, name: str) -> bool:
    return tags is None or name in tags


@dataclass
class Spikes:
    """Occasional outliers: sample n of a tag (counted from the fault's start) is served
    `magnitude` off when it is every `every_n`-th, or with `probability`, decided by a hash of
    (seed, device, tag, n): the same requests give the same spikes."""

    device: str
    magnitude: float
    probability: float | None
    every_n: int | None
    seed: int
    tags: frozenset[str] | None
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, tag: str) -> bool:
        """Whether the next sample of `tag` is a spike (counts the sample)."""
        if not _selects(self.tags, tag):
            return False
        with self._lock:
            n = self._counts.get(tag, 0)
            self._counts[tag] = n + 1
        if self.every_n is not None:
            return n % self.every_n == self.every_n - 1
        digest = hashlib.blake2b(
            f"{self.seed}\0{self.device}\0{tag}\0{n}".encode(), digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") / 2**64 < (self.probability or 0.0)


@dataclass
class ActiveFaults:
    """The request-path faults of one device's server, read on every request.

    S7 servers read it from their client threads: each fault is one attribute, replaced as a
    whole when it changes.
    """

    latency_s: float = 0.0
    error_code: int | str | None = None
    error_tags: frozenset[str] | None = None
    quality: StatusName | None = None
    quality_tags: frozenset[str] | None = None
    frozen_at: float | None = None
    frozen_tags: frozenset[str] | None = None
    spikes: Spikes | None = None
    byte_order: bool = False
    byte_order_tags: frozenset[str] | None = None

    def error_for(self, tag: str) -> int | str | None:
        if self.error_code is not None and _selects(self.error_tags, tag):
            return self.error_code
        return None

    def quality_for(self, tag: str) -> StatusName | None:
        if self.quality is not None and _selects(self.quality_tags, tag):
            return self.quality
        return None

    def time_for(self, tag: str, t: float) -> float:
        """The simulated time whose value `tag` serves at `t` (a frozen tag: the freeze's)."""
        if self.frozen_at is not None and _selects(self.frozen_tags, tag):
            return self.frozen_at
        return t

    def spike(self, tag: str) -> float:
        """What to add to the next sample of `tag` (0: no spike)."""
        spikes = self.spikes
        return spikes.magnitude if spikes is not None and spikes.next(tag) else 0.0

    def swapped(self, tag: str) -> bool:
        return self.byte_order and _selects(self.byte_order_tags, tag)

    @property
    def touches_values(self) -> bool:
        return self.frozen_at is not None or self.spikes is not None or self.byte_order

    def set(self, spec: FaultSpec, on: bool, *, device: str, now: float, protocol: str) -> None:
        """Switch the request-path fault `spec` on or off (`now`: the simulated time)."""
        tags = frozenset(spec.tags) if spec.tags is not None else None
        match spec.kind:
            case "slow":
                self.latency_s = (spec.latency_ms or 0) / 1000 if on else 0.0
            case "protocol_error":
                code = spec.code if spec.code is not None else DEFAULT_CODE[protocol]
                self.error_tags = tags if on else None
                self.error_code = code if on else None
            case "quality":
                self.quality_tags = tags if on else None
                self.quality = (spec.quality or "bad") if on else None
            case "frozen":
                self.frozen_tags = tags if on else None
                self.frozen_at = now if on else None
            case "spikes":
                self.spikes = (
                    Spikes(
                        device=device,
                        magnitude=spec.magnitude or 0.0,
                        probability=spec.probability,
                        every_n=spec.every_n,
                        seed=spec.seed or 0,
                        tags=tags,
                    )
                    if on
                    else None
                )
            case "byte_order":
                self.byte_order_tags = tags if on else None
                self.byte_order = on
            case _:  # pragma: no cover - the fleet routes only these kinds here
                raise ValueError(f"{spec.kind} is not a request-path fault")


REQUEST_PATH = frozenset({"slow", "protocol_error", "quality", "frozen", "spikes", "byte_order"})
"""Kinds the servers apply on their request paths (`ActiveFaults`)."""
