"""Twin → gateway → Mosquitto → ingest → PostgreSQL, checked value for value."""

from __future__ import annotations

import struct
from pathlib import Path

import asyncpg
import pytest

from nexus.gateway.config import GatewayConfig
from nexus.gateway.publisher import PublishMode
from nexus.gateway.service import Gateway
from nexus.ingest.service import Ingest
from nexus.model.payload import PointPayload, split_topic
from nexus.mqtt import MqttClient
from nexus.settings import MqttSettings
from nexus.stack.local import StackInfo
from simulators.clock import SimClock
from simulators.fleet import ModbusFleet
from tests.integration.helpers import all_types_tags, bit_tags, wait_until, write_plant

pytestmark = pytest.mark.integration

T = 123.4  # the frozen simulated time: every poll reads exactly what the twin serves at T


def device(name: str, unit_id: int, tags: list[dict[str, object]]) -> dict[str, object]:
    return {
        "name": name,
        "protocol": "modbus",
        "unit_id": unit_id,
        "poll_interval_ms": 200,
        "tags": tags,
    }


def as_published(value: float | int | bool | str, tag: str) -> float | int | bool | str:
    """What the gateway can publish for a twin value: float32 tags carry float32 precision."""
    if tag.startswith("float32") and isinstance(value, float):
        return float(struct.unpack(">f", struct.pack(">f", value))[0])
    return value


@pytest.mark.parametrize("mode", list(PublishMode))
async def test_rows_equal_published_points_value_for_value(
    mode: PublishMode,
    tmp_path: Path,
    stack: StackInfo,
    mqtt_settings: MqttSettings,
    fresh_db: asyncpg.Connection,
    share_group: str,
) -> None:
    plant = write_plant(
        tmp_path / "plant.yaml",
        [
            device("holding", 1, all_types_tags("holding")),
            device("input", 7, all_types_tags("input")),
            device("bits", 255, bit_tags("coil") + bit_tags("discrete_input")),
        ],
    )
    published: dict[tuple[str, int], PointPayload] = {}

    def on_acked(topic: str, payload: PointPayload) -> None:
        assert (topic, payload.seq) not in published
        published[(topic, payload.seq)] = payload

    async with ModbusFleet(plant, clock=SimClock.frozen(T)) as fleet:
        config = GatewayConfig(devices=fleet.gateway_config())
        async with Ingest(
            mqtt=mqtt_settings.model_copy(update={"client_id": mqtt_settings.client_id + "-in"}),
            db_dsn=stack.db_dsn,
            group=share_group,
            flush_interval_s=0.2,
            http_port=None,
        ) as ingest:
            async with Gateway(
                config,
                mqtt=mqtt_settings,
                gateway_id="gw-test",
                http_port=None,
                on_acked=on_acked,
                publish_mode=mode,
            ) as gateway:
                await wait_until(
                    lambda: all(s.polls >= 3 for s in gateway.statuses), what="3 polls"
                )
            await wait_until(lambda: ingest.points_stored >= len(published), what="all stored")

        # What the gateway published is what the twin serves, for every type and byte order.
        tags_seen: set[str] = set()
        for (topic, _), payload in published.items():
            _, _, dev, tag = split_topic(topic)
            tags_seen.add(f"{dev}/{tag}")
            expected = as_published(fleet.value_at(dev, tag, T), tag)
            assert payload.q == "good", topic
            assert payload.v == expected, (
                f"{topic}: published {payload.v!r}, twin serves {expected!r}"
            )
            assert payload.gw == "gw-test"
    assert len(tags_seen) == sum(len(d.tags) for d in config.devices)

    # What is in PostgreSQL is what was published, row for row, value for value.
    rows = await fresh_db.fetch(
        "SELECT topic, seq, value, value_str, quality, unit, time FROM metrics"
    )
    assert len(rows) == len(published)
    stored = {(r["topic"], r["seq"]): r for r in rows}
    assert stored.keys() == published.keys()
    for key, payload in published.items():
        row = stored[key]
        assert row["value"] == float(payload.v), key  # type: ignore[arg-type]
        assert row["quality"] == 192
        assert row["unit"] == payload.u
        assert int(row["time"].timestamp() * 1000) == payload.ts


async def test_sequence_numbers_are_gapless_per_device(
    tmp_path: Path,
    stack: StackInfo,
    mqtt_settings: MqttSettings,
) -> None:
    plant = write_plant(tmp_path / "plant.yaml", [device("seq", 1, all_types_tags("holding"))])
    seqs: list[int] = []
    listener = mqtt_settings.model_copy(update={"client_id": mqtt_settings.client_id + "-sub"})
    # Somebody must subscribe: a point nobody receives is not delivered (MQTT 5 reason 0x10).
    async with ModbusFleet(plant) as fleet, MqttClient(listener, subscriptions=("dev/#",)):
        config = GatewayConfig(devices=fleet.gateway_config())
        async with Gateway(
            config,
            mqtt=mqtt_settings,
            gateway_id="gw-seq",
            http_port=None,
            on_acked=lambda _t, p: seqs.append(p.seq),
        ) as gateway:
            await wait_until(lambda: gateway.statuses[0].polls >= 3, what="3 polls")
    assert seqs, "nothing was delivered"
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
