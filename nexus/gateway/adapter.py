"""The one interface every protocol adapter implements; polling and publishing are written once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nexus.model.payload import Quality, Value


@dataclass(frozen=True, slots=True)
class Reading:
    """The value of one tag at one acquisition."""

    tag: str
    value: Value
    quality: Quality
    unit: str


class DeviceAdapter(Protocol):
    """Talks to one device.

    ``read`` returns one reading per configured tag: a tag whose block the device refused gets
    quality bad and no value. A failure of the whole device (timeout, refused connection) raises
    a ``nexus.errors.DeviceError``; the adapter reconnects on the next ``read``.

    A device that reports by exception (OPC UA in subscription mode) returns instead the
    readings that arrived since the previous ``read`` (possibly none), so the same poller
    publishes them on the same schedule; a lost session raises DeviceError like a failed poll.
    Adapters are made from the device configuration by ``nexus.gateway.adapters.make_adapter``.
    """

    @property
    def name(self) -> str: ...

    async def read(self) -> list[Reading]: ...

    async def close(self) -> None: ...
