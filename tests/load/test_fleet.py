"""The fleet load: a growing twin fleet polled by a gateway whose device list grows."""

from __future__ import annotations

import pytest

from load.fleet import DEFAULT_PLANT, run_steps
from nexus.settings import MqttSettings
from nexus.stack.local import StackInfo
from simulators.plant import load_plant

pytestmark = pytest.mark.integration


async def test_each_step_measures_the_gateway_polling_the_grown_fleet(stack: StackInfo) -> None:
    mqtt = MqttSettings(
        host=stack.mqtt_host,
        port=stack.mqtt_port,
        username=stack.mqtt_username,
        password=stack.mqtt_password,
        client_id="test-load-fleet",
        session_expiry_s=2,
    )
    results = await run_steps(mqtt, load_plant(DEFAULT_PLANT), [2, 4], step_s=1.0, warmup_s=0.5)
    assert [(r.devices, r.tags) for r in results] == [(2, 20), (4, 40)]
    for result in results:
        assert result.expected_polls_per_s == result.devices * 4  # 250 ms each
        assert result.polls_per_s > 0
        assert result.poll_p50_ms is not None
        assert result.poll_errors == 0
