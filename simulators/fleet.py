"""The Modbus fleet: every Modbus device of a plant served from one process.

async with ModbusFleet(plant) as fleet:        # every device listens when this returns
    devices = fleet.gateway_config()            # where the gateway finds them
    await fleet.set_offline("press-03", True)   # connection refused until set back
"""

from __future__ import annotations

import asyncio
import logging
import time

from nexus.lifecycle import AsyncService
from nexus.model.tags import ModbusDevice
from simulators.clock import SimClock
from simulators.errors import FleetError
from simulators.modbus.server import DeviceServer
from simulators.plant import Plant, gateway_config, gateway_yaml
from simulators.twin import TwinDevice

log = logging.getLogger(__name__)


class ModbusFleet(AsyncService):
    """Serves every device of `plant`, each with its own Modbus TCP server and port.

    `clock` maps wall time to simulated time; by default a `SimClock` started when the fleet
    starts, running at `speed`. It may be replaced while running (`fleet.clock = ...`); every
    request reads the clock then. `host` overrides the plant's `modbus.host`.
    """

    def __init__(
        self,
        plant: Plant,
        *,
        clock: SimClock | None = None,
        speed: float = 1.0,
        host: str | None = None,
    ) -> None:
        self.plant = plant
        self.host = host or plant.modbus.host
        self._clock = clock
        self._speed = speed
        self._servers: dict[str, DeviceServer] = {}
        self._offline: set[str] = set()

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every device; return when all listen. On any failure none is left running."""
        if self._servers:
            raise FleetError("the fleet is already running")
        began = time.perf_counter()
        if self._clock is None:
            self._clock = SimClock(speed=self._speed)
        servers = {d.name: DeviceServer(d, self.host, self._now) for d in self.plant.devices()}
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
        ports = [s.port for s in servers.values()]
        log.info(
            "modbus fleet %s: %d devices, %d tags listening on %s ports %d–%d (%.2f s)",
            self.plant.plant,
            len(servers),
            sum(len(s.device.tags) for s in servers.values()),
            self.host,
            min(ports, default=0),
            max(ports, default=0),
            time.perf_counter() - began,
        )

    async def stop(self, *, quiet: bool = False) -> None:
        """Stop every device and close every connection."""
        servers, self._servers = self._servers, {}
        self._offline.clear()
        if not servers:
            return
        await asyncio.gather(*(s.stop() for s in servers.values()))
        if not quiet:
            log.info("modbus fleet %s: stopped %d devices", self.plant.plant, len(servers))

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
    def devices(self) -> list[TwinDevice]:
        """Every served device, with the port it really listens on."""
        return [s.device for s in self._servers.values()]

    def device(self, name: str) -> TwinDevice:
        return self._server(name).device

    def gateway_config(self, host: str | None = None) -> list[ModbusDevice]:
        """The gateway's device list for the running fleet (real ports)."""
        return gateway_config(self.devices, host or self.host)

    def gateway_yaml(self, host: str | None = None) -> str:
        return gateway_yaml(self.gateway_config(host))

    def value_at(self, device: str, tag: str, t: float | None = None) -> float | int | bool:
        """What `device` serves for `tag` at simulated time `t` (default: now)."""
        return self._server(device).device.tag(tag).value_at(self._now() if t is None else t)

    # -- faults ------------------------------------------------------------------------------

    async def set_offline(self, device: str, offline: bool = True) -> None:
        """Offline: the device's port is closed (connections refused, open ones dropped)."""
        server = self._server(device)
        if offline and device not in self._offline:
            self._offline.add(device)
            await server.stop()
            log.info("modbus fleet: device %s offline (port %d closed)", device, server.port)
        elif not offline and device in self._offline:
            await server.start()
            self._offline.discard(device)
            log.info("modbus fleet: device %s back online on port %d", device, server.port)

    async def set_silent(self, device: str, silent: bool = True) -> None:
        """Silent: the device accepts connections and requests but never answers."""
        server = self._server(device)
        if server.silent != silent:
            server.silent = silent
            log.info("modbus fleet: device %s %s", device, "silent" if silent else "answers again")

    def is_offline(self, device: str) -> bool:
        self._server(device)
        return device in self._offline

    def is_silent(self, device: str) -> bool:
        return self._server(device).silent

    def _server(self, name: str) -> DeviceServer:
        try:
            return self._servers[name]
        except KeyError:
            raise KeyError(f"the fleet serves no device {name!r}") from None
