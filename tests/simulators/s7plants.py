"""Plants of the protocols added to Modbus: OPC UA servers and S7 PLCs."""

from __future__ import annotations

from typing import Any

from simulators.plant import Plant

RAMP = {"kind": "ramp", "start": 0, "slope": 1}

S7_TAGS: list[dict[str, Any]] = [
    {
        "name": "speed",
        "address": "DB1.DBD0:REAL",
        "unit": "rpm",
        "signal": {"kind": "constant", "value": 1450.5},
    },
    {"name": "count", "address": "DB1.DBD4:DINT", "signal": {"kind": "constant", "value": -7}},
    {"name": "running", "address": "DB1.DBX8.3:BOOL", "signal": {"kind": "constant", "value": 1}},
    {"name": "stopped", "address": "DB1.DBX8.4:BOOL", "signal": {"kind": "constant", "value": 0}},
    {
        "name": "label",
        "address": "DB1.DBB10:STRING[12]",
        "signal": {"kind": "text", "values": ["Grüße"]},
    },
    {
        "name": "wide",
        "address": "DB1.DBB30:WSTRING[8]",
        "signal": {"kind": "text", "values": ["温度"]},
    },
    {"name": "energy", "address": "DB2.DBB0:LREAL", "signal": {"kind": "constant", "value": 1e12}},
    {"name": "ramp", "address": "DB2.DBD8:UDINT", "signal": RAMP},
    {"name": "flag", "address": "MW10:INT", "signal": {"kind": "constant", "value": -300}},
    {"name": "input", "address": "I0.1:BOOL", "signal": {"kind": "constant", "value": 1}},
    {"name": "output", "address": "QW2:WORD", "signal": {"kind": "constant", "value": 65535}},
]

OPCUA_TAGS: list[dict[str, Any]] = [
    {
        "name": "temperature",
        "type": "Double",
        "unit": "°C",
        "signal": {"kind": "constant", "value": 72.5},
    },
    {"name": "speed", "type": "Float", "unit": "rpm", "signal": {"kind": "constant", "value": 1.1}},
    {"name": "count", "type": "Int64", "signal": {"kind": "constant", "value": -(2**63)}},
    {"name": "ramp", "type": "UInt32", "signal": RAMP},
    {"name": "on", "type": "Boolean", "signal": {"kind": "constant", "value": 1}},
    {"name": "recipe", "type": "String", "signal": {"kind": "text", "values": ["Märzen"]}},
    {
        "name": "valve",
        "type": "Double",
        "unit": "%",
        "status": "uncertain",
        "signal": {"kind": "constant", "value": 40},
    },
    {
        "name": "sensor",
        "type": "Double",
        "status": "bad",
        "signal": {"kind": "constant", "value": 1},
    },
]


def plant(devices: list[dict[str, Any]], *, update_interval_ms: int = 50) -> Plant:
    return Plant.model_validate(
        {
            "plant": "test",
            "seed": 3,
            "modbus": {"base_port": 0},
            "opcua": {"base_port": 0, "update_interval_ms": update_interval_ms},
            "s7": {"base_port": 0},
            "sites": [{"name": "site1", "lines": [{"name": "line1", "devices": devices}]}],
        }
    )


def s7_device(name: str = "plc", **extra: Any) -> dict[str, Any]:
    return {"name": name, "protocol": "s7", "poll_interval_ms": 200, "tags": S7_TAGS, **extra}


def opcua_device(name: str = "oven", **extra: Any) -> dict[str, Any]:
    return {"name": name, "protocol": "opcua", "poll_interval_ms": 200, "tags": OPCUA_TAGS, **extra}
