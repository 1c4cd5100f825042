"""The ingest service: shared subscription → batches → COPY → commit → acknowledge."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

import asyncpg

from nexus.errors import PayloadError
from nexus.http import HealthServer
from nexus.ingest.decode import Row, decode_message
from nexus.ingest.metrics import IngestMetrics
from nexus.ingest.writer import DeadLetter, Writer
from nexus.lifecycle import AsyncService
from nexus.mqtt import Message, MqttClient
from nexus.settings import MqttSettings

log = logging.getLogger(__name__)

DATA_TOPIC = "dev/#"


@dataclass(slots=True)
class Batch:
    rows: list[Row] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    started: float = 0.0

    def add(self, message: Message) -> None:
        if not self.messages:
            self.started = time.perf_counter()
        self.messages.append(message)
        try:
            self.rows.append(decode_message(message.topic, message.payload))
        except PayloadError as exc:
            self.dead.append((message.topic, message.payload, exc.reason))


class Ingest(AsyncService):
    """``async with Ingest(mqtt=..., db_dsn=...)``: consumes until the block ends, then flushes."""

    def __init__(
        self,
        *,
        mqtt: MqttSettings,
        db_dsn: str,
        group: str = "ingestion",
        batch_points: int = 5000,
        flush_interval_s: float = 1.0,
        http_host: str = "127.0.0.1",
        http_port: int | None = 8081,
    ) -> None:
        # Acknowledge-after-commit needs a session that outlives a reconnect.
        self._mqtt_settings = mqtt.model_copy(update={"clean_start": False})
        self._subscription = f"$share/{group}/{DATA_TOPIC}"
        self._batch_points = batch_points
        self._flush_interval_s = flush_interval_s
        self.metrics = IngestMetrics()
        self.writer = Writer(db_dsn)
        self._http_host = http_host
        self._http_port = http_port
        self.http: HealthServer | None = None
        self._mqtt: MqttClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._db_ok = False
        self.points_stored = 0
        self.dead_lettered = 0

    async def start(self) -> None:
        if self._http_port is not None:
            self.http = HealthServer(
                host=self._http_host,
                port=self._http_port,
                registry=self.metrics.registry,
                ready=self._ready,
            )
            await self.http.start()
        await self.writer.connect_with_backoff(self._stopping)
        self._db_ok = True
        self._mqtt = MqttClient(
            self._mqtt_settings, manual_ack=True, subscriptions=(self._subscription,)
        )
        await self._mqtt.start()
        log.info(
            "ingest consuming %s (batches of %d points or %.1f s)",
            self._subscription,
            self._batch_points,
            self._flush_interval_s,
        )
        self._task = asyncio.create_task(self._consume(self._mqtt), name="ingest:consume")

    async def stop(self, timeout_s: float = 20.0) -> None:
        """Stop consuming, write and acknowledge what was received, disconnect."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout_s)
            except TimeoutError:
                log.error(
                    "ingest did not flush within %.0f s; unacknowledged messages are redelivered",
                    timeout_s,
                )
        if self._mqtt is not None:
            await self._mqtt.stop()
        await self.writer.close()
        if self.http is not None:
            await self.http.stop()
        log.info(
            "ingest stopped: %d points stored, %d dead letters",
            self.points_stored,
            self.dead_lettered,
        )

    def _ready(self) -> tuple[bool, str]:
        if not self._db_ok:
            return False, "cannot write to the database"
        if self._mqtt is None or not self._mqtt.connected.is_set():
            return False, "not connected to the MQTT broker"
        return True, "ok"

    async def _consume(self, mqtt: MqttClient) -> None:
        queue = mqtt.messages
        while True:
            batch = Batch()
            deadline = time.monotonic() + self._flush_interval_s
            while len(batch.rows) < self._batch_points:
                if self._stopping.is_set():
                    while not queue.empty() and len(batch.rows) < self._batch_points:
                        batch.add(queue.get_nowait())
                    break
                if not batch.messages:
                    deadline = time.monotonic() + self._flush_interval_s
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    message = await asyncio.wait_for(queue.get(), min(remaining, 0.2))
                except TimeoutError:
                    continue
                batch.add(message)
                self.metrics.received.inc()
            if batch.messages:
                await self._flush(mqtt, batch)
            if self._stopping.is_set() and queue.empty():
                return

    async def _flush(self, mqtt: MqttClient, batch: Batch) -> None:
        """Write until it commits (retrying with backoff), then acknowledge every message."""
        self.metrics.buffered.set(len(batch.rows))
        delay = 0.2
        while True:
            started = time.perf_counter()
            try:
                await self.writer.write(batch.rows, batch.dead)
                break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                self._db_ok = False
                self.metrics.write_errors.inc()
                log.warning(
                    "write of %d points failed (%s); retrying in %.1f s",
                    len(batch.rows),
                    exc,
                    delay,
                )
                await self.writer.close()
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, 10.0)
        if not self._db_ok:
            log.info("database writable again")
        self._db_ok = True
        now = time.perf_counter()
        self.metrics.commit_seconds.observe(now - started)
        self.metrics.batch_seconds.observe(now - batch.started)
        for message in batch.messages:
            mqtt.ack(message)
        self.points_stored += len(batch.rows)
        self.dead_lettered += len(batch.dead)
        self.metrics.stored.inc(len(batch.rows))
        self.metrics.buffered.set(0)
        if batch.dead:
            self.metrics.dead_lettered.inc(len(batch.dead))
            log.warning(
                "%d messages set aside in dead_letters, e.g. %s: %s",
                len(batch.dead),
                batch.dead[0][0],
                batch.dead[0][2],
            )
