"""The health and metrics endpoint every service exposes: /health, /ready, /metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class HealthServer:
    """Serves liveness, readiness and Prometheus metrics on one port.

    ``ready`` is asked on every /ready request and returns (ready, reason). Extra JSON routes
    (the gateway's device API) can be added with ``routes``.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        registry: CollectorRegistry,
        ready: Callable[[], tuple[bool, str]],
        routes: list[web.RouteDef] | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._registry = registry
        self._ready = ready
        self._app = web.Application()
        self._app.add_routes(
            [
                web.get("/health", self._health),
                web.get("/ready", self._readiness),
                web.get("/metrics", self._metrics),
                *(routes or []),
            ]
        )
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        log.info(
            "health and metrics on http://%s:%d (/health /ready /metrics)", self._host, self.port
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readiness(self, request: web.Request) -> web.Response:
        ok, reason = self._ready()
        return web.json_response({"ready": ok, "reason": reason}, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
