"""Plant files with OPC UA servers and S7 PLCs: ports, twin devices, and checks that name the
field."""

from __future__ import annotations

from typing import Any

import pytest

from nexus.model.tags import ModbusDevice, OpcUaDevice, S7Device
from simulators.opcua.model import OpcUaTwinDevice
from simulators.plant import Plant
from simulators.s7.model import S7TwinDevice
from tests.simulators.s7plants import opcua_device, plant, s7_device

MODBUS = {
    "name": "meter",
    "count": 2,
    "tags": [{"name": "v", "address": 0, "signal": {"kind": "constant", "value": 1}}],
}


def data(*devices: dict[str, Any]) -> dict[str, Any]:
    return {
        "plant": "p",
        "modbus": {"base_port": 20000},
        "opcua": {"base_port": 21000},
        "s7": {"base_port": 22000},
        "sites": [{"name": "s", "lines": [{"name": "l", "devices": list(devices)}]}],
    }


def test_each_protocol_numbers_its_own_ports() -> None:
    loaded = Plant.model_validate(
        data(MODBUS, opcua_device(count=2), s7_device(), MODBUS | {"name": "m2", "count": 1})
    )
    ports = [(d.name, d.protocol, d.port) for d in loaded.devices()]
    assert ports == [
        ("meter-01", "modbus", 20000),
        ("meter-02", "modbus", 20001),
        ("oven-01", "opcua", 21000),
        ("oven-02", "opcua", 21001),
        ("plc", "s7", 22000),
        ("m2", "modbus", 20002),
    ]
    moved = loaded.with_base_port(30000)  # Modbus first, then OPC UA, then S7
    assert [d.port for d in moved.devices()] == [30000, 30001, 30003, 30004, 30005, 30002]
    config = moved.gateway_config("10.1.1.1")
    assert [type(d) for d in config] == [
        ModbusDevice,
        ModbusDevice,
        OpcUaDevice,
        OpcUaDevice,
        S7Device,
        ModbusDevice,
    ]
    oven = config[2]
    assert isinstance(oven, OpcUaDevice)
    assert oven.endpoint == "opc.tcp://10.1.1.1:30003"
    assert oven.tags[0].node_id == "ns=2;s=s.l.oven-01.temperature"
    twins = moved.devices()
    assert isinstance(twins[2], OpcUaTwinDevice)
    assert isinstance(twins[4], S7TwinDevice)
    assert loaded.tag_count == sum(len(d.tags) for d in twins)


def test_base_port_zero_needs_the_running_fleet() -> None:
    from nexus.errors import ConfigError

    with pytest.raises(ConfigError, match="base_port"):
        plant([s7_device()]).gateway_config()


@pytest.mark.parametrize(
    ("device", "field", "message"),
    [
        (
            s7_device(
                tags=[
                    {
                        "name": "a",
                        "address": "DB1.DBD0:REAL",
                        "signal": {"kind": "constant", "value": 1},
                    },
                    {
                        "name": "b",
                        "address": "DB1.DBW2:INT",
                        "signal": {"kind": "constant", "value": 1},
                    },
                ]
            ),
            "tags[1].address",
            "overlaps tag a",
        ),
        (
            s7_device(
                tags=[
                    {
                        "name": "a",
                        "address": "DB1.DBX0.1:BOOL",
                        "signal": {"kind": "constant", "value": 1},
                    },
                    {
                        "name": "b",
                        "address": "DB1.DBX0.2:BOOL",
                        "signal": {"kind": "constant", "value": 1},
                    },
                    {
                        "name": "c",
                        "address": "DB1.DBB0:BYTE",
                        "signal": {"kind": "constant", "value": 1},
                    },
                ]
            ),
            "tags[2].address",
            "overlaps tag a, b",
        ),
        (
            s7_device(
                tags=[
                    {
                        "name": "a",
                        "address": "DB1.DBB0:STRING[4]",
                        "signal": {"kind": "constant", "value": 1},
                    },
                ]
            ),
            "tags[0].signal",
            "needs a text signal",
        ),
        (
            opcua_device(
                tags=[
                    {"name": "a", "type": "Double", "signal": {"kind": "text", "values": ["x"]}},
                ]
            ),
            "tags[0].signal",
            "needs a string tag",
        ),
        (
            opcua_device(
                tags=[
                    {
                        "name": "a",
                        "type": "Byte",
                        "signal": {"kind": "sine", "amplitude": 200, "offset": 100, "period_s": 9},
                    },
                ]
            ),
            "tags[0].signal",
            "does not fit Byte",
        ),
        (
            opcua_device(
                tags=[
                    {"name": "a", "type": "Int8", "signal": {"kind": "constant", "value": 1}},
                ]
            ),
            "tags[0].type",
            "Input should be",
        ),
        (
            {
                "name": "m",
                "tags": [
                    {
                        "name": "s",
                        "address": 0,
                        "type": "string",
                        "length": 4,
                        "signal": {"kind": "constant", "value": 1},
                    }
                ],
            },
            "tags[0].signal",
            "needs a text signal",
        ),
    ],
)
def test_invalid_devices_name_the_field(device: dict[str, Any], field: str, message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        Plant.model_validate(data(device))
    error = info.value.errors()[0]
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    assert dotted.endswith(field), dotted
    assert message in error["msg"]
