"""Writes batches to PostgreSQL: COPY at full speed, idempotent all the same.

The historian has a unique key (topic, time). The fast path COPYs a batch straight into
``metrics`` inside a savepoint. Only when the batch holds a point that is already stored (a
redelivery after a crash between commit and acknowledgement) does COPY fail; then the batch goes
through a staging table and ``INSERT … ON CONFLICT DO NOTHING``. Redeliveries are rare, so the
common case costs one COPY (measured by ``make bench-ingest``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg

from nexus.backoff import Backoff
from nexus.ingest.decode import Row
from nexus.ingest.schema import METRICS_COLUMNS, ensure_schema

log = logging.getLogger(__name__)

DeadLetter = tuple[str, bytes, str]
"""(topic, payload, reason)"""

POISON_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
)
"""Errors caused by the data itself: retrying the same rows cannot succeed."""

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
"""Errors of the database or the connection: the same write may succeed later."""

_STAGING_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS metrics_staging "
    "(LIKE metrics INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_MERGE = (
    f"INSERT INTO metrics ({', '.join(METRICS_COLUMNS)}) "
    f"SELECT {', '.join(METRICS_COLUMNS)} FROM metrics_staging ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class WriteResult:
    inserted: int
    duplicates: int


class Writer:
    """One connection to the historian; reconnects on the next write after a failure."""

    def __init__(self, dsn: str, *, timeout_s: float = 30.0) -> None:
        self._dsn = dsn
        self._timeout = timeout_s
        self._conn: asyncpg.Connection | None = None
        self.timescale = False

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def connect(self) -> None:
        await self.close()
        conn = await asyncpg.connect(
            self._dsn, timeout=self._timeout, command_timeout=self._timeout
        )
        try:
            self.timescale = await ensure_schema(conn)
            await conn.execute(_STAGING_DDL)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def connect_with_backoff(self, backoff: Backoff | None = None) -> None:
        """Connect, retrying with capped, jittered exponential backoff until it works."""
        backoff = backoff or Backoff(base=0.5, cap=30.0)
        while True:
            try:
                await self.connect()
                return
            except TRANSIENT_ERRORS as exc:
                delay = backoff.next_delay()
                log.warning("database not reachable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)

    async def write(self, rows: list[Row], dead: list[DeadLetter]) -> WriteResult:
        """Store rows and dead letters in one transaction; duplicates of stored rows are skipped."""
        if not self.connected:
            await self.connect()
        conn = self._conn
        assert conn is not None
        inserted = 0
        async with conn.transaction():
            if rows:
                try:
                    async with conn.transaction():  # a savepoint: the fast path may fail alone
                        await conn.copy_records_to_table(
                            "metrics", records=rows, columns=METRICS_COLUMNS
                        )
                    inserted = len(rows)
                except asyncpg.UniqueViolationError:
                    inserted = await self._merge(conn, rows)
            if dead:
                await conn.executemany(
                    "INSERT INTO dead_letters (topic, payload, reason) VALUES ($1, $2, $3)", dead
                )
        return WriteResult(inserted=inserted, duplicates=len(rows) - inserted)

    async def _merge(self, conn: asyncpg.Connection, rows: list[Row]) -> int:
        await conn.copy_records_to_table("metrics_staging", records=rows, columns=METRICS_COLUMNS)
        status = await conn.execute(_MERGE)  # the staging rows go at commit
        return int(status.split()[-1])

    def abort(self) -> None:
        """Drop the connection at once, without a word to the server: every wait on it ends."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.terminate()

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close(timeout=2)
            except Exception:  # a dead connection cannot be closed politely
                conn.terminate()
