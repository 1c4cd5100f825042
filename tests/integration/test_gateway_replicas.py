"""Replicas share the fleet; a killed replica's devices move to the others; live reload."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from nexus.gateway.config import GatewayConfig
from nexus.gateway.service import Gateway
from nexus.model.payload import decode_points
from nexus.mqtt import MqttClient
from nexus.settings import MqttSettings
from nexus.stack.local import StackInfo
from nexus.stack.tools import free_port
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
HANDOVER_BOUND_S = 15


class Sightings:
    """Who published each device's points, and when (from the broker, like any consumer)."""

    def __init__(self) -> None:
        self.by_device: dict[str, list[tuple[float, str]]] = defaultdict(list)

    async def follow(self, mqtt: MqttClient) -> None:
        while True:
            message = await mqtt.messages.get()
            now = time.monotonic()
            for topic, point in decode_points(message.topic, message.payload):
                self.by_device[topic.split("/")[3]].append((now, point.gw))

    def owners_since(self, since: float) -> dict[str, set[str]]:
        return {
            device: {gw for at, gw in seen if at >= since}
            for device, seen in self.by_device.items()
        }


def start_replica(
    stack: StackInfo, name: str, config: Path, log_dir: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **stack.to_env(),
        "NEXUS_GATEWAY_ID": name,
        "NEXUS_MQTT_CLIENT_ID": name,
        "NEXUS_GATEWAY_GROUP": "line-a",
        "NEXUS_API_PORT": "0",
        "NEXUS_HTTP_PORT": str(free_port()),
        "NEXUS_GATEWAY_SPOOL_DIR": str(log_dir / f"spool-{name}"),
    }
    with (log_dir / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "nexus.cli.main", "gateway", "run", "--config", str(config)],
            env=env,
            stdout=log,
            stderr=log,
        )


async def test_replicas_split_the_fleet_and_take_over_a_killed_ones_devices(
    tmp_path: Path, stack: StackInfo, mqtt_settings: MqttSettings
) -> None:
    plant = write_plant(
        tmp_path / "plant.yaml",
        [
            {
                "name": "rtu",
                "count": 12,
                "protocol": "modbus",
                "poll_interval_ms": 500,
                "tags": ONE_TAG,
            },
        ],
    )
    sightings = Sightings()
    names = ["gw-a", "gw-b", "gw-c"]
    replicas: dict[str, subprocess.Popen[bytes]] = {}
    async with (
        ModbusFleet(plant) as fleet,
        MqttClient(mqtt_settings, subscriptions=("dev/#",)) as sub,
    ):
        config = tmp_path / "devices.yaml"
        config.write_text(fleet.gateway_yaml(), encoding="utf-8")
        follower = asyncio.create_task(sightings.follow(sub))
        try:
            for name in names:
                replicas[name] = start_replica(stack, name, config, tmp_path)
            devices = [d.name for d in fleet.devices]

            def settled(members: set[str]) -> bool:
                owners = sightings.owners_since(time.monotonic() - 1.5)
                return (
                    all(len(owners.get(d, ())) == 1 for d in devices)
                    and set().union(*owners.values()) == members
                )

            await wait_until(lambda: settled(set(names)), within_s=60, what="a steady split")
            # Steady state: every device polled by exactly one replica, every replica busy.
            await asyncio.sleep(2)
            window = sightings.owners_since(time.monotonic() - 2)
            assert all(len(window[d]) == 1 for d in devices), window
            victims = [d for d in devices if window[d] == {"gw-c"}]
            assert victims, "gw-c polled nothing"

            replicas["gw-c"].send_signal(signal.SIGKILL)
            replicas["gw-c"].wait(10)
            killed_at = time.monotonic()
            await wait_until(
                lambda: settled({"gw-a", "gw-b"}), within_s=30, what="gw-c's devices taken over"
            )
            for device in victims:
                first = min(
                    at for at, gw in sightings.by_device[device] if at > killed_at and gw != "gw-c"
                )
                gap = first - killed_at
                print(f"{device}: polled again {gap:.1f} s after gw-c was killed")
                assert gap <= HANDOVER_BOUND_S, f"{device} unpolled for {gap:.1f} s"
        finally:
            follower.cancel()
            for process in replicas.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in replicas.values():
                process.wait(30)
    logs = "".join((tmp_path / f"{n}.log").read_text() for n in ("gw-a", "gw-b"))
    assert "members" in logs


async def test_a_changed_device_file_is_applied_live_and_a_broken_one_refused(
    tmp_path: Path, mqtt_settings: MqttSettings
) -> None:
    plant = write_plant(
        tmp_path / "plant.yaml",
        [
            {
                "name": "pump",
                "count": 3,
                "protocol": "modbus",
                "poll_interval_ms": 200,
                "tags": ONE_TAG,
            },
        ],
    )
    async with ModbusFleet(plant) as fleet:
        devices = fleet.gateway_config()
        path = tmp_path / "devices.yaml"
        path.write_text(GatewayConfig(devices=devices[:2]).model_dump_json(), encoding="utf-8")
        config = GatewayConfig.load(path)
        async with Gateway(
            config,
            mqtt=mqtt_settings,
            gateway_id="gw-reload",
            http_port=None,
            config_path=path,
            reload_interval_s=0.2,
        ) as gateway:
            assert [s.name for s in gateway.statuses] == ["pump-01", "pump-02"]
            first = gateway.pollers[0]
            path.write_text(json.dumps({"devices": [d.model_dump(mode="json") for d in devices]}))
            await wait_until(lambda: len(gateway.statuses) == 3, what="third device added")
            assert gateway.pollers[0] is first, "an unchanged device keeps running undisturbed"
            await wait_until(lambda: gateway.statuses[2].up, what="new device polled")
            path.write_text("devices:\n  - name: broken device\n")
            await wait_until(
                lambda: gateway.watcher is not None and gateway.watcher.refused == 1,
                what="broken file refused",
            )
            assert len(gateway.statuses) == 3
            assert all(s.up for s in gateway.statuses)
