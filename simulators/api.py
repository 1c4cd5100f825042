"""The fleet's fault HTTP API: list the devices, apply faults, read back when each was applied.

GET  /devices      [{"name", "protocol", "port", "faults": {...}}] — the active faults
POST /faults       {"device": "press-01", "kind": "offline", "on": true}
                   kind: offline | silent (Modbus) | cpu_stop (S7) | status (OPC UA; with
                   "status": good | uncertain | bad, default bad; "on": false serves good again)
GET  /faults/log   every fault applied, in order, with its wall time (ISO 8601 and epoch ms)

A fault's time is taken when the fleet's hook has returned, i.e. when the fault is in effect
(an offline device's port is closed), so a test can line it up with what the pipeline saw.
Answers: 200 with the logged fault; 400 for a bad body (naming the field); 404 for an unknown
device; 409 for a fault the device's protocol does not have (e.g. silent on an S7 PLC).

The active cpu_stop and status faults are those applied through this API (the fleet does not
expose them); offline and silent are read from the fleet.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from nexus.lifecycle import AsyncService
from simulators.errors import FleetError
from simulators.fleet import Fleet
from simulators.opcua.model import StatusName

log = logging.getLogger(__name__)

FaultKind = Literal["offline", "silent", "cpu_stop", "status"]


class FaultRequest(BaseModel):
    """The body of POST /faults."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    device: str
    kind: FaultKind
    on: bool
    status: StatusName = "bad"


def _now() -> tuple[str, int]:
    """The wall time now as (ISO 8601 UTC with milliseconds, Unix epoch milliseconds)."""
    epoch_ms = time.time_ns() // 1_000_000
    iso = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    return iso, epoch_ms


class FaultApi(AsyncService):
    """Serves the fault API of a running `fleet` on `host`:`port` (0: any free port)."""

    def __init__(self, fleet: Fleet, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fleet = fleet
        self.host = host
        self.port = port
        self.log: list[dict[str, Any]] = []
        self._cpu_stopped: set[str] = set()
        self._status: dict[str, StatusName] = {}
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
        """The faults active on `device` (those its protocol has)."""
        protocol = self.fleet.device(device).protocol
        faults: dict[str, Any] = {"offline": self.fleet.is_offline(device)}
        if protocol == "modbus":
            faults["silent"] = self.fleet.is_silent(device)
        elif protocol == "s7":
            faults["cpu_stop"] = device in self._cpu_stopped
        else:
            faults["status"] = self._status.get(device, "good")
        return faults

    async def apply(self, fault: FaultRequest) -> dict[str, Any]:
        """Apply `fault` through the fleet's hooks; log and return it with its wall time.

        Raises KeyError for an unknown device, FleetError for a fault its protocol lacks.
        """
        fleet, device = self.fleet, fault.device
        fleet.device(device)  # KeyError before anything changes
        if fault.kind == "offline":
            await fleet.set_offline(device, fault.on)
        elif fault.kind == "silent":
            await fleet.set_silent(device, fault.on)
        elif fault.kind == "cpu_stop":
            await fleet.set_cpu_running(device, not fault.on)
            (self._cpu_stopped.add if fault.on else self._cpu_stopped.discard)(device)
        else:
            status: StatusName = fault.status if fault.on else "good"
            await fleet.set_status(device, status)
            self._status[device] = status
        iso, epoch_ms = _now()
        entry: dict[str, Any] = {"device": device, "kind": fault.kind, "on": fault.on}
        if fault.kind == "status":
            entry["status"] = self._status[device]
        entry |= {"time": iso, "epoch_ms": epoch_ms}
        self.log.append(entry)
        log.info(
            "fault %s %s: device %s at %s",
            fault.kind,
            "on" if fault.on else "off",
            device,
            iso,
        )
        return entry

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
        try:
            body = json.loads(await request.read())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(400, f"the body is not JSON: {exc}")
        try:
            fault = FaultRequest.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "body"
            return _error(400, f"{field}: {first['msg']}", field=field)
        try:
            entry = await self.apply(fault)
        except KeyError:
            return _error(404, f"the fleet serves no device {fault.device!r}", field="device")
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
