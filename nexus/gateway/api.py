"""The gateway's HTTP API (port 8080): devices with their status, as JSON.

GET /             gateway id, group members, devices, devices up, breakers, points
GET /devices      every device this replica polls: status, last successful poll, breaker
                  state, error counts
GET /devices/{n}  one device and its configuration; 404 if unknown or polled elsewhere
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence

from aiohttp import web

from nexus.gateway.poller import DeviceStatus
from nexus.model.tags import AnyDevice

log = logging.getLogger(__name__)


class GatewayApi:
    def __init__(
        self,
        *,
        gateway_id: str,
        entries: Callable[[], Sequence[tuple[DeviceStatus, AnyDevice]]],
        published: Callable[[], float],
        members: Callable[[], list[str] | None],
        host: str,
        port: int,
    ) -> None:
        self._gateway_id = gateway_id
        self._entries = entries
        self._published = published
        self._members = members
        self._host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/", self._summary),
                web.get("/devices", self._list),
                web.get("/devices/{name}", self._detail),
            ]
        )
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self.port).start()
        if self._runner.addresses:
            self.port = int(self._runner.addresses[0][1])
        log.info("device API on http://%s:%d (/devices)", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _summary(self, request: web.Request) -> web.Response:
        statuses = [status for status, _ in self._entries()]
        return web.json_response(
            {
                "gateway": self._gateway_id,
                "group_members": self._members(),
                "devices": len(statuses),
                "devices_up": sum(s.up for s in statuses),
                "breakers": dict(Counter(s.breaker.value for s in statuses)),
                "points_published": int(self._published()),
            }
        )

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response([status.as_dict() for status, _ in self._entries()])

    async def _detail(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        for status, device in self._entries():
            if status.name == name:
                detail = status.as_dict()
                detail["config"] = device.model_dump(mode="json")
                return web.json_response(detail)
        return web.json_response({"error": f"no device {name!r}"}, status=404)
