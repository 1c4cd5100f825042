"""The historian schema: TimescaleDB when the extension exists, plain PostgreSQL otherwise.

Both give the same table ``metrics`` and the same ``metrics_1min``/``_1hour``/``_1day`` names,
so queries work unchanged; on plain PostgreSQL the aggregates are ordinary views.
"""

from __future__ import annotations

import logging

import asyncpg

log = logging.getLogger(__name__)

SCHEMA_LOCK = 4_242_001
"""Advisory lock id: replicas starting together create the schema one at a time."""

METRICS_COLUMNS = ("time", "topic", "value", "value_str", "quality", "unit", "seq", "gateway")

BASE_DDL = """
CREATE TABLE IF NOT EXISTS metrics (
    time      timestamptz      NOT NULL,
    topic     text             NOT NULL,
    value     double precision,
    value_str text,
    quality   smallint         NOT NULL,
    unit      text,
    seq       bigint,
    gateway   text,
    stored_at timestamptz      NOT NULL DEFAULT now()  -- commit time: end-to-end latency
);
-- One point per tag and instant: a redelivered message can never create a second row.
CREATE UNIQUE INDEX IF NOT EXISTS metrics_topic_time_key ON metrics (topic, time);
CREATE TABLE IF NOT EXISTS dead_letters (
    id          bigserial   PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text        NOT NULL,
    payload     bytea       NOT NULL,
    reason      text        NOT NULL
);
"""

AGGREGATES = {"metrics_1min": "1 minute", "metrics_1hour": "1 hour", "metrics_1day": "1 day"}

TIMESCALE_DDL = """
CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT create_hypertable('metrics', 'time', chunk_time_interval => INTERVAL '1 day',
                         if_not_exists => TRUE, migrate_data => TRUE);
ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'topic');
SELECT add_compression_policy('metrics', INTERVAL '7 days', if_not_exists => TRUE);
SELECT add_retention_policy('metrics', INTERVAL '90 days', if_not_exists => TRUE);
"""

_AGG_SELECT = """
SELECT {bucket} AS bucket, topic,
       avg(value) AS avg, min(value) AS min, max(value) AS max, count(*) AS samples
FROM metrics GROUP BY 1, topic
"""


def _timescale_aggregate(name: str, width: str) -> str:
    select = _AGG_SELECT.format(bucket=f"time_bucket(INTERVAL '{width}', time)")
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} WITH (timescaledb.continuous) AS {select}"
        " WITH NO DATA;\n"
        f"SELECT add_continuous_aggregate_policy('{name}', start_offset => NULL,"
        f" end_offset => INTERVAL '{width}', schedule_interval => INTERVAL '{width}',"
        " if_not_exists => TRUE);"
    )


def _plain_aggregate(name: str, width: str) -> str:
    select = _AGG_SELECT.format(
        bucket=f"date_bin(INTERVAL '{width}', time, TIMESTAMPTZ '2000-01-01')"
    )
    return f"CREATE OR REPLACE VIEW {name} AS {select};"


async def ensure_schema(conn: asyncpg.Connection) -> bool:
    """Create what is missing; returns True when TimescaleDB is in use."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
        await conn.execute(BASE_DDL)
        available = await conn.fetchval(
            "SELECT count(*) > 0 FROM pg_available_extensions WHERE name = 'timescaledb'"
        )
        if available:
            await conn.execute(TIMESCALE_DDL)
            for name, width in AGGREGATES.items():
                await conn.execute(_timescale_aggregate(name, width))
        else:
            for name, width in AGGREGATES.items():
                await conn.execute(_plain_aggregate(name, width))
    log.info("historian schema ready (%s)", "TimescaleDB" if available else "plain PostgreSQL")
    return bool(available)
