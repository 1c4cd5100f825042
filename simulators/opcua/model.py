"""The OPC UA twin's tags and devices: what each variable serves, typed, with its status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nexus.model.payload import Quality
from nexus.model.tags import Name, OpcUaDevice, OpcUaTag, OpcUaType
from simulators.signals import Signal, Source
from simulators.twin import TagValue, find_tag, signal_value
from simulators.values import int_range, to_bool, to_float32, to_integer

NAMESPACE_URI = "urn:nexus-edge:twin"
"""The twin's namespace; the first one a server registers, so its index is 2."""
NAMESPACE_INDEX = 2

StatusName = Literal["good", "uncertain", "bad"]

INTEGER_RANGE: dict[OpcUaType, tuple[int, int]] = {
    OpcUaType.SBYTE: int_range(8, True),
    OpcUaType.BYTE: int_range(8, False),
    OpcUaType.INT16: int_range(16, True),
    OpcUaType.UINT16: int_range(16, False),
    OpcUaType.INT32: int_range(32, True),
    OpcUaType.UINT32: int_range(32, False),
    OpcUaType.INT64: int_range(64, True),
    OpcUaType.UINT64: int_range(64, False),
}
NUMERIC = frozenset({*INTEGER_RANGE, OpcUaType.FLOAT, OpcUaType.DOUBLE})


class OpcUaPlantTag(BaseModel):
    """An OPC UA variable of a simulated device: its type, unit, status and signal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    type: OpcUaType = OpcUaType.DOUBLE
    unit: str = ""
    status: StatusName = "good"
    deadband: float | None = Field(default=None, ge=0)
    signal: Signal


def typed_value(data_type: OpcUaType, value: float | str) -> TagValue:
    """The value a variable of `data_type` holds for the signal value `value`."""
    if data_type is OpcUaType.STRING:
        if not isinstance(value, str):
            raise ValueError("a String variable needs a text signal")
        return value
    if isinstance(value, str):
        raise ValueError(f"a {data_type.value} variable cannot hold text")
    if data_type is OpcUaType.BOOLEAN:
        return to_bool(value)
    if data_type is OpcUaType.FLOAT:
        return to_float32(value)
    if data_type is OpcUaType.DOUBLE:
        return float(value)
    lo, hi = INTEGER_RANGE[data_type]
    return to_integer(value, lo, hi)


_WORST = {"good": 0, "uncertain": 1, "bad": 2}


def worst(a: StatusName, b: StatusName) -> StatusName:
    return a if _WORST[a] >= _WORST[b] else b


QUALITY: dict[StatusName, Quality] = {
    "good": Quality.GOOD,
    "uncertain": Quality.UNCERTAIN,
    "bad": Quality.BAD,
}


@dataclass(frozen=True, slots=True, eq=False)
class OpcUaTwinTag:
    spec: OpcUaPlantTag
    signal: Source  # the tag's signal, or the model output / replay it was bound to
    seed: int
    node_id: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> OpcUaType:
        return self.spec.type

    def value_at(self, t: float) -> TagValue:
        """What the variable holds at simulated time `t` (whatever its status)."""
        return typed_value(self.spec.type, signal_value(self.signal, t, self.seed))


@dataclass(frozen=True, slots=True, eq=False)
class OpcUaTwinDevice:
    """One simulated OPC UA server serving one device's variables."""

    name: str
    site: str
    line: str
    port: int
    poll_interval_ms: int
    timeout_ms: int
    mode: Literal["subscription", "polling"]
    tags: tuple[OpcUaTwinTag, ...]
    protocol: Literal["opcua"] = "opcua"

    def tag(self, name: str) -> OpcUaTwinTag:
        return find_tag(self.name, self.tags, name)

    def endpoint(self, host: str) -> str:
        return f"opc.tcp://{host}:{self.port}"

    def gateway_device(self, host: str) -> OpcUaDevice:
        return OpcUaDevice(
            name=self.name,
            site=self.site,
            line=self.line,
            protocol="opcua",
            endpoint=self.endpoint(host),
            mode=self.mode,
            poll_interval_ms=self.poll_interval_ms,
            timeout_ms=self.timeout_ms,
            tags=[
                OpcUaTag(name=t.name, node_id=t.node_id, unit=t.spec.unit, deadband=t.spec.deadband)
                for t in self.tags
            ],
        )


def node_id(site: str, line: str, device: str, tag: str) -> str:
    """The string node id of a twin variable: ns=2;s=site.line.device.tag."""
    return f"ns={NAMESPACE_INDEX};s={site}.{line}.{device}.{tag}"
