"""Historian look-ups by (topic, time) against a real PostgreSQL, and the ledger on top."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from load.historian import Historian, HistorianError
from load.ledger import Ledger, reconcile
from load.telemetry import DeviceTelemetry, PayloadForm
from nexus.ingest.decode import decode_message
from nexus.ingest.schema import METRICS_COLUMNS, ensure_schema
from nexus.stack.local import StackInfo

pytestmark = pytest.mark.integration

NOW = 1_795_000_000_000


async def test_missing_and_stored_keys_and_a_ledger_that_counts_one_lost_message(
    stack: StackInfo, fresh_db: asyncpg.Connection
) -> None:
    await ensure_schema(fresh_db)
    telemetry = DeviceTelemetry(site="s", line="l", device="d", tags=4, form=PayloadForm.BATCH)
    messages = [m for i in range(3) for m in telemetry.poll(NOW + i * 1000)]
    stored, lost = messages[:2], messages[2]
    rows = [row for m in stored for row in decode_message(m.topic, m.payload)]
    await fresh_db.copy_records_to_table("metrics", records=rows, columns=METRICS_COLUMNS)
    ledger = Ledger()
    for message in messages:
        ledger.record(message)

    historian = Historian(stack.db_dsn)
    try:
        all_keys = list(ledger.keys())
        missing = await asyncio.to_thread(historian.missing, all_keys)
        found = await asyncio.to_thread(historian.stored, all_keys)
        result = await asyncio.to_thread(reconcile, ledger, historian.missing, drain_s=0)
    finally:
        historian.close()

    assert sorted(missing) == sorted(lost.point_keys())
    assert set(found) == {k for m in stored for k in m.point_keys()}
    # commit times only where the server tracks them (the local stack does not, by default)
    assert all((v is not None) == historian.commit_timestamps for v in found.values())
    assert (result.acked, result.lost) == (12, 4)


async def test_an_unreachable_historian_is_a_historian_error() -> None:
    historian = Historian("postgresql://nobody:x@127.0.0.1:1/none")
    with pytest.raises(HistorianError, match=r"cannot query the historian at 127\.0\.0\.1"):
        await asyncio.to_thread(historian.missing, [("dev/s/l/d/t", NOW)])
