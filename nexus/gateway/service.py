"""The gateway service: pollers for the devices it owns, a publisher, status, API and health.

Which devices run is decided in one place, ``_reconcile``: the configured devices this replica
owns (all of them, or its rendezvous share when replicas of a group share the fleet). It runs at
start, when the group's membership changes and when a changed device file is applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from nexus.backoff import Backoff
from nexus.gateway.adapters import make_adapter
from nexus.gateway.api import GatewayApi
from nexus.gateway.breaker import CircuitBreaker
from nexus.gateway.config import GatewayConfig
from nexus.gateway.limiter import ConnectLimiter
from nexus.gateway.membership import GATEWAY_STATUS_FILTER, Membership
from nexus.gateway.metrics import GatewayMetrics
from nexus.gateway.poller import DevicePoller, DeviceStatus
from nexus.gateway.publisher import AckCallback, Publisher, PublishMode
from nexus.gateway.reload import ConfigWatcher
from nexus.gateway.spool import DiskSpool, Record
from nexus.gateway.status import StatusReporter, gateway_will
from nexus.http import HealthServer
from nexus.lifecycle import AsyncService
from nexus.model.tags import AnyDevice
from nexus.mqtt import MqttClient
from nexus.settings import MqttSettings
from nexus.tasks import supervise

log = logging.getLogger(__name__)

CONNECT_CONCURRENCY = {"modbus": 10, "opcua": 5, "s7": 5}
"""Connection attempts at once per protocol (the design's pool sizes)."""

MEMBERSHIP_SETTLE_S = 1.0
"""Time to receive the group's retained announcements before choosing devices."""


@dataclass(slots=True)
class RunningDevice:
    device: AnyDevice
    poller: DevicePoller
    task: asyncio.Task[None]


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
        api_port: int | None = None,
        reconnects_per_s: float = 20.0,
        connect_concurrency: dict[str, int] | None = None,
        breaker_threshold: int = 3,
        spool_dir: Path | None = None,
        spool_max_bytes: int = 512 * 1024 * 1024,
        group: str | None = None,
        config_path: Path | None = None,
        reload_interval_s: float = 2.0,
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
        self._api_port = api_port
        self._spool_dir = spool_dir
        self._spool_max_bytes = spool_max_bytes
        self._breaker_threshold = breaker_threshold
        concurrency = {**CONNECT_CONCURRENCY, **(connect_concurrency or {})}
        self.limiters = {
            protocol: ConnectLimiter(rate_per_s=reconnects_per_s, concurrency=n)
            for protocol, n in concurrency.items()
        }
        self.membership = Membership(gateway_id, group) if group is not None else None
        self.watcher = (
            ConfigWatcher(config_path, self.apply_config, interval_s=reload_interval_s)
            if config_path is not None
            else None
        )
        self._running: dict[str, RunningDevice] = {}
        self._reconcile_lock = asyncio.Lock()
        self._background: list[asyncio.Task[None]] = []
        self._stopping = False
        self._restarts: set[asyncio.Task[None]] = set()
        self.failed = asyncio.Event()
        """Set when background work (membership, reload) ended on an error; see ``failure``."""
        self.failure: str | None = None
        self.api: GatewayApi | None = None
        self._status: StatusReporter | None = None
        self._mqtt: MqttClient | None = None
        self._publisher: Publisher | None = None
        self.http: HealthServer | None = None

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            raise RuntimeError("gateway not started")
        return self._publisher

    @property
    def statuses(self) -> list[DeviceStatus]:
        """The devices this replica polls now, in configuration order."""
        return [r.poller.status for r in self._running.values()]

    @property
    def pollers(self) -> list[DevicePoller]:
        return [r.poller for r in self._running.values()]

    async def start(self) -> None:
        log.info(
            "gateway %s starting: %d devices, %d tags%s",
            self.gateway_id,
            len(self.config.devices),
            sum(len(d.tags) for d in self.config.devices),
            f", sharing them in group {self.membership.group}" if self.membership else "",
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
        if self._api_port is not None:
            self.api = GatewayApi(
                gateway_id=self.gateway_id,
                entries=lambda: [(r.poller.status, r.device) for r in self._running.values()],
                published=lambda: self._publisher.points_acked if self._publisher else 0,
                members=lambda: sorted(self.membership.members) if self.membership else None,
                host=self._http_host,
                port=self._api_port,
            )
            await self.api.start()
        subscriptions = (GATEWAY_STATUS_FILTER,) if self.membership else ()
        self._mqtt = MqttClient(
            self._mqtt_settings,
            will=gateway_will(self.gateway_id, self._group),
            subscriptions=subscriptions,
        )
        await self._mqtt.start()
        self._status = StatusReporter(self._mqtt, self.gateway_id, group=self._group)
        await self._status.gateway("online")
        spool = None
        if self._spool_dir is not None:
            spool = DiskSpool(
                self._spool_dir, max_bytes=self._spool_max_bytes, on_evict=self._spool_evicted
            )
        self._publisher = Publisher(
            self._mqtt,
            gateway_id=self.gateway_id,
            metrics=self.metrics,
            mode=self._publish_mode,
            on_acked=self._on_acked,
            spool=spool,
        )
        self._publisher.start()
        if self.membership is not None:
            self._background.append(
                asyncio.create_task(self._follow_membership(self._mqtt), name="membership")
            )
            await asyncio.sleep(MEMBERSHIP_SETTLE_S)
        if self.watcher is not None:
            self._background.append(asyncio.create_task(self.watcher.run(), name="reload"))
        for task in self._background:
            supervise(task, self._background_ended, expected=lambda: self._stopping)
        await self._reconcile()

    async def stop(self) -> None:
        """Stop polling, wait for outstanding acknowledgements, disconnect."""
        self._stopping = True
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        async with self._reconcile_lock:
            await asyncio.gather(*(self._stop_device(name) for name in list(self._running)))
        if self._publisher is not None:
            await self._publisher.forward_spool(self._drain_timeout_s)
            drained = await self._publisher.drain(self._drain_timeout_s)
            if not drained:
                log.warning(
                    "%d messages still unacknowledged at shutdown", self._publisher.outstanding
                )
            await self._publisher.stop()
        if self._status is not None:
            offline = await self._status.gateway("offline")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(offline, 2.0)
        if self._mqtt is not None:
            await self._mqtt.stop()
        if self.api is not None:
            await self.api.stop()
        if self.http is not None:
            await self.http.stop()
        log.info("gateway %s stopped", self.gateway_id)

    async def apply_config(self, config: GatewayConfig) -> None:
        """Switch to a new, already validated device configuration without a restart."""
        self.config = config
        await self._reconcile()

    @property
    def _group(self) -> str | None:
        return self.membership.group if self.membership is not None else None

    def _owns(self, device: str) -> bool:
        return self.membership is None or self.membership.owns(device)

    async def _reconcile(self) -> None:
        """Run exactly the configured devices this replica owns, each with its current config."""
        async with self._reconcile_lock:
            desired = {d.name: d for d in self.config.devices if self._owns(d.name)}
            stale = [
                name
                for name, running in self._running.items()
                if name not in desired or running.device != desired[name]
            ]
            await asyncio.gather(*(self._stop_device(name) for name in stale))
            started = [d for name, d in desired.items() if name not in self._running]
            for device in started:
                self._start_device(device)
            # Keep configuration order, so the API and the live view list devices stably.
            order = {d.name: i for i, d in enumerate(self.config.devices)}
            self._running = dict(sorted(self._running.items(), key=lambda kv: order[kv[0]]))
            if stale or started:
                log.info(
                    "polling %d of %d devices (%d started, %d stopped)",
                    len(self._running),
                    len(self.config.devices),
                    len(started),
                    len(stale),
                )

    def _start_device(self, device: AnyDevice) -> None:
        assert self._publisher is not None
        interval = device.poll_interval_ms / 1000
        status = DeviceStatus(
            device.name, device.site, device.line, interval, protocol=device.protocol
        )
        breaker = CircuitBreaker(
            failure_threshold=self._breaker_threshold,
            backoff=Backoff(base=max(1.0, interval), cap=60.0),
        )
        poller = DevicePoller(
            make_adapter(device),
            status,
            self._publisher,
            self.metrics,
            breaker=breaker,
            limiter=self.limiters.get(device.protocol),
            on_change=self._device_changed,
        )
        task = asyncio.create_task(poller.run(), name=f"poll:{device.name}")
        self._running[device.name] = RunningDevice(device, poller, task)
        supervise(
            task, self._poller_ended, expected=lambda: self._poller_expected(device.name, task)
        )

    def _poller_expected(self, name: str, task: asyncio.Task[None]) -> bool:
        """A poller may end when it was stopped: no longer the running one, or shutting down."""
        running = self._running.get(name)
        return self._stopping or running is None or running.task is not task

    def _poller_ended(self, task: asyncio.Task[None], reason: str) -> None:
        """A device's poller died (a bug): forget it and reconcile, which starts it afresh."""
        name = task.get_name().removeprefix("poll:")
        self._running.pop(name, None)
        log.error("device %s: poller ended (%s); starting it again", name, reason)
        self.metrics.poller_restarts.inc()
        restart = asyncio.create_task(self._reconcile(), name=f"restart:{name}")
        self._restarts.add(restart)
        restart.add_done_callback(self._restarts.discard)

    def _background_ended(self, task: asyncio.Task[None], reason: str) -> None:
        self.failure = f"{task.get_name()}: {reason}"
        log.critical("gateway %s cannot go on: %s", self.gateway_id, self.failure)
        self.failed.set()

    async def _stop_device(self, name: str) -> None:
        running = self._running.pop(name)
        running.task.cancel()
        await asyncio.gather(running.task, return_exceptions=True)

    async def _follow_membership(self, mqtt: MqttClient) -> None:
        assert self.membership is not None
        while True:
            message = await mqtt.messages.get()
            if self.membership.update(message.topic, message.payload):
                await self._reconcile()

    def _spool_evicted(self, records: list[Record]) -> None:
        if self._publisher is not None:
            self._publisher.spool_evicted(records)

    async def _device_changed(self, status: DeviceStatus) -> None:
        if self._status is not None:
            await self._status.device(
                status.site,
                status.line,
                status.name,
                online=status.up,
                breaker=status.breaker.value,
                error=status.last_error,
            )

    def _ready(self) -> tuple[bool, str]:
        if self.failure is not None:
            return False, f"failed: {self.failure}"
        if self._mqtt is None or not self._mqtt.connected.is_set():
            return False, "not connected to the MQTT broker"
        return True, "ok"

    async def _devices(self, request: web.Request) -> web.Response:
        return web.json_response([s.as_dict() for s in self.statuses])
