"""Errors of the digital twin (part of the `nexus.errors.NexusError` hierarchy)."""

from __future__ import annotations

from nexus.errors import NexusError


class FleetError(NexusError):
    """A simulated device could not start serving (e.g. its port is in use)."""


class FaultError(FleetError):
    """A fault a device cannot take: a kind its protocol does not have (`field` "kind"), or a
    parameter that does not fit the device (an unknown tag, a code its protocol lacks)."""

    def __init__(self, message: str, *, field: str = "kind") -> None:
        self.field = field
        super().__init__(message)
