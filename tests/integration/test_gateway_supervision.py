"""A device poller that dies on a bug is started again; the other devices never notice."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.gateway.config import GatewayConfig
from nexus.gateway.poller import DevicePoller
from nexus.gateway.service import Gateway
from nexus.settings import MqttSettings
from simulators.fleet import ModbusFleet
from tests.integration.helpers import all_types_tags, wait_until, write_plant

pytestmark = pytest.mark.integration


async def test_a_poller_that_dies_is_restarted_and_keeps_polling(
    tmp_path: Path, mqtt_settings: MqttSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant = write_plant(
        tmp_path / "plant.yaml",
        [
            {
                "name": "press",
                "count": 2,
                "protocol": "modbus",
                "poll_interval_ms": 200,
                "tags": all_types_tags("holding"),
            }
        ],
    )
    real_run = DevicePoller.run
    crashed: list[str] = []

    async def run_with_one_bug(self: DevicePoller) -> None:
        if self.status.name == "press-01" and not crashed:
            crashed.append(self.status.name)
            raise RuntimeError("a bug in the poller")
        await real_run(self)

    monkeypatch.setattr(DevicePoller, "run", run_with_one_bug)
    async with ModbusFleet(plant) as fleet:
        config = GatewayConfig(devices=fleet.gateway_config())
        async with Gateway(config, mqtt=mqtt_settings, gateway_id="gw-sup", http_port=None) as gw:

            def polls(name: str) -> int:
                return next((s.polls for s in gw.statuses if s.name == name), 0)

            await wait_until(
                lambda: polls("press-01") >= 5 and polls("press-02") >= 5,
                within_s=20,
                what="both devices polled after the crash",
            )
            assert crashed == ["press-01"]
            assert gw.metrics.poller_restarts._value.get() == 1
            assert not gw.failed.is_set()
            assert [s.name for s in gw.statuses] == ["press-01", "press-02"]
