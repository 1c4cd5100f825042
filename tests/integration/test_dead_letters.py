"""Malformed messages land in dead_letters with their reason; good ones keep flowing."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from nexus.ingest.service import Ingest
from nexus.model.payload import PointPayload, encode_point
from nexus.mqtt import MqttClient
from nexus.settings import MqttSettings
from nexus.stack.local import StackInfo

pytestmark = pytest.mark.integration

GOOD_TOPIC = "dev/s1/l1/dev-01/temp"


def good(seq: int) -> bytes:
    return encode_point(PointPayload(v=float(seq), ts=1703289600000 + seq, u="°C", seq=seq, gw="t"))


POISON = [
    (GOOD_TOPIC, b"{not json", "invalid payload"),
    (GOOD_TOPIC, b'{"v": "x", "ts": "noon", "seq": 1, "gw": "t"}', "$.ts"),
    ("dev/s1/l1", good(0), "outside the contract"),
    (GOOD_TOPIC, b'{"v": 1, "q": "perfect", "ts": 1703289600000, "seq": 1, "gw": "t"}', "quality"),
]


async def wait_for_rows(
    conn: asyncpg.Connection, sql: str, expected: int, within_s: float = 20
) -> int:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            count = int(await conn.fetchval(sql))
        except asyncpg.UndefinedTableError:
            count = 0
        if count >= expected or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.1)


async def test_poison_messages_are_set_aside_and_good_ones_stored(
    stack: StackInfo, mqtt_settings: MqttSettings, fresh_db: asyncpg.Connection, share_group: str
) -> None:
    ingest_settings = mqtt_settings.model_copy(
        update={"client_id": mqtt_settings.client_id + "-in"}
    )
    async with (
        Ingest(
            mqtt=ingest_settings,
            db_dsn=stack.db_dsn,
            group=share_group,
            flush_interval_s=0.2,
            http_port=None,
        ) as ingest,
        MqttClient(mqtt_settings) as publisher,
    ):
        for seq in range(1, 101):
            await publisher.publish(GOOD_TOPIC, good(seq))
            if seq % 25 == 0:
                topic, body, _ = POISON[seq // 25 - 1]
                await publisher.publish(topic, body)
        stored = await wait_for_rows(fresh_db, "SELECT count(*) FROM metrics", 100)
        dead = await wait_for_rows(fresh_db, "SELECT count(*) FROM dead_letters", len(POISON))
        assert ingest.dead_lettered == len(POISON)
    assert stored == 100
    assert dead == len(POISON)
    seqs = [r["seq"] for r in await fresh_db.fetch("SELECT seq FROM metrics ORDER BY seq")]
    assert seqs == list(range(1, 101))
    rows = await fresh_db.fetch("SELECT topic, payload, reason FROM dead_letters ORDER BY id")
    for row, (topic, body, reason) in zip(rows, POISON, strict=True):
        assert row["topic"] == topic
        assert bytes(row["payload"]) == body
        assert reason in row["reason"]
