"""The S7 twin's tags and devices: what each address serves, typed as the PLC stores it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nexus.model.s7address import S7Address, S7Type
from nexus.model.tags import S7Device, S7Tag
from simulators.signals import Signal, Source
from simulators.twin import TagValue, find_tag, signal_value
from simulators.values import int_range, to_bool, to_float32, to_integer

INTEGER_RANGE: dict[S7Type, tuple[int, int]] = {
    S7Type.BYTE: int_range(8, False),
    S7Type.USINT: int_range(8, False),
    S7Type.SINT: int_range(8, True),
    S7Type.WORD: int_range(16, False),
    S7Type.UINT: int_range(16, False),
    S7Type.INT: int_range(16, True),
    S7Type.DWORD: int_range(32, False),
    S7Type.UDINT: int_range(32, False),
    S7Type.DINT: int_range(32, True),
    S7Type.LWORD: int_range(64, False),
    S7Type.ULINT: int_range(64, False),
    S7Type.LINT: int_range(64, True),
}


class S7PlantTag(S7Tag):
    """A tag of a simulated PLC: every field of `S7Tag`, plus the signal it serves."""

    signal: Signal


def fit_string(address: S7Address, text: str) -> str:
    """`text` as the PLC can hold it: at most `length` characters (STRING: Latin-1 only)."""
    if address.type is S7Type.STRING:
        text = text.encode("latin-1", errors="replace").decode("latin-1")
    else:  # WSTRING holds UTF-16 code units of the Basic Multilingual Plane only
        text = "".join(c for c in text if ord(c) <= 0xFFFF)
    return text[: address.length]


def typed_value(address: S7Address, value: float | str) -> TagValue:
    """The value the PLC holds at `address` for the signal value `value`."""
    if address.type.is_string:
        if not isinstance(value, str):
            raise ValueError(f"a {address.type.value} needs a text signal")
        return fit_string(address, value)
    if isinstance(value, str):
        raise ValueError(f"a {address.type.value} cannot hold text")
    if address.type is S7Type.BOOL:
        return to_bool(value)
    if address.type is S7Type.REAL:
        return to_float32(value)
    if address.type is S7Type.LREAL:
        return float(value)
    lo, hi = INTEGER_RANGE[address.type]
    return to_integer(value, lo, hi)


@dataclass(frozen=True, slots=True, eq=False)
class S7TwinTag:
    tag: S7Tag
    signal: Source  # the tag's signal, or the model output / replay it was bound to
    seed: int

    @property
    def name(self) -> str:
        return self.tag.name

    @property
    def location(self) -> S7Address:
        return self.tag.location

    def value_at(self, t: float) -> TagValue:
        return typed_value(self.tag.location, signal_value(self.signal, t, self.seed))


@dataclass(frozen=True, slots=True, eq=False)
class S7TwinDevice:
    """One simulated S7 PLC."""

    name: str
    site: str
    line: str
    port: int
    rack: int
    slot: int
    poll_interval_ms: int
    timeout_ms: int
    tags: tuple[S7TwinTag, ...]
    protocol: Literal["s7"] = "s7"

    def tag(self, name: str) -> S7TwinTag:
        return find_tag(self.name, self.tags, name)

    def gateway_device(self, host: str) -> S7Device:
        return S7Device(
            name=self.name,
            site=self.site,
            line=self.line,
            protocol="s7",
            host=host,
            port=self.port,
            rack=self.rack,
            slot=self.slot,
            poll_interval_ms=self.poll_interval_ms,
            timeout_ms=self.timeout_ms,
            tags=[S7Tag(name=t.name, address=t.tag.address, unit=t.tag.unit) for t in self.tags],
        )
