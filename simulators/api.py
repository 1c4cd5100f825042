"""The fleet's fault HTTP API: list the devices, apply faults, read back when each was applied.

GET  /devices      [{"name", "protocol", "port", "faults": {...}}] — the active faults
POST /faults       {"device": "press-01", "kind": "slow", "on": true, "latency_ms": 800}
GET  /faults/log   every fault applied or cleared, in order, with its wall time (ISO 8601 and
                   epoch ms): those of this API, of the plant's timeline and of Python callers

Kinds and their parameters (simulators/faults.py): offline, restart and session_kill (all
protocols; the last two happen once, "on" must be true), slow (latency_ms), silent (Modbus),
protocol_error (code, tags), quality (OPC UA; quality, tags), status (OPC UA; status: good |
uncertain | bad, default bad; "on": false serves good again), cpu_stop (S7), frozen (tags),
spikes (magnitude, probability or every_n, seed, tags), byte_order (Modbus, S7; tags). "on"
defaults to true; switching a fault off needs no parameters.

A fault's time is taken when the fleet's hook has returned, i.e. when the fault is in effect
(an offline device's port is closed), so a test can line it up with what the pipeline saw.
Answers: 200 with the logged fault; 400 for a bad body or a parameter that does not fit the
device (naming the field); 404 for an unknown device; 409 for a fault the device's protocol
does not have (e.g. silent on an S7 PLC, byte_order on an OPC UA server).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from pydantic import ConfigDict, ValidationError

from nexus.lifecycle import AsyncService
from simulators.errors import FaultError, FleetError
from simulators.faults import ONE_OFF, FaultSpec
from simulators.fleet import Fleet

log = logging.getLogger(__name__)


class FaultRequest(FaultSpec):
    """The body of POST /faults: a fault (kind and parameters), its device, on or off."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    device: str
    on: bool = True

    def _clearing(self) -> bool:
        return not self.on


class FaultApi(AsyncService):
    """Serves the fault API of a running `fleet` on `host`:`port` (0: any free port)."""

    def __init__(self, fleet: Fleet, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fleet = fleet
        self.host = host
        self.port = port
        self._app = web.Application()
        self._app.add_routes(
            [
                web.get("/devices", self._devices),
                web.post("/faults", self._apply),
                web.get("/faults/log", self._log),
            ]
        )
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log(self) -> list[dict[str, Any]]:
        """Every fault the fleet applied (this API's and others), in order."""
        return self.fleet.fault_log

    async def start(self) -> None:
        """Return when the API listens (`port` is then the real port)."""
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        if runner.addresses:
            self.port = int(runner.addresses[0][1])
        log.info("fault API on %s (/devices /faults /faults/log)", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- faults ------------------------------------------------------------------------------

    def active_faults(self, device: str) -> dict[str, Any]:
        """The faults of `device`: offline and its protocol's switch (silent, cpu_stop,
        status) always, every other kind while it is on, with its parameters."""
        fleet = self.fleet
        protocol = fleet.device(device).protocol
        active = fleet.active_faults(device)
        faults: dict[str, Any] = {"offline": fleet.is_offline(device)}
        if protocol == "modbus":
            faults["silent"] = fleet.is_silent(device)
        elif protocol == "s7":
            faults["cpu_stop"] = "cpu_stop" in active
        else:
            faults["status"] = active.get("status", {}).get("status", "good")
        switches = ("offline", "silent", "cpu_stop", "status")
        faults |= {kind: params for kind, params in active.items() if kind not in switches}
        return faults

    async def apply(self, fault: FaultRequest) -> dict[str, Any]:
        """Apply `fault` through the fleet; return the log entry with its wall time.

        Raises KeyError for an unknown device, FaultError for a fault the device cannot take.
        """
        return await self.fleet.apply_fault(fault.device, fault.spec(), fault.on, source="api")

    # -- handlers ----------------------------------------------------------------------------

    async def _devices(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "name": d.name,
                    "protocol": d.protocol,
                    "port": d.port,
                    "faults": self.active_faults(d.name),
                }
                for d in self.fleet.devices
            ]
        )

    async def _apply(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(400, f"the body is not JSON: {exc}")
        try:
            fault = FaultRequest.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "body"
            return _error(400, f"{field}: {first['msg']}", field=field)
        if fault.kind in ONE_OFF and not fault.on:
            return _error(400, f"on: {fault.kind} happens once, it cannot be off", field="on")
        try:
            entry = await self.apply(fault)
        except KeyError:
            return _error(404, f"the fleet serves no device {fault.device!r}", field="device")
        except FaultError as exc:
            if exc.field == "kind":
                return _error(409, str(exc), field="kind")
            return _error(400, f"{exc.field}: {exc}", field=exc.field)
        except FleetError as exc:
            return _error(409, str(exc), field="kind")
        return web.json_response(entry)

    async def _log(self, request: web.Request) -> web.Response:
        return web.json_response(self.log)


def _error(status: int, message: str, *, field: str | None = None) -> web.Response:
    body: dict[str, str] = {"error": message}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status)
