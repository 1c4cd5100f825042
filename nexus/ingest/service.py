"""The ingest service: shared subscription → bounded buffer → COPY → commit → acknowledge.

Two tasks share one buffer of received, not yet committed messages:

- the **consumer** decodes messages into rows (or dead letters) and appends them; when the buffer
  holds ``max_buffer_points`` it stops taking messages. Nothing is acknowledged meanwhile, so the
  broker's in-flight window fills and the broker stops sending: backpressure, not loss.
- the **flusher** takes whole messages from the front, up to ``batch_points`` rows or whatever
  waited ``flush_interval_s``, writes them in one transaction, and only after the commit sends
  their PUBACKs, in the order received. A failed write is retried with backoff, the same batch,
  for as long as it takes; ``/ready`` says not ready meanwhile.

Both tasks are supervised: one that ends on an error is logged at once with its traceback and
sets ``failed``; ``nexus ingest run`` then exits non-zero so the orchestrator restarts the
replica. Its unacknowledged messages are redelivered, so a crashed task costs time, never data,
but it must never sit silent holding the buffer (which is what a dead flusher would do).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

from nexus.backoff import Backoff
from nexus.errors import PayloadError
from nexus.http import HealthServer
from nexus.ingest.decode import Row, decode_message
from nexus.ingest.metrics import IngestMetrics
from nexus.ingest.writer import (
    POISON_ERRORS,
    TRANSIENT_ERRORS,
    DeadLetter,
    Writer,
    WriteResult,
)
from nexus.lifecycle import AsyncService
from nexus.mqtt import Message, MqttClient
from nexus.settings import MqttSettings
from nexus.tasks import supervise

log = logging.getLogger(__name__)

DATA_TOPIC = "dev/#"


@dataclass(slots=True)
class Entry:
    """One received message and what it becomes in the historian."""

    message: Message
    rows: list[Row]
    dead: DeadLetter | None
    received: float
    points: int = 0
    """Rows this entry holds in the buffer (kept when the rows are later refused)."""

    def __post_init__(self) -> None:
        self.points = len(self.rows)


@dataclass(slots=True)
class Batch:
    entries: list[Entry]

    @property
    def rows(self) -> list[Row]:
        return [row for e in self.entries for row in e.rows]

    @property
    def dead(self) -> list[DeadLetter]:
        return [e.dead for e in self.entries if e.dead is not None]

    @property
    def points(self) -> int:
        return sum(len(e.rows) for e in self.entries)


def _retrieve(task: asyncio.Future[WriteResult]) -> None:
    """Mark an abandoned write's outcome as seen (asyncio would warn about it otherwise)."""
    if not task.cancelled():
        task.exception()


def to_entry(message: Message) -> Entry:
    try:
        return Entry(
            message, decode_message(message.topic, message.payload), None, time.monotonic()
        )
    except PayloadError as exc:
        return Entry(message, [], (message.topic, message.payload, exc.reason), time.monotonic())
    except Exception as exc:  # a decoder bug must cost one message, never the service
        log.exception("unexpected error decoding a message on %s", message.topic)
        reason = f"unexpected decoding error: {exc!r}"
        return Entry(message, [], (message.topic, message.payload, reason), time.monotonic())


class Ingest(AsyncService):
    """``async with Ingest(mqtt=..., db_dsn=...)``: consumes until the block ends, then drains."""

    def __init__(
        self,
        *,
        mqtt: MqttSettings,
        db_dsn: str,
        group: str = "ingestion",
        batch_points: int = 5000,
        flush_interval_s: float = 1.0,
        max_buffer_points: int = 50_000,
        shutdown_timeout_s: float = 20.0,
        quiet_period_s: float = 0.5,
        http_host: str = "127.0.0.1",
        http_port: int | None = 8081,
    ) -> None:
        if batch_points < 1 or max_buffer_points < batch_points:
            raise ValueError("need 1 <= batch_points <= max_buffer_points")
        # Acknowledge-after-commit needs a session that outlives a reconnect or a restart.
        self._mqtt_settings = mqtt.model_copy(update={"clean_start": False})
        self.subscription = f"$share/{group}/{DATA_TOPIC}"
        self.batch_points = batch_points
        self.flush_interval_s = flush_interval_s
        self.max_buffer_points = max_buffer_points
        self.shutdown_timeout_s = shutdown_timeout_s
        self.quiet_period_s = quiet_period_s
        self.metrics = IngestMetrics()
        self.writer = Writer(db_dsn)
        self._http_host = http_host
        self._http_port = http_port
        self.http: HealthServer | None = None
        self._mqtt: MqttClient | None = None
        self._pending: deque[Entry] = deque()
        self._buffered = 0
        self._space = asyncio.Event()
        self._wake = asyncio.Event()
        self._consuming = True
        self._consumer_done = False
        self._tasks: list[asyncio.Task[None]] = []
        self._watchdog: asyncio.Task[None] | None = None
        self._last_attempt = time.monotonic()
        self._last_commit = time.monotonic()
        self._db_ok = False
        self.failed = asyncio.Event()
        """Set when the consumer or the flusher ended on an error (see ``failure``)."""
        self.failure: str | None = None
        self.write_deadline_s = 60.0
        """One batch's write (connect, COPY, commit) is abandoned after this long and retried."""
        self.messages_received = 0
        self.points_stored = 0
        self.duplicates_skipped = 0
        self.dead_lettered = 0

    @property
    def buffered_points(self) -> int:
        return self._buffered

    async def start(self) -> None:
        if self._http_port is not None:
            self.http = HealthServer(
                host=self._http_host,
                port=self._http_port,
                registry=self.metrics.registry,
                ready=self._ready,
            )
            await self.http.start()
        await self.writer.connect_with_backoff()
        self._db_ok = True
        self._mqtt = MqttClient(
            self._mqtt_settings, manual_ack=True, subscriptions=(self.subscription,)
        )
        await self._mqtt.start()
        log.info(
            "ingest %s consuming %s (batches of %d points or %.1f s, buffer %d points)",
            self._mqtt_settings.client_id,
            self.subscription,
            self.batch_points,
            self.flush_interval_s,
            self.max_buffer_points,
        )
        self._tasks = [
            asyncio.create_task(self._consume(self._mqtt), name="ingest:consume"),
            asyncio.create_task(self._flush_loop(self._mqtt), name="ingest:flush"),
        ]
        for task in self._tasks:
            supervise(task, self._task_ended, expected=lambda: not self._consuming)
        self._watchdog = asyncio.create_task(self._watch(), name="ingest:watchdog")

    async def stop(self) -> None:
        """Graceful shutdown, bounded by ``shutdown_timeout_s`` (fits a Kubernetes grace period).

        Stop taking messages, write and acknowledge everything received, disconnect. The
        persistent session stays subscribed: messages routed to this replica while it is away
        wait in the broker for its return under the same client id (never dropped because a
        shared-subscription group was momentarily empty). Whatever is not committed by the
        deadline stays unacknowledged: redelivered, not lost.
        """
        self._consuming = False
        self._wake.set()
        self._space.set()
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=self.shutdown_timeout_s)
            for task in late:
                task.cancel()
            if late:
                log.error(
                    "shutdown deadline reached with %d points not committed; they stay "
                    "unacknowledged and will be redelivered",
                    self._buffered,
                )
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        if self._mqtt is not None:
            await self._mqtt.stop()
        await self.writer.close()
        if self.http is not None:
            await self.http.stop()
        log.info(
            "ingest stopped: %d points stored, %d duplicates skipped, %d dead letters",
            self.points_stored,
            self.duplicates_skipped,
            self.dead_lettered,
        )

    def _task_ended(self, task: asyncio.Task[None], reason: str) -> None:
        """The consumer or the flusher ended while consuming: the service cannot go on."""
        self.failure = f"{task.get_name()}: {reason}"
        log.critical(
            "ingest cannot go on (%s) with %d points not committed; they stay "
            "unacknowledged and the broker redelivers them",
            self.failure,
            self._buffered,
        )
        self.failed.set()

    def _ready(self) -> tuple[bool, str]:
        if self.failure is not None:
            return False, f"failed: {self.failure}"
        if not self._db_ok:
            return False, "cannot write to the database"
        if self._mqtt is None or not self._mqtt.connected.is_set():
            return False, "not connected to the MQTT broker"
        return True, "ok"

    async def _consume(self, mqtt: MqttClient) -> None:
        queue = mqtt.messages
        while self._consuming:
            if self._buffered >= self.max_buffer_points:
                self.metrics.backpressure.set(1)
                self._space.clear()
                await self._space.wait()
                continue
            self.metrics.backpressure.set(0)
            try:
                message = await asyncio.wait_for(queue.get(), 0.2)
            except TimeoutError:
                continue
            self._accept(message)
        # Stopping: what was already delivered to us is written too, as far as the buffer allows.
        while not queue.empty() and self._buffered < self.max_buffer_points:
            self._accept(queue.get_nowait())
        self._consumer_done = True
        self._wake.set()

    def _accept(self, message: Message) -> None:
        entry = to_entry(message)
        self.messages_received += 1
        self.metrics.received.inc()
        self._pending.append(entry)
        self._buffered += len(entry.rows)
        self.metrics.buffered.set(self._buffered)
        if self._buffered >= self.batch_points:
            self._wake.set()

    def _take_batch(self) -> Batch | None:
        if not self._pending:
            return None
        due = time.monotonic() - self._pending[0].received >= self.flush_interval_s
        if self._buffered < self.batch_points and not due and self._consuming:
            return None
        entries: list[Entry] = []
        points = 0
        for entry in self._pending:
            if entries and points + len(entry.rows) > self.batch_points:
                break
            entries.append(entry)
            points += len(entry.rows)
        return Batch(entries)

    async def _flush_loop(self, mqtt: MqttClient) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                if self._consumer_done and not self._pending:
                    return
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._time_to_due())
                continue
            await self._commit(mqtt, batch)

    def _time_to_due(self) -> float:
        if not self._pending:
            return 0.2
        age = time.monotonic() - self._pending[0].received
        return max(0.01, min(0.2, self.flush_interval_s - age))

    async def _commit(self, mqtt: MqttClient, batch: Batch) -> None:
        """Write the batch (retrying transient failures), then acknowledge its messages."""
        backoff = Backoff(base=0.2, cap=10.0)
        rows, dead = batch.rows, batch.dead
        while True:
            started = time.perf_counter()
            self._last_attempt = time.monotonic()
            try:
                result = await self._write(rows, dead)
                break
            except POISON_ERRORS as exc:
                log.error("batch refused by the database (%s); isolating the bad messages", exc)
                await self._commit_one_by_one(batch)
                return
            except Exception as exc:  # transient, or unknown: retry, never give the batch up
                if not isinstance(exc, TRANSIENT_ERRORS):
                    log.exception("unexpected error writing a batch; retrying")
                elif self._db_ok:
                    log.warning("database write failed (%s); buffering and retrying", exc)
                self._db_ok = False
                self.metrics.write_errors.inc()
                await self.writer.close()
                await backoff.sleep()
        if not self._db_ok:
            log.info("database writable again; draining %d buffered points", self._buffered)
        self._db_ok = True
        elapsed = time.perf_counter() - started
        self._settle(mqtt, batch, result.inserted, result.duplicates)
        self.metrics.commit_seconds.observe(elapsed)

    async def _write(self, rows: list[Row], dead: list[DeadLetter]) -> WriteResult:
        """One write attempt, bounded as a whole, whatever the driver does.

        asyncpg bounds each command (``command_timeout``) but not a transaction of several, nor
        its wait for an earlier cancel request (which has no timeout and never ends when the
        server is gone); and a connection lost in the middle of COPY may surface as a
        ``CancelledError`` this task never asked for. Here a write that outlives
        ``write_deadline_s`` has its connection terminated (every wait in the driver ends) and
        is abandoned; a stray ``CancelledError`` is a lost connection. Both are ordinary
        transient failures: the same batch is retried, the task stays alive. Our own
        cancellation (shutdown) still propagates.
        """
        attempt = asyncio.ensure_future(self.writer.write(rows, dead))
        attempt.add_done_callback(_retrieve)
        try:
            done, _ = await asyncio.wait((attempt,), timeout=self.write_deadline_s)
        except asyncio.CancelledError:
            attempt.cancel()
            self.writer.abort()
            raise
        if not done:
            self.writer.abort()
            attempt.cancel()
            await asyncio.wait((attempt,), timeout=5.0)  # never wait on the driver for ever
            raise TimeoutError(
                f"writing {len(rows)} rows took longer than {self.write_deadline_s:.0f} s"
            )
        try:
            return attempt.result()
        except asyncio.CancelledError:
            raise ConnectionError("the database driver cancelled the write") from None

    async def _commit_one_by_one(self, batch: Batch) -> None:
        """Write each message alone; the ones the database refuses become dead letters."""
        assert self._mqtt is not None
        for entry in batch.entries:
            one = Batch([entry])
            while True:
                try:
                    result = await self._write(one.rows, one.dead)
                    self._settle(self._mqtt, one, result.inserted, result.duplicates)
                    break
                except POISON_ERRORS as exc:
                    reason = f"refused by the database: {exc}"
                    entry.rows, entry.dead = (
                        [],
                        (entry.message.topic, entry.message.payload, reason),
                    )
                except Exception:
                    log.exception("writing one message failed; retrying")
                    await self.writer.close()
                    await Backoff(base=0.5, cap=5.0).sleep()

    async def _watch(self, every_s: float = 10.0) -> None:
        """One line every `every_s` while points wait and nothing commits: what is stuck, where."""
        while True:
            await asyncio.sleep(every_s)
            now = time.monotonic()
            if not self._pending or now - self._last_commit < every_s:
                continue
            log.warning(
                "%d points waiting, the oldest for %.0f s; last commit %.0f s ago, last write "
                "attempt %.0f s ago; database %s; broker %s; reading %s",
                self._buffered,
                now - self._pending[0].received,
                now - self._last_commit,
                now - self._last_attempt,
                "writable" if self._db_ok else "failing",
                "connected" if self._mqtt and self._mqtt.connected.is_set() else "disconnected",
                "paused (buffer full)" if self._buffered >= self.max_buffer_points else "on",
            )

    def _settle(self, mqtt: MqttClient, batch: Batch, inserted: int, duplicates: int) -> None:
        """After the commit: acknowledge, count, free buffer space."""
        now = time.monotonic()
        self._last_commit = now
        for entry in batch.entries:
            mqtt.ack(entry.message)
        for _ in batch.entries:
            done = self._pending.popleft()
            self._buffered -= done.points
        self.points_stored += inserted
        self.duplicates_skipped += duplicates
        dead = batch.dead
        self.dead_lettered += len(dead)
        self.metrics.stored.inc(inserted)
        self.metrics.duplicates.inc(duplicates)
        self.metrics.buffered.set(self._buffered)
        self.metrics.batch_seconds.observe(now - batch.entries[0].received)
        self._space.set()
        if dead:
            self.metrics.dead_lettered.inc(len(dead))
            log.warning(
                "%d messages set aside in dead_letters, e.g. %s: %s",
                len(dead),
                dead[0][0],
                dead[0][2],
            )
        if duplicates:
            log.info("skipped %d points already stored (redelivered messages)", duplicates)
