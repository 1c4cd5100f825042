"""Circuit breakers, status topics, the device API and bounded reconnects, with real parts."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from nexus.gateway.breaker import BreakerState
from nexus.gateway.config import GatewayConfig
from nexus.gateway.service import Gateway
from nexus.mqtt import MqttClient
from nexus.settings import MqttSettings
from simulators.fleet import ModbusFleet
from tests.integration.helpers import wait_until, write_plant

pytestmark = pytest.mark.integration

ONE_TAG = [
    {
        "name": "v",
        "table": "holding",
        "address": 0,
        "type": "uint16",
        "signal": {"kind": "counter", "increment": 1},
    }
]


def get_json(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_breaker_opens_reports_status_and_closes_when_the_device_returns(
    tmp_path: Path, mqtt_settings: MqttSettings
) -> None:
    plant = write_plant(
        tmp_path / "plant.yaml",
        [
            {
                "name": "press",
                "count": 2,
                "protocol": "modbus",
                "poll_interval_ms": 200,
                "timeout_ms": 500,
                "tags": ONE_TAG,
            },
        ],
    )
    watcher_settings = mqtt_settings.model_copy(
        update={"client_id": mqtt_settings.client_id + "-w"}
    )
    async with (
        ModbusFleet(plant) as fleet,
        MqttClient(watcher_settings, subscriptions=("status/#",)) as watcher,
    ):
        config = GatewayConfig(devices=fleet.gateway_config())
        async with Gateway(
            config, mqtt=mqtt_settings, gateway_id="gw-res", http_port=None, api_port=0
        ) as gateway:
            assert gateway.api is not None
            status = {s.name: s for s in gateway.statuses}
            await wait_until(lambda: all(s.up for s in gateway.statuses), what="devices up")
            await fleet.set_offline("press-01")
            await wait_until(
                lambda: status["press-01"].breaker is BreakerState.OPEN, what="breaker open"
            )
            skipped_before = status["press-01"].skipped
            await wait_until(
                lambda: status["press-01"].skipped > skipped_before + 2,
                what="polls skipped while open",
            )
            # The API shows it, and the other device is untouched.
            code, devices = await asyncio.to_thread(get_json, gateway.api.port, "/devices")
            assert code == 200
            by_name = {d["name"]: d for d in devices}
            assert by_name["press-01"]["breaker"] == "open"
            assert by_name["press-01"]["up"] is False
            assert by_name["press-02"]["up"] is True
            assert by_name["press-02"]["errors"] == 0
            code, detail = await asyncio.to_thread(get_json, gateway.api.port, "/devices/press-02")
            assert code == 200
            assert detail["config"]["port"] == fleet.device("press-02").port
            code, _ = await asyncio.to_thread(get_json, gateway.api.port, "/devices/nope")
            assert code == 404
            await fleet.set_offline("press-01", False)
            await wait_until(lambda: status["press-01"].up, within_s=60, what="device back")
            assert status["press-01"].breaker is BreakerState.CLOSED

        # Status topics told the story, retained, in order; the gateway said goodbye.
        seen: dict[str, list[dict[str, object]]] = {}
        await wait_until(lambda: watcher.messages.qsize() >= 6, what="status messages")
        while not watcher.messages.empty():
            message = watcher.messages.get_nowait()
            seen.setdefault(message.topic, []).append(json.loads(message.payload))
    device_states = [(m["state"], m.get("breaker")) for m in seen["status/site1/line1/press-01"]]
    assert ("offline", "open") in device_states
    assert device_states[-1] == ("online", "closed")
    assert [m["state"] for m in seen["status/gateway/gw-res"]][-1] == "offline"


async def test_two_hundred_devices_returning_together_reconnect_within_the_bound(
    tmp_path: Path, mqtt_settings: MqttSettings
) -> None:
    devices = 200
    rate = 20.0
    plant = write_plant(
        tmp_path / "plant.yaml",
        [
            {
                "name": "rtu",
                "count": devices,
                "protocol": "modbus",
                "poll_interval_ms": 1000,
                "timeout_ms": 500,
                "tags": ONE_TAG,
            },
        ],
    )
    async with ModbusFleet(plant) as fleet:
        config = GatewayConfig(devices=fleet.gateway_config())
        async with Gateway(
            config, mqtt=mqtt_settings, gateway_id="gw-storm", http_port=None, reconnects_per_s=rate
        ) as gateway:
            await wait_until(
                lambda: all(s.up for s in gateway.statuses), within_s=60, what="all up"
            )
            names = [d.name for d in fleet.devices]
            await asyncio.gather(*(fleet.set_offline(n) for n in names))
            await wait_until(
                lambda: all(not s.up for s in gateway.statuses), within_s=60, what="all down"
            )
            await asyncio.gather(*(fleet.set_offline(n, False) for n in names))
            limiter = gateway.limiters["modbus"]
            samples: list[tuple[float, int]] = []
            loop = asyncio.get_running_loop()
            while not all(s.up for s in gateway.statuses):
                samples.append((loop.time(), limiter.attempts))
                assert len(samples) < 2400, "devices did not all come back within 120 s"
                await asyncio.sleep(0.05)
    # Attempts in any one-second window: at most the rate plus the one-second burst.
    peak = max(
        (later[1] - earlier[1])
        for i, earlier in enumerate(samples)
        for later in samples[i:]
        if later[0] - earlier[0] <= 1.0
    )
    assert peak <= 2 * rate, f"{peak} reconnect attempts in one second (bound {2 * rate:g})"
    assert limiter.attempts >= devices
