"""The gateway service: one poller per device, one publisher, health and metrics."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from nexus.gateway.config import GatewayConfig
from nexus.gateway.metrics import GatewayMetrics
from nexus.gateway.modbus.adapter import ModbusAdapter
from nexus.gateway.poller import DevicePoller, DeviceStatus
from nexus.gateway.publisher import AckCallback, Publisher, PublishMode
from nexus.http import HealthServer
from nexus.lifecycle import AsyncService
from nexus.mqtt import MqttClient
from nexus.settings import MqttSettings

log = logging.getLogger(__name__)


class Gateway(AsyncService):
    """``async with Gateway(config, mqtt=..., gateway_id=...)``: polling runs inside the block."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        mqtt: MqttSettings,
        gateway_id: str,
        http_host: str = "127.0.0.1",
        http_port: int | None = 8081,
        on_acked: AckCallback | None = None,
        publish_mode: PublishMode = PublishMode.BATCH,
        drain_timeout_s: float = 10.0,
    ) -> None:
        self.config = config
        self.gateway_id = gateway_id
        self.metrics = GatewayMetrics()
        self._mqtt_settings = mqtt
        self._on_acked = on_acked
        self._publish_mode = publish_mode
        self._drain_timeout_s = drain_timeout_s
        self._http_host = http_host
        self._http_port = http_port
        self.statuses = [
            DeviceStatus(d.name, d.site, d.line, d.poll_interval_ms / 1000) for d in config.devices
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._mqtt: MqttClient | None = None
        self._publisher: Publisher | None = None
        self.http: HealthServer | None = None

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            raise RuntimeError("gateway not started")
        return self._publisher

    async def start(self) -> None:
        log.info(
            "gateway %s starting: %d devices, %d tags",
            self.gateway_id,
            len(self.config.devices),
            sum(len(d.tags) for d in self.config.devices),
        )
        if self._http_port is not None:
            self.http = HealthServer(
                host=self._http_host,
                port=self._http_port,
                registry=self.metrics.registry,
                ready=self._ready,
                routes=[web.get("/devices", self._devices)],
            )
            await self.http.start()
        self._mqtt = MqttClient(self._mqtt_settings)
        await self._mqtt.start()
        self._publisher = Publisher(
            self._mqtt,
            gateway_id=self.gateway_id,
            metrics=self.metrics,
            mode=self._publish_mode,
            on_acked=self._on_acked,
        )
        for device, status in zip(self.config.devices, self.statuses, strict=True):
            poller = DevicePoller(ModbusAdapter(device), status, self._publisher, self.metrics)
            self._tasks.append(asyncio.create_task(poller.run(), name=f"poll:{device.name}"))

    async def stop(self) -> None:
        """Stop polling, wait for outstanding acknowledgements, disconnect."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._publisher is not None:
            drained = await self._publisher.drain(self._drain_timeout_s)
            if not drained:
                log.warning(
                    "%d points still unacknowledged at shutdown", self._publisher.outstanding
                )
        if self._mqtt is not None:
            await self._mqtt.stop()
        if self.http is not None:
            await self.http.stop()
        log.info("gateway %s stopped", self.gateway_id)

    def _ready(self) -> tuple[bool, str]:
        if self._mqtt is None or not self._mqtt.connected.is_set():
            return False, "not connected to the MQTT broker"
        return True, "ok"

    async def _devices(self, request: web.Request) -> web.Response:
        return web.json_response([s.as_dict() for s in self.statuses])
