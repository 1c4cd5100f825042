"""The ingest never sits silent: a driver that cancels a write is retried, a dead task fails loudly.

Real Mosquitto and PostgreSQL; the only thing changed is one method of the writer or of the
service, made to misbehave once, the way asyncpg or a bug could.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from nexus.ingest.decode import Row
from nexus.ingest.service import Ingest
from nexus.ingest.writer import DeadLetter, WriteResult
from nexus.mqtt import MqttClient
from nexus.settings import MqttSettings
from nexus.stack.local import StackInfo
from tests.integration.test_dead_letters import GOOD_TOPIC, good, wait_for_rows

pytestmark = pytest.mark.integration


def _ingest(stack: StackInfo, settings: MqttSettings, group: str) -> Ingest:
    return Ingest(
        mqtt=settings.model_copy(update={"client_id": settings.client_id + "-in"}),
        db_dsn=stack.db_dsn,
        group=group,
        flush_interval_s=0.2,
        http_port=None,
    )


async def test_a_write_cancelled_by_the_driver_is_retried_not_lost(
    stack: StackInfo, mqtt_settings: MqttSettings, fresh_db: asyncpg.Connection, share_group: str
) -> None:
    ingest = _ingest(stack, mqtt_settings, share_group)
    real_write = ingest.writer.write
    calls = 0

    async def cancelled_once(rows: list[Row], dead: list[DeadLetter]) -> WriteResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncio.CancelledError  # what a connection lost mid-COPY can look like
        return await real_write(rows, dead)

    ingest.writer.write = cancelled_once  # type: ignore[method-assign]
    async with ingest, MqttClient(mqtt_settings) as publisher:
        for seq in range(1, 51):
            await publisher.publish(GOOD_TOPIC, good(seq))
        stored = await wait_for_rows(fresh_db, "SELECT count(*) FROM metrics", 50)
        assert not ingest.failed.is_set()
    assert calls >= 2
    assert stored == 50


async def test_a_write_that_hangs_is_abandoned_and_retried(
    stack: StackInfo, mqtt_settings: MqttSettings, fresh_db: asyncpg.Connection, share_group: str
) -> None:
    ingest = _ingest(stack, mqtt_settings, share_group)
    ingest.write_deadline_s = 0.5
    real_write = ingest.writer.write
    calls = 0

    async def hangs_once(rows: list[Row], dead: list[DeadLetter]) -> WriteResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()  # never returns
        return await real_write(rows, dead)

    ingest.writer.write = hangs_once  # type: ignore[method-assign]
    async with ingest, MqttClient(mqtt_settings) as publisher:
        for seq in range(1, 21):
            await publisher.publish(GOOD_TOPIC, good(seq))
        stored = await wait_for_rows(fresh_db, "SELECT count(*) FROM metrics", 20)
    assert calls >= 2
    assert stored == 20


async def test_a_flusher_that_dies_fails_the_service_loudly_and_loses_nothing(
    stack: StackInfo,
    mqtt_settings: MqttSettings,
    fresh_db: asyncpg.Connection,
    share_group: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = _ingest(stack, mqtt_settings, share_group)

    def bug(*args: object) -> None:
        raise RuntimeError("a bug in settling a batch")

    broken._settle = bug  # type: ignore[method-assign,assignment]
    with caplog.at_level(logging.CRITICAL, logger="nexus.ingest.service"):
        async with broken, MqttClient(mqtt_settings) as publisher:
            for seq in range(1, 31):
                await publisher.publish(GOOD_TOPIC, good(seq))
            await asyncio.wait_for(broken.failed.wait(), 20)
            ready, why = broken._ready()
    assert broken.failure is not None
    assert "ingest:flush" in broken.failure
    assert "a bug in settling a batch" in broken.failure
    assert not ready
    assert "ingest:flush" in why
    assert any("cannot go on" in r.getMessage() for r in caplog.records)
    # Committed but never acknowledged: the same session gets them again, stored once.
    async with _ingest(stack, mqtt_settings, share_group) as healthy:
        stored = await wait_for_rows(fresh_db, "SELECT count(*) FROM metrics", 30)
        assert not healthy.failed.is_set()
    assert stored == 30
    seqs = [r["seq"] for r in await fresh_db.fetch("SELECT seq FROM metrics ORDER BY seq")]
    assert seqs == list(range(1, 31))
