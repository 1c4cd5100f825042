"""A publisher of unique points that remembers which ones the broker acknowledged (the ledger),
and an ingest replica run as its own process, as in production."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import asyncpg

from nexus.model.payload import PointPayload, encode_batch
from nexus.mqtt import MqttClient
from nexus.stack.local import StackInfo
from nexus.stack.tools import free_port

Key = tuple[str, int]
"""(tag topic, timestamp in ms): the historian's unique key."""


class PointStream:
    """Publishes batch messages at a steady rate; every point has a unique (topic, ts)."""

    def __init__(self, mqtt: MqttClient, *, devices: int = 4, points_per_message: int = 50) -> None:
        self._mqtt = mqtt
        self._devices = devices
        self._tags = [f"t{j}" for j in range(points_per_message)]
        self._base_ts = int(time.time() * 1000)
        self._sent = 0
        self.acked: set[Key] = set()
        self._futures: set[asyncio.Future[None]] = set()

    async def publish(self, messages: int, rate_per_s: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(messages):
            i = self._sent
            self._sent += 1
            ts = self._base_ts + i  # one millisecond per message: unique per topic
            device = f"dev/zl/line/d{i % self._devices}"
            points = [PointPayload(v=float(i), ts=ts, seq=i, gw="stream") for _ in self._tags]
            body = encode_batch("stream", ts, points, self._tags)
            fut = await self._mqtt.publish_nowait(device, body)
            keys = [(f"{device}/{t}", ts) for t in self._tags]
            self._futures.add(fut)
            fut.add_done_callback(functools.partial(self._done, keys=keys))
            delay = start + self._sent / rate_per_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    def _done(self, fut: asyncio.Future[None], *, keys: list[Key]) -> None:
        self._futures.discard(fut)
        if not fut.cancelled() and fut.exception() is None:
            self.acked.update(keys)

    async def all_acked(self, within_s: float = 30) -> None:
        if self._futures:
            await asyncio.wait(set(self._futures), timeout=within_s)
        assert not self._futures, f"{len(self._futures)} messages never acknowledged"


async def stored_keys(conn: asyncpg.Connection) -> tuple[set[Key], int]:
    """The keys in the historian and the number of rows."""
    rows = await conn.fetch(
        "SELECT topic, (extract(epoch FROM time) * 1000)::bigint AS ts FROM metrics"
    )
    return {(r["topic"], r["ts"]) for r in rows}, len(rows)


async def wait_stored(conn: asyncpg.Connection, expected: int, within_s: float = 60) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    count = 0
    while loop.time() < deadline:
        try:
            count = int(await conn.fetchval("SELECT count(*) FROM metrics"))
        except (asyncpg.UndefinedTableError, OSError, asyncpg.PostgresError):
            count = 0
        if count >= expected:
            return count
        await asyncio.sleep(0.2)
    return count


class IngestProcess:
    """`nexus ingest run` as a child process with a fixed client id (a replica)."""

    def __init__(self, stack: StackInfo, *, client_id: str, group: str, log_dir: Path) -> None:
        self.client_id = client_id
        self.port = free_port()
        self._env = {
            **os.environ,
            **stack.to_env(),
            "NEXUS_MQTT_CLIENT_ID": client_id,
            "NEXUS_INGEST_GROUP": group,
        }
        self._log = log_dir / f"{client_id}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [
            sys.executable,
            "-m",
            "nexus.cli.main",
            "ingest",
            "run",
            "--http-port",
            str(self.port),
            "--flush-interval",
            "0.2",
        ]
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(args, env=self._env, stdout=log, stderr=log)

    async def wait_ready(self, within_s: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while loop.time() < deadline:
            assert self.process is not None
            assert self.process.poll() is None, self.log_tail()
            if await asyncio.to_thread(self._get, "/ready") == 200:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.client_id} not ready: {self.log_tail()}")

    def _get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return int(r.status)
        except OSError:
            return 0

    async def stored(self) -> float:
        def read() -> float:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith("nexus_ingest_points_stored_total "):
                        return float(line.split()[1])
            return 0.0

        return await asyncio.to_thread(read)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, within_s: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(within_s)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log_tail(self) -> str:
        return self._log.read_text(errors="replace")[-3000:] if self._log.exists() else ""
