"""Plants and waits shared by the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from nexus.settings import MqttSettings
from nexus.stack.local import LocalStack
from nexus.stack.tools import free_port_range
from simulators.plant import Plant, load_plant

SIGNED = {"kind": "sine", "amplitude": 30000, "offset": -500, "period_s": 7}
UNSIGNED = {"kind": "ramp", "start": 100, "slope": 1234.5}
FLOATS = {"kind": "sine", "amplitude": 1e4, "offset": -12.75, "period_s": 13}
BIG = {"kind": "counter", "start": 4_000_000_000, "increment": 1_000_003, "max": 9_000_000_000_000}

TYPE_SIGNALS = {
    "int16": SIGNED,
    "uint16": {"kind": "ramp", "start": 100, "slope": 300},
    "int32": {"kind": "sine", "amplitude": 2e9, "offset": -1e6, "period_s": 11},
    "uint32": UNSIGNED,
    "int64": BIG,
    "uint64": BIG,
    "float32": FLOATS,
    "float64": FLOATS,
}
WIDTH = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float32": 2,
    "float64": 4,
}


def all_types_tags(table: str) -> list[dict[str, Any]]:
    """Every register type in every byte order, back to back in one table."""
    tags: list[dict[str, Any]] = []
    address = 0
    for type_, signal in TYPE_SIGNALS.items():
        for order in ("ABCD", "DCBA", "BADC", "CDAB"):
            tags.append(
                {
                    "name": f"{type_}_{order}",
                    "table": table,
                    "address": address,
                    "type": type_,
                    "order": order,
                    "unit": "u",
                    "signal": signal,
                }
            )
            address += WIDTH[type_]
    tags.append(
        {
            "name": "scaled",
            "table": table,
            "address": address,
            "type": "int16",
            "scale": 0.1,
            "offset": -40,
            "unit": "°C",
            "signal": {"kind": "sine", "amplitude": 50, "offset": 20, "period_s": 5},
        }
    )
    return tags


def bit_tags(table: str, count: int = 5) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{table}{i}",
            "table": table,
            "address": i,
            "type": "bool",
            "signal": {"kind": "step", "levels": [0, 1] if i % 2 else [1, 0], "dwell_s": 3 + i},
        }
        for i in range(count)
    ]


def write_plant(path: Path, devices: list[dict[str, Any]], *, seed: int = 7) -> Plant:
    doc = {
        "plant": "test",
        "seed": seed,
        "modbus": {"host": "127.0.0.1", "base_port": free_port_range(len(devices), start=21000)},
        "sites": [{"name": "site1", "lines": [{"name": "line1", "devices": devices}]}],
    }
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_plant(path)


async def wait_until(predicate: Callable[[], bool], within_s: float = 20.0, what: str = "") -> None:
    """Poll `predicate` until true; fail the test after `within_s` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within_s:g} s waiting for {what or predicate}")
        await asyncio.sleep(0.05)


def stack_settings(stack: LocalStack, client_id: str) -> MqttSettings:
    """Broker settings for a client of `stack` with a persistent session of ten minutes."""
    info = stack.info
    return MqttSettings(
        host=info.mqtt_host,
        port=info.mqtt_port,
        username=info.mqtt_username,
        password=info.mqtt_password,
        client_id=client_id,
        session_expiry_s=600,
    )
