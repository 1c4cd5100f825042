"""The fleet: every simulated device of a plant, of every protocol, served from one process.

async with Fleet(plant) as fleet:                # every device listens when this returns
    devices = fleet.gateway_config()              # where the gateway finds them
    await fleet.set_offline("press-03", True)     # connection refused until set back
    await fleet.set_cpu_running("plc-01", False)  # an S7 CPU in STOP
    await fleet.set_status("oven-01", "bad")      # OPC UA StatusCode Bad on every variable
    await fleet.restart("oven-01")                # an OPC UA server restart (sessions lost)
    await fleet.apply_fault("press-01", FaultSpec(kind="slow", latency_ms=800))
    await fleet.clear_fault("press-01", "slow")
    fleet.fault_log                               # every fault applied, with its time

Every fault kind and its parameters: simulators/faults.py. A plant's `faults:` timeline runs
when the fleet starts (unless `timeline=False`), times relative to the start, in wall seconds.

Each Modbus device has its own pymodbus server, each OPC UA device its own asyncua server, each
S7 device its own python-snap7 server, each on its own port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from nexus.lifecycle import AsyncService
from nexus.model.tags import AnyDevice, ModbusDevice
from simulators.clock import SimClock
from simulators.errors import FaultError, FleetError
from simulators.faults import (
    ONE_OFF,
    REQUEST_PATH,
    DeviceFacts,
    FaultKind,
    FaultSpec,
    TimelineFault,
    device_problems,
)
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
        timeline: bool = True,
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
        self._run_timeline = timeline
        self._timeline: asyncio.Task[None] | None = None
        self._active: dict[str, dict[str, FaultSpec]] = {}
        self._fault_locks: dict[str, asyncio.Lock] = {}
        self.fault_log: list[dict[str, Any]] = []
        """Every fault applied or cleared, in order, with its wall time (see `apply_fault`)."""
        self.started_ms: int | None = None
        """When the fleet started listening (Unix epoch ms): the timeline's zero."""

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
        self._start_timeline()
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
        if self._timeline is not None:
            self._timeline.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timeline
            self._timeline = None
        self._active.clear()
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

    async def apply_fault(
        self,
        device: str,
        fault: FaultSpec,
        on: bool = True,
        *,
        source: str = "python",
        at: float | None = None,
    ) -> dict[str, Any]:
        """Switch `fault` on (or off) on `device`; log it and return the log entry.

        The entry (also appended to `fault_log`, and one INFO line) holds the device, kind,
        on, the parameters given, `source` (python, api, timeline), `at` (the timeline's
        planned time, if any), `elapsed_s` since the fleet started, and the wall time (`time`
        ISO 8601 UTC with ms, `epoch_ms`) taken when the fault is in effect (e.g. the port
        closed), so it can be lined up with what the pipeline saw.

        One-off kinds (restart, session_kill) happen when `on`; off is a no-op. A fault of a
        kind already on replaces it (new parameters). Raises KeyError for an unknown device,
        FaultError for a fault the device cannot take (its `field` names what is wrong).
        """
        server = self._server(device)
        protocol = server.device.protocol
        facts = DeviceFacts(protocol, frozenset(t.name for t in server.device.tags))
        for field, message in device_problems(fault, device, facts):
            raise FaultError(message, field=field)
        kind = fault.kind
        if kind == "status" and on and fault.status is None:
            fault = FaultSpec(kind="status", status="bad")
        async with self._fault_locks.setdefault(device, asyncio.Lock()):
            if not (kind in ONE_OFF and not on):
                await self._switch(server, fault, on)
            active = self._active.setdefault(device, {})
            if on and kind not in ONE_OFF:
                active[kind] = fault.spec()
            elif not on:
                active.pop(kind, None)
            return self._log_fault(device, fault, on, source=source, at=at)

    async def clear_fault(self, device: str, kind: FaultKind, *, source: str = "python") -> None:
        """Switch the fault `kind` off on `device` (nothing happens if it is not on)."""
        await self.apply_fault(device, FaultSpec.model_construct(kind=kind), False, source=source)

    def active_faults(self, device: str) -> dict[str, dict[str, Any]]:
        """The faults on now on `device`: kind → the parameters given."""
        self._server(device)
        return {k: f.given() for k, f in self._active.get(device, {}).items()}

    async def _switch(self, server: Served, fault: FaultSpec, on: bool) -> None:
        kind, name = fault.kind, server.device.name
        if kind == "offline":
            if on and name not in self._offline:
                self._offline.add(name)
                await server.stop()
            elif not on and name in self._offline:
                await server.start()
                self._offline.discard(name)
        elif kind == "restart":
            if name not in self._offline:  # an offline device stays offline
                await server.stop()
                await server.start()
        elif kind == "session_kill":
            assert isinstance(server, DeviceServer | OpcUaDeviceServer | S7DeviceServer)
            server.kill_sessions()
        elif kind == "silent":
            assert isinstance(server, DeviceServer)
            server.silent = on
        elif kind == "cpu_stop":
            assert isinstance(server, S7DeviceServer)
            if server.running == on:
                server.set_running(not on)
        elif kind == "status":
            assert isinstance(server, OpcUaDeviceServer)
            await server.set_status((fault.status or "bad") if on else "good")
        elif kind in REQUEST_PATH:
            assert isinstance(server, DeviceServer | OpcUaDeviceServer | S7DeviceServer)
            server.faults.set(
                fault, on, device=name, now=self._now(), protocol=server.device.protocol
            )
            if isinstance(server, OpcUaDeviceServer) and server.serving:
                await server.refresh()
        else:  # pragma: no cover - every kind is routed above
            raise FaultError(f"unknown fault kind {kind!r}")

    def _log_fault(
        self, device: str, fault: FaultSpec, on: bool, *, source: str, at: float | None
    ) -> dict[str, Any]:
        epoch_ms = time.time_ns() // 1_000_000
        iso = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
        entry: dict[str, Any] = {"device": device, "kind": fault.kind, "on": on}
        entry |= fault.given() if on else {}
        if fault.kind == "status":
            entry["status"] = (fault.status or "bad") if on else "good"
        entry["source"] = source
        if at is not None:
            entry["at"] = at
        if self.started_ms is not None:
            entry["elapsed_s"] = round((epoch_ms - self.started_ms) / 1000, 3)
        entry |= {"time": iso, "epoch_ms": epoch_ms}
        self.fault_log.append(entry)
        params = fault.describe().removeprefix(fault.kind).strip()
        log.info(
            "fault %s %s: device %s%s at %s (%s%s)",
            fault.kind,
            "on" if on else "off",
            device,
            f" {params}" if on and params else "",
            iso,
            source,
            f" t={at:g}s" if at is not None else "",
        )
        return entry

    # -- the plant's timeline ----------------------------------------------------------------

    def _start_timeline(self) -> None:
        self.started_ms = time.time_ns() // 1_000_000
        if self._run_timeline and self.plant.faults:
            self._timeline = asyncio.create_task(self._play_timeline(), name="fleet:faults")

    async def _play_timeline(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        entries = [f for f in self.plant.faults if f.device in self._servers]
        if len(entries) < len(self.plant.faults):
            log.warning(
                "fleet: %d timeline faults name devices this fleet does not serve; skipped",
                len(self.plant.faults) - len(entries),
            )
        log.info("fleet: timeline of %d faults started", len(entries))
        async with asyncio.TaskGroup() as group:
            for entry in entries:
                group.create_task(self._play(entry, t0), name=f"fault:{entry.device}:{entry.kind}")

    async def _play(self, entry: TimelineFault, t0: float) -> None:
        loop = asyncio.get_running_loop()
        spec = entry.spec()
        steps = [(entry.at, True)]
        if entry.duration is not None:
            steps.append((entry.at + entry.duration, False))
        for at, on in steps:
            await asyncio.sleep(max(0.0, t0 + at - loop.time()))
            try:
                await self.apply_fault(entry.device, spec, on, source="timeline", at=at)
            except Exception:  # one failed fault must not stop the timeline
                log.exception("fleet: timeline fault %s on %s failed", spec.kind, entry.device)

    # -- the faults by name (kept for callers of the first fault API) -------------------------

    async def set_offline(self, device: str, offline: bool = True) -> None:
        """Offline: the device's port is closed (connections refused, open ones dropped)."""
        await self.apply_fault(device, FaultSpec(kind="offline"), offline)

    async def restart(self, device: str) -> None:
        """Stop and start the device's server (an OPC UA server forgets its sessions)."""
        await self.apply_fault(device, FaultSpec(kind="restart"))

    async def kill_sessions(self, device: str) -> None:
        """Close the device's open connections (OPC UA: its sessions); the port stays open."""
        await self.apply_fault(device, FaultSpec(kind="session_kill"))

    async def set_silent(self, device: str, silent: bool = True) -> None:
        """Silent (Modbus): the device accepts connections and requests but never answers."""
        await self.apply_fault(device, FaultSpec(kind="silent"), silent)

    async def set_cpu_running(self, device: str, running: bool = True) -> None:
        """S7: put the CPU in RUN or STOP (SZL 0x0424 tells; values freeze in STOP)."""
        await self.apply_fault(device, FaultSpec(kind="cpu_stop"), not running)

    async def set_status(self, device: str, status: StatusName) -> None:
        """OPC UA: serve every variable of `device` with at least this status."""
        await self.apply_fault(device, FaultSpec(kind="status", status=status), status != "good")

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
