"""The broker away for 30 s while the gateway polls: every point acquired meanwhile arrives."""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from pathlib import Path

import asyncpg
import pytest

from nexus.gateway.config import GatewayConfig
from nexus.gateway.service import Gateway
from nexus.ingest.service import Ingest
from nexus.model.payload import PointPayload
from nexus.stack.local import LocalStack
from simulators.fleet import ModbusFleet
from tests.integration.helpers import all_types_tags, stack_settings, wait_until, write_plant
from tests.integration.stream import stored_keys, wait_stored

pytestmark = pytest.mark.integration

OUTAGE_S = int(os.environ.get("NEXUS_TEST_OUTAGE_S", "30"))


async def test_points_acquired_while_the_broker_is_down_arrive_in_order(
    tmp_path: Path, own_stack: LocalStack
) -> None:
    plant = write_plant(
        tmp_path / "plant.yaml",
        [
            {
                "name": "mixer",
                "count": 3,
                "protocol": "modbus",
                "poll_interval_ms": 200,
                "tags": all_types_tags("holding")[:8],
            },
        ],
    )
    acked: list[tuple[str, PointPayload]] = []
    db = await asyncpg.connect(own_stack.info.db_dsn)
    await db.execute("DROP TABLE IF EXISTS metrics CASCADE; DROP TABLE IF EXISTS dead_letters")
    try:
        async with (
            ModbusFleet(plant) as fleet,
            Ingest(
                mqtt=stack_settings(own_stack, "fwd-ingest"),
                db_dsn=own_stack.info.db_dsn,
                flush_interval_s=0.2,
                http_port=None,
            ),
        ):
            config = GatewayConfig(devices=fleet.gateway_config())
            gateway = Gateway(
                config,
                mqtt=stack_settings(own_stack, "fwd-gw"),
                gateway_id="gw-fwd",
                http_port=None,
                spool_dir=tmp_path / "spool",
                on_acked=lambda t, p: acked.append((t, p)),
            )
            async with gateway:
                await wait_until(lambda: len(acked) > 100, what="points flowing")
                await own_stack.mosquitto.stop()
                await wait_until(lambda: gateway.publisher.spooling, what="spooling")
                polled_before = sum(s.points for s in gateway.statuses)
                await asyncio.sleep(OUTAGE_S)
                polled_during = sum(s.points for s in gateway.statuses) - polled_before
                assert polled_during > 0
                assert gateway.metrics.spooled_points._value.get() >= polled_during * 0.9
                await own_stack.mosquitto.start()
                await wait_until(
                    lambda: not gateway.publisher.spooling, within_s=90, what="spool forwarded"
                )
                await wait_until(
                    lambda: len(acked) > 0 and gateway.publisher.outstanding == 0, what="acked"
                )
            expected = {(t, p.ts) for t, p in acked}
            assert await wait_stored(db, len(expected), within_s=90) >= len(expected)
        keys, rows = await stored_keys(db)
    finally:
        await db.close()
    assert not expected - keys, f"{len(expected - keys)} acknowledged points never stored"
    assert rows == len(keys) == len(expected)
    # Acknowledged in acquisition order for every device, the spooled stretch included.
    per_device: dict[str, list[int]] = defaultdict(list)
    for topic, point in acked:
        per_device[topic.rsplit("/", 1)[0]].append(point.seq)
    for device, seqs in per_device.items():
        assert seqs == sorted(seqs), f"{device}: points acknowledged out of order"
        assert len(set(seqs)) == len(seqs), f"{device}: a point acknowledged twice"
