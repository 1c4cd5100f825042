"""Errors of the digital twin (part of the `nexus.errors.NexusError` hierarchy)."""

from __future__ import annotations

from nexus.errors import NexusError


class FleetError(NexusError):
    """A simulated device could not start serving (e.g. its port is in use)."""
