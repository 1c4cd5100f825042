"""Writes batches to PostgreSQL with COPY, in one transaction with their dead letters."""

from __future__ import annotations

import asyncio
import logging
import random

import asyncpg

from nexus.ingest.decode import Row
from nexus.ingest.schema import METRICS_COLUMNS, ensure_schema

log = logging.getLogger(__name__)

DeadLetter = tuple[str, bytes, str]
"""(topic, payload, reason)"""


class Writer:
    def __init__(self, dsn: str, *, connect_timeout_s: float = 10.0) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout_s
        self._conn: asyncpg.Connection | None = None
        self.timescale = False

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def connect(self) -> None:
        self._conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
        self.timescale = await ensure_schema(self._conn)

    async def connect_with_backoff(self, stop: asyncio.Event | None = None) -> None:
        """Connect, retrying with capped, jittered exponential backoff."""
        delay = 0.5
        while True:
            try:
                await self.connect()
                return
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("database not reachable (%s); retrying in %.1f s", exc, delay)
            if stop is not None and stop.is_set():
                raise ConnectionError("stopped while waiting for the database")
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 30.0)

    async def write(self, rows: list[Row], dead: list[DeadLetter]) -> None:
        if self._conn is None or self._conn.is_closed():
            await self.connect()
        assert self._conn is not None
        async with self._conn.transaction():
            if rows:
                await self._conn.copy_records_to_table(
                    "metrics", records=rows, columns=METRICS_COLUMNS
                )
            if dead:
                await self._conn.executemany(
                    "INSERT INTO dead_letters (topic, payload, reason) VALUES ($1, $2, $3)", dead
                )

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
