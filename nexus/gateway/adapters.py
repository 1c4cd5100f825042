"""Device configuration → the adapter that talks to it (the one place that knows protocols).

Each protocol's library is imported only when a device of that protocol is configured.
"""

from __future__ import annotations

import asyncio

from nexus.gateway.adapter import DeviceAdapter
from nexus.model.tags import AnyDevice, ModbusDevice, OpcUaDevice, S7Device


def make_adapter(device: AnyDevice) -> DeviceAdapter:
    """The adapter for `device`, by its protocol."""
    if isinstance(device, ModbusDevice):
        from nexus.gateway.modbus.adapter import ModbusAdapter

        return ModbusAdapter(device)
    if isinstance(device, OpcUaDevice):
        from nexus.gateway.opcua.adapter import OpcUaAdapter

        return OpcUaAdapter(device)
    if isinstance(device, S7Device):
        from nexus.gateway.s7.adapter import S7Adapter

        return S7Adapter(device)
    raise TypeError(f"no adapter for {type(device).__name__}")  # pragma: no cover


def raise_if_cancelled() -> None:
    """Raise CancelledError if the current task was asked to stop and a library swallowed it.

    On Python 3.11 `asyncio.wait_for` (used inside python-snap7 and asyncua for every
    request) can swallow a cancellation that arrives as its inner read completes
    (gh-86296, fixed in 3.12); a poller would then never stop. Adapters call this after
    talking to the device.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
