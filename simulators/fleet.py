"""The fleet: every simulated device of a plant, of every protocol, served from one process.

async with Fleet(plant) as fleet:                # every device listens when this returns
    devices = fleet.gateway_config()              # where the gateway finds them
    await fleet.set_offline("press-03", True)     # connection refused until set back
    await fleet.set_cpu_running("plc-01", False)  # an S7 CPU in STOP
    await fleet.set_status("oven-01", "bad")      # OPC UA StatusCode Bad on every variable
    await fleet.restart("oven-01")                # an OPC UA server restart (sessions lost)

Each Modbus device has its own pymodbus server, each OPC UA device its own asyncua server, each
S7 device its own python-snap7 server, each on its own port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from nexus.lifecycle import AsyncService
from nexus.model.tags import AnyDevice, ModbusDevice
from simulators.clock import SimClock
from simulators.errors import FleetError
from simulators.modbus.server import DeviceServer
from simulators.opcua.model import StatusName
from simulators.opcua.server import OpcUaDeviceServer
from simulators.plant import AnyTwinDevice, Plant, gateway_config, gateway_yaml
from simulators.s7.server import S7DeviceServer
from simulators.twin import TagValue, TwinDevice

log = logging.getLogger(__name__)


class Served(Protocol):
    """What the fleet needs of one device's server, whatever its protocol."""

    @property
    def device(self) -> AnyTwinDevice: ...

    @property
    def port(self) -> int: ...

    @property
    def serving(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Fleet(AsyncService):
    """Serves every device of `plant`, each with its own server and port.

    `clock` maps wall time to simulated time; by default a `SimClock` started when the fleet
    starts, running at `speed`. It may be replaced while running (`fleet.clock = ...`); every
    request reads the clock then. `host` overrides the plant's listen hosts. `protocols`
    limits the fleet to some protocols (default: all of the plant's).
    """

    def __init__(
        self,
        plant: Plant,
        *,
        clock: SimClock | None = None,
        speed: float = 1.0,
        host: str | None = None,
        protocols: Sequence[str] | None = None,
    ) -> None:
        self.plant = plant
        self.hosts = plant.hosts(host)
        self.host = self.hosts["modbus"]
        self._protocols = set(protocols) if protocols is not None else None
        self._clock = clock
        self._speed = speed
        self._servers: dict[str, Served] = {}
        self._offline: set[str] = set()
        self._refresher: asyncio.Task[None] | None = None

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every device; return when all listen. On any failure none is left running."""
        if self._servers:
            raise FleetError("the fleet is already running")
        began = time.perf_counter()
        if self._clock is None:
            self._clock = SimClock(speed=self._speed)
        servers: dict[str, Served] = {}
        for device in self.plant.devices():
            if self._protocols is not None and device.protocol not in self._protocols:
                continue
            host = self.hosts[device.protocol]
            if device.protocol == "modbus":
                servers[device.name] = DeviceServer(device, host, self._now)
            elif device.protocol == "opcua":
                servers[device.name] = OpcUaDeviceServer(device, host, self._now)
            else:
                servers[device.name] = S7DeviceServer(device, host, self._now)
        self._servers = servers
        try:
            results = await asyncio.gather(
                *(s.start() for s in servers.values()), return_exceptions=True
            )
        except BaseException:  # cancelled while starting: leave nothing listening
            await self.stop(quiet=True)
            raise
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await self.stop(quiet=True)
            raise failures[0]
        if any(isinstance(s, OpcUaDeviceServer) for s in servers.values()):
            self._refresher = asyncio.create_task(self._refresh_opcua(), name="fleet:opcua")
        for protocol in sorted({s.device.protocol for s in servers.values()}):
            mine = [s for s in servers.values() if s.device.protocol == protocol]
            ports = [s.port for s in mine]
            log.info(
                "%s fleet %s: %d devices, %d tags listening on %s ports %d–%d (%.2f s)",
                protocol,
                self.plant.plant,
                len(mine),
                sum(len(s.device.tags) for s in mine),
                self.hosts[protocol],
                min(ports),
                max(ports),
                time.perf_counter() - began,
            )

    async def stop(self, *, quiet: bool = False) -> None:
        """Stop every device and close every connection."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        servers, self._servers = self._servers, {}
        self._offline.clear()
        if not servers:
            return
        await asyncio.gather(*(s.stop() for s in servers.values()))
        if not quiet:
            log.info("fleet %s: stopped %d devices", self.plant.plant, len(servers))

    async def _refresh_opcua(self) -> None:
        """OPC UA servers keep values in their address space: write changes periodically."""
        interval = self.plant.opcua.update_interval_ms / 1000
        while True:
            for server in list(self._servers.values()):
                if isinstance(server, OpcUaDeviceServer) and server.serving:
                    try:
                        await server.refresh()
                    except Exception:  # a server being restarted must not stop the others
                        log.exception("OPC UA device %s: refresh failed", server.device.name)
            await asyncio.sleep(interval)

    # -- what is served where ----------------------------------------------------------------

    @property
    def clock(self) -> SimClock:
        if self._clock is None:
            raise FleetError("the fleet has not started: no clock yet")
        return self._clock

    @clock.setter
    def clock(self, clock: SimClock) -> None:
        self._clock = clock

    def _now(self) -> float:
        return self.clock.now()

    @property
    def devices(self) -> list[AnyTwinDevice]:
        """Every served device, with the port it really listens on."""
        return [s.device for s in self._servers.values()]

    def device(self, name: str) -> AnyTwinDevice:
        return self._server(name).device

    def gateway_config(self, host: str | None = None) -> list[AnyDevice]:
        """The gateway's device list for the running fleet (real ports)."""
        return gateway_config(self.devices, self.plant.hosts(host) if host else self.hosts)

    def gateway_yaml(self, host: str | None = None) -> str:
        return gateway_yaml(self.gateway_config(host))

    def value_at(self, device: str, tag: str, t: float | None = None) -> TagValue:
        """What `device` serves for `tag` at simulated time `t` (default: now)."""
        return self._server(device).device.tag(tag).value_at(self._now() if t is None else t)

    # -- faults ------------------------------------------------------------------------------

    async def set_offline(self, device: str, offline: bool = True) -> None:
        """Offline: the device's port is closed (connections refused, open ones dropped)."""
        server = self._server(device)
        if offline and device not in self._offline:
            self._offline.add(device)
            await server.stop()
            log.info("fleet: device %s offline (port %d closed)", device, server.port)
        elif not offline and device in self._offline:
            await server.start()
            self._offline.discard(device)
            log.info("fleet: device %s back online on port %d", device, server.port)

    async def restart(self, device: str) -> None:
        """Stop and start the device's server (an OPC UA server forgets its sessions)."""
        await self.set_offline(device, True)
        await self.set_offline(device, False)

    async def set_silent(self, device: str, silent: bool = True) -> None:
        """Silent (Modbus): the device accepts connections and requests but never answers."""
        server = self._server(device)
        if not isinstance(server, DeviceServer):
            raise FleetError(f"device {device} is not a Modbus device: it cannot be silent")
        if server.silent != silent:
            server.silent = silent
            log.info("fleet: device %s %s", device, "silent" if silent else "answers again")

    async def set_cpu_running(self, device: str, running: bool = True) -> None:
        """S7: put the CPU in RUN or STOP (SZL 0x0424 tells; values freeze in STOP)."""
        server = self._server(device)
        if not isinstance(server, S7DeviceServer):
            raise FleetError(f"device {device} is not an S7 PLC: it has no CPU state")
        if server.running != running:
            server.set_running(running)
            log.info("fleet: PLC %s CPU %s", device, "RUN" if running else "STOP")

    async def set_status(self, device: str, status: StatusName) -> None:
        """OPC UA: serve every variable of `device` with at least this status."""
        server = self._server(device)
        if not isinstance(server, OpcUaDeviceServer):
            raise FleetError(f"device {device} is not an OPC UA device: it has no StatusCode")
        if server.status != status:
            await server.set_status(status)
            log.info("fleet: OPC UA device %s status %s", device, status)

    def is_offline(self, device: str) -> bool:
        self._server(device)
        return device in self._offline

    def is_silent(self, device: str) -> bool:
        server = self._server(device)
        return isinstance(server, DeviceServer) and server.silent

    def _server(self, name: str) -> Served:
        try:
            return self._servers[name]
        except KeyError:
            raise KeyError(f"the fleet serves no device {name!r}") from None


class ModbusFleet(Fleet):
    """The Modbus devices of a plant only, typed as such (the fleet's API before OPC UA and S7)."""

    def __init__(
        self,
        plant: Plant,
        *,
        clock: SimClock | None = None,
        speed: float = 1.0,
        host: str | None = None,
    ) -> None:
        super().__init__(plant, clock=clock, speed=speed, host=host, protocols=("modbus",))

    @property
    def devices(self) -> list[TwinDevice]:  # type: ignore[override]
        return [d for d in super().devices if isinstance(d, TwinDevice)]

    def device(self, name: str) -> TwinDevice:
        device = super().device(name)
        if not isinstance(device, TwinDevice):  # pragma: no cover - only Modbus is served
            raise KeyError(f"{name} is not a Modbus device")
        return device

    def gateway_config(self, host: str | None = None) -> list[ModbusDevice]:  # type: ignore[override]
        return [d.modbus_device(host or self.host) for d in self.devices]
