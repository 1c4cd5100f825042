"""The twin's expanded devices and tags, and what each tag serves at a simulated time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from nexus.model.tags import ModbusDevice, ModbusTag, RegisterTable
from simulators.modbus.encoding import RawValue, decode_raw, encode_raw, encode_string, to_raw
from simulators.signals import Source

TagValue = float | int | bool | str
"""What a tag serves: a number, a bool or a string."""


def signal_value(signal: Source, t: float, seed: int) -> float | str:
    """The source's value at `t`: a string for a text signal (or replayed text), else a number."""
    return signal.sample(t, seed)


_TAG_FIELDS = set(ModbusTag.model_fields)


@dataclass(frozen=True, slots=True, eq=False)
class TwinTag:
    """One tag of one expanded device: its Modbus description, its source and its seed.

    `signal` is the tag's signal, or what it was bound to at expansion: an output of the
    device's process models or a replayed recording (`simulators.signals.Source`).
    """

    tag: ModbusTag
    signal: Source
    seed: int

    @property
    def name(self) -> str:
        return self.tag.name

    @property
    def table(self) -> RegisterTable:
        return self.tag.table

    @property
    def address(self) -> int:
        return self.tag.address

    @property
    def end(self) -> int:
        """One past the last address the tag occupies."""
        return self.tag.address + self.tag.register_count

    def signal_at(self, t: float) -> float | str:
        """The ideal engineering value at simulated time `t`, before encoding."""
        return signal_value(self.signal, t, self.seed)

    def raw_at(self, t: float) -> RawValue:
        """The raw value stored at `t` (rounded and clamped for integer types)."""
        return to_raw(self.tag, self.signal_at(t))

    def value_at(self, t: float) -> TagValue:
        """The engineering value a correct reader decodes at `t` (raw · scale + offset)."""
        return decode_raw(self.tag, self.raw_at(t))

    def registers_at(self, t: float) -> list[int]:
        """The registers served at `t` (register tables only)."""
        raw = self.raw_at(t)
        if isinstance(raw, str):
            return encode_string(raw, self.tag.length or 0, self.tag.order)
        if isinstance(raw, bool):
            raise ValueError(f"tag {self.name} is a bit, not registers")
        return encode_raw(raw, self.tag.type, self.tag.order)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def find_tag(device: str, tags: Iterable[N], name: str) -> N:
    """The tag called `name` of a twin device (any protocol); KeyError naming both if absent."""
    for tag in tags:
        if tag.name == name:
            return tag
    raise KeyError(f"device {device} has no tag {name!r}")


def value_at(tag: TwinTag, t: float) -> TagValue:
    """The engineering value the twin serves for `tag` at simulated time `t`."""
    return tag.value_at(t)


@dataclass(frozen=True, slots=True, eq=False)
class TwinDevice:
    """One simulated Modbus device after `count` expansion, with where it listens."""

    name: str
    site: str
    line: str
    port: int
    unit_id: int
    poll_interval_ms: int
    timeout_ms: int
    max_registers_per_read: int
    tags: tuple[TwinTag, ...]
    protocol: Literal["modbus"] = "modbus"

    def tag(self, name: str) -> TwinTag:
        return find_tag(self.name, self.tags, name)

    def modbus_device(self, host: str) -> ModbusDevice:
        """This device as the gateway polls it (`host` is where the fleet listens)."""
        return ModbusDevice(
            name=self.name,
            site=self.site,
            line=self.line,
            host=host,
            port=self.port,
            unit_id=self.unit_id,
            poll_interval_ms=self.poll_interval_ms,
            timeout_ms=self.timeout_ms,
            max_registers_per_read=self.max_registers_per_read,
            tags=[
                ModbusTag.model_validate(t.tag.model_dump(include=_TAG_FIELDS)) for t in self.tags
            ],
        )

    def gateway_device(self, host: str) -> ModbusDevice:
        return self.modbus_device(host)
