"""A device that is unreachable or never answers does not delay the others."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nexus.gateway.config import GatewayConfig
from nexus.gateway.service import Gateway
from nexus.model.tags import ModbusDevice, ModbusTag
from nexus.settings import MqttSettings
from nexus.stack.tools import free_port
from simulators.fleet import ModbusFleet
from tests.integration.helpers import all_types_tags, wait_until, write_plant

pytestmark = pytest.mark.integration

HEALTHY = 4
POLLS = 15


async def test_dead_and_silent_devices_do_not_delay_healthy_ones(
    tmp_path: Path, mqtt_settings: MqttSettings
) -> None:
    plant = write_plant(
        tmp_path / "plant.yaml",
        [
            {
                "name": "ok",
                "count": HEALTHY,
                "protocol": "modbus",
                "poll_interval_ms": 200,
                "tags": all_types_tags("holding"),
            },
            {
                "name": "silent",
                "protocol": "modbus",
                "poll_interval_ms": 200,
                "timeout_ms": 1500,
                "tags": all_types_tags("holding"),
            },
        ],
    )
    async with ModbusFleet(plant) as fleet:
        await fleet.set_silent("silent")
        closed_port = free_port()  # nothing listens there
        unreachable = ModbusDevice(
            name="unreachable",
            site="site1",
            line="line1",
            host="127.0.0.1",
            port=closed_port,
            poll_interval_ms=200,
            timeout_ms=1500,
            tags=[ModbusTag(name="x", address=0)],
        )
        config = GatewayConfig(devices=[*fleet.gateway_config(), unreachable])
        async with Gateway(config, mqtt=mqtt_settings, gateway_id="gw-iso", http_port=None) as gw:
            status = {s.name: s for s in gw.statuses}
            healthy = [status[f"ok-{i:02d}"] for i in range(1, HEALTHY + 1)]
            await wait_until(
                lambda: all(s.polls >= POLLS for s in healthy),
                within_s=30,
                what=f"{POLLS} polls of each healthy device",
            )
            await asyncio.sleep(0)  # let in-flight polls settle into the counters
            for s in healthy:
                assert s.up, s
                assert s.errors == 0, s
                assert s.missed_deadlines == 0, f"{s.name} was delayed: {s}"
            assert not status["silent"].up
            assert status["silent"].errors >= 1
            assert "no answer" in (status["silent"].last_error or "")
            assert not status["unreachable"].up
            assert status["unreachable"].errors >= 1
            # Healthy devices were polled at their own pace while the others timed out.
            assert status["silent"].polls < POLLS // 2
