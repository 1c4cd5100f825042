"""Zero loss and zero duplicates through the classic failures of an MQTT → PostgreSQL pipeline.

Every test publishes a stream of unique points, remembers which ones the broker acknowledged
(the ledger), injects a fault mid-stream, and then requires the historian to hold exactly the
acknowledged points: none missing, none twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from nexus.ingest.service import Ingest
from nexus.mqtt import MqttClient
from nexus.stack.local import LocalStack
from tests.integration.helpers import stack_settings, wait_until
from tests.integration.stream import IngestProcess, PointStream, stored_keys, wait_stored

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(own_stack: LocalStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(own_stack.info.db_dsn)
    await conn.execute("DROP TABLE IF EXISTS metrics CASCADE; DROP TABLE IF EXISTS dead_letters")
    try:
        yield conn
    finally:
        await conn.close()


async def assert_exactly_once(db: asyncpg.Connection, stream: PointStream) -> None:
    await stream.all_acked()
    count = await wait_stored(db, len(stream.acked))
    keys, rows = await stored_keys(db)
    missing = stream.acked - keys
    assert not missing, f"{len(missing)} acknowledged points lost, e.g. {sorted(missing)[:3]}"
    assert rows == len(keys) == len(stream.acked) == count, "duplicates or unexpected rows"


async def test_ingest_killed_and_restarted_loses_nothing(
    own_stack: LocalStack, db: asyncpg.Connection, tmp_path: Path
) -> None:
    group = f"g{uuid.uuid4().hex[:6]}"
    replica = IngestProcess(
        own_stack.info, client_id=f"ingest-{group}-0", group=group, log_dir=tmp_path
    )
    replica.start()
    try:
        await replica.wait_ready()
        async with MqttClient(stack_settings(own_stack, f"pub-{group}")) as mqtt:
            stream = PointStream(mqtt)
            await stream.publish(200, rate_per_s=200)
            replica.kill()  # SIGKILL: nothing flushed, nothing acknowledged after the kill
            await stream.publish(200, rate_per_s=200)  # queued by the broker meanwhile
            replica.start()  # same client id: the persistent session comes back
            await replica.wait_ready()
            await stream.publish(200, rate_per_s=200)
            await assert_exactly_once(db, stream)
    finally:
        replica.stop()


async def test_two_replicas_share_the_stream_and_a_killed_one_loses_nothing(
    own_stack: LocalStack, db: asyncpg.Connection, tmp_path: Path
) -> None:
    group = f"g{uuid.uuid4().hex[:6]}"
    replicas = [
        IngestProcess(
            own_stack.info, client_id=f"ingest-{group}-{i}", group=group, log_dir=tmp_path
        )
        for i in range(2)
    ]
    for replica in replicas:
        replica.start()
    try:
        for replica in replicas:
            await replica.wait_ready()
        async with MqttClient(stack_settings(own_stack, f"pub-{group}")) as mqtt:
            stream = PointStream(mqtt)
            await stream.publish(300, rate_per_s=200)
            await wait_until(lambda: len(stream.acked) >= 300 * 50, what="first part acked")
            shares = [await r.stored() for r in replicas]
            assert all(share > 0 for share in shares), f"each replica takes a part: {shares}"
            replicas[1].kill()
            await stream.publish(300, rate_per_s=200)
            replicas[1].start()
            await replicas[1].wait_ready()
            await assert_exactly_once(db, stream)
    finally:
        for replica in replicas:
            replica.stop()


async def test_sigterm_drains_and_exits_cleanly(
    own_stack: LocalStack, db: asyncpg.Connection, tmp_path: Path
) -> None:
    group = f"g{uuid.uuid4().hex[:6]}"
    replica = IngestProcess(
        own_stack.info, client_id=f"ingest-{group}-0", group=group, log_dir=tmp_path
    )
    replica.start()
    try:
        await replica.wait_ready()
        async with MqttClient(stack_settings(own_stack, f"pub-{group}")) as mqtt:
            stream = PointStream(mqtt)
            publishing = asyncio.create_task(stream.publish(400, rate_per_s=200))
            await asyncio.sleep(1)
            code = await asyncio.to_thread(replica.terminate, 30)
            assert code == 0, replica.log_tail()
            await publishing
            replica.start()
            await replica.wait_ready()
            await assert_exactly_once(db, stream)
    finally:
        replica.stop()


async def test_database_outage_buffers_pushes_back_and_drains(
    own_stack: LocalStack, db: asyncpg.Connection
) -> None:
    group = f"g{uuid.uuid4().hex[:6]}"
    ingest = Ingest(
        mqtt=stack_settings(own_stack, f"ingest-{group}"),
        db_dsn=own_stack.info.db_dsn,
        group=group,
        batch_points=500,
        flush_interval_s=0.2,
        max_buffer_points=2000,
        http_port=None,
    )
    async with ingest, MqttClient(stack_settings(own_stack, f"pub-{group}")) as mqtt:
        stream = PointStream(mqtt, points_per_message=20)
        await stream.publish(100, rate_per_s=100)
        await db.close()
        await own_stack.postgres.stop()
        back_at = asyncio.get_running_loop().time() + 30  # the database stays away 30 s
        outage = asyncio.create_task(stream.publish(2500, rate_per_s=100))  # 50,000 points
        await wait_until(lambda: not ingest._ready()[0], within_s=30, what="not ready")
        await wait_until(lambda: ingest.buffered_points >= 2000, within_s=30, what="buffer full")
        await asyncio.sleep(back_at - asyncio.get_running_loop().time())
        assert ingest.buffered_points <= 2000 + 20, "the buffer is bounded"
        await own_stack.postgres.start()
        await outage
        await wait_until(lambda: ingest._ready()[0], within_s=60, what="ready again")
        conn = await asyncpg.connect(own_stack.info.db_dsn)
        try:
            await assert_exactly_once(conn, stream)
        finally:
            await conn.close()


async def test_redelivered_messages_are_stored_once(
    own_stack: LocalStack, db: asyncpg.Connection
) -> None:
    group = f"g{uuid.uuid4().hex[:6]}"
    ingest = Ingest(
        mqtt=stack_settings(own_stack, f"ingest-{group}"),
        db_dsn=own_stack.info.db_dsn,
        group=group,
        flush_interval_s=0.2,
        http_port=None,
    )
    async with ingest, MqttClient(stack_settings(own_stack, f"pub-{group}")) as mqtt:
        first = PointStream(mqtt)
        await first.publish(100, rate_per_s=500)
        await first.all_acked()
        await wait_stored(db, len(first.acked))
        again = PointStream(mqtt)
        again._base_ts = first._base_ts  # the very same messages, delivered a second time
        await again.publish(100, rate_per_s=500)
        await again.all_acked()
        await wait_until(
            lambda: ingest.duplicates_skipped >= len(first.acked),
            within_s=30,
            what="duplicates skipped",
        )
        await assert_exactly_once(db, first)
        assert ingest.duplicates_skipped == len(first.acked)


async def test_a_burst_of_poison_never_blocks_good_points(
    own_stack: LocalStack, db: asyncpg.Connection
) -> None:
    group = f"g{uuid.uuid4().hex[:6]}"
    poison = [b"{", b'{"gw": "x", "ts": 1, "points": []}', b"\xff\xfe", b'{"v": [1]}', b"null"]
    ingest = Ingest(
        mqtt=stack_settings(own_stack, f"ingest-{group}"),
        db_dsn=own_stack.info.db_dsn,
        group=group,
        flush_interval_s=0.2,
        http_port=None,
    )
    async with ingest, MqttClient(stack_settings(own_stack, f"pub-{group}")) as mqtt:
        stream = PointStream(mqtt)
        for i in range(10):
            await stream.publish(20, rate_per_s=1000)
            for j in range(100):
                await mqtt.publish_nowait(f"dev/zl/line/d{j % 4}", poison[(i + j) % len(poison)])
        await assert_exactly_once(db, stream)
        await wait_until(lambda: ingest.dead_lettered >= 1000, within_s=30, what="dead letters")
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 1000
