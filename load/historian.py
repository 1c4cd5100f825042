"""Look-ups of points in the historian by their unique key (topic, time), with pg8000.

pg8000 is pure Python: under Locust its sockets are gevent's, so a query never blocks the
simulated devices (asyncpg needs an asyncio loop, which gevent's monkey-patching breaks).
Every query is one round trip that joins the keys, passed as two arrays, against the unique
index ``metrics_topic_time_key``: an index-only nested loop, never a scan of the table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import pg8000.native

from load.telemetry import Key

log = logging.getLogger(__name__)

_KEYS = "unnest(CAST(:topics AS text[]), CAST(:ts AS bigint[])) AS k(topic, ts)"
_MATCH = "m.topic = k.topic AND m.time = to_timestamp(0) + k.ts * interval '1 millisecond'"
MISSING_SQL = (
    f"SELECT k.topic, k.ts FROM {_KEYS} WHERE NOT EXISTS (SELECT 1 FROM metrics m WHERE {_MATCH})"
)
STORED_SQL = f"SELECT k.topic, k.ts, NULL::float8 FROM {_KEYS} JOIN metrics m ON {_MATCH}"
STORED_WITH_COMMIT_SQL = (
    f"SELECT k.topic, k.ts, extract(epoch FROM pg_xact_commit_timestamp(m.xmin)) * 1000"
    f" FROM {_KEYS} JOIN metrics m ON {_MATCH}"
)


class HistorianError(Exception):
    """The historian could not be queried (connection refused, lost, or a bad DSN)."""


def connect_args(dsn: str) -> dict[str, Any]:
    """pg8000's connection arguments of a ``postgresql://user:password@host:port/db`` DSN."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise HistorianError("NEXUS_DB_DSN must look like postgresql://user:password@host:port/db")
    return {
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password) if parts.password is not None else None,
        "host": parts.hostname,
        "port": parts.port or 5432,
        "database": unquote(parts.path.lstrip("/")) or None,
        "timeout": 10,
    }


class Historian:
    """One connection, opened on first use and again after a failure."""

    def __init__(self, dsn: str) -> None:
        self._args = connect_args(dsn)
        self._conn: pg8000.native.Connection | None = None
        self.commit_timestamps = False
        """True when the server tracks commit times (``track_commit_timestamp = on``)."""

    @property
    def host(self) -> str:
        return str(self._args["host"])

    def _connection(self) -> pg8000.native.Connection:
        if self._conn is None:
            try:
                conn = pg8000.native.Connection(**self._args)
                setting = conn.run("SHOW track_commit_timestamp")
            except (pg8000.native.Error, OSError) as exc:
                raise HistorianError(f"cannot query the historian at {self.host}: {exc}") from exc
            self.commit_timestamps = bool(setting and setting[0][0] == "on")
            self._conn = conn
        return self._conn

    def _run(self, sql: str, keys: Sequence[Key]) -> list[list[Any]]:
        conn = self._connection()
        try:
            rows: list[list[Any]] = conn.run(
                sql, topics=[k[0] for k in keys], ts=[k[1] for k in keys]
            )
        except (pg8000.native.Error, OSError) as exc:
            self.close()
            raise HistorianError(f"historian query failed: {exc}") from exc
        return rows

    def missing(self, keys: Sequence[Key]) -> list[Key]:
        """The keys without a row."""
        if not keys:
            return []
        return [(topic, int(ts)) for topic, ts in self._run(MISSING_SQL, keys)]

    def stored(self, keys: Sequence[Key]) -> Mapping[Key, float | None]:
        """The keys with a row, each with its commit time in ms since the epoch when the
        server tracks commit timestamps, else None."""
        if not keys:
            return {}
        self._connection()  # learn commit_timestamps before choosing the query
        sql = STORED_WITH_COMMIT_SQL if self.commit_timestamps else STORED_SQL
        return {
            (topic, int(ts)): (float(commit) if commit is not None else None)
            for topic, ts, commit in self._run(sql, keys)
        }

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a broken connection cannot be closed politely
                log.debug("closing a broken historian connection", exc_info=True)
