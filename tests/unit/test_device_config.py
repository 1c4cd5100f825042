"""The gateway's device file: one discriminated union of Modbus, OPC UA and S7 devices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nexus.errors import ConfigError
from nexus.gateway.config import GatewayConfig
from nexus.model.tags import ModbusDevice, OpcUaDevice, S7Device

BASE: dict[str, Any] = {"site": "s1", "line": "l1"}


def config(*devices: dict[str, Any]) -> GatewayConfig:
    return GatewayConfig.model_validate({"devices": list(devices)})


def test_each_protocol_gets_its_model_and_modbus_is_the_default() -> None:
    loaded = config(
        {**BASE, "name": "m", "tags": [{"name": "t", "address": 0}]},
        {
            **BASE,
            "name": "o",
            "protocol": "opcua",
            "endpoint": "opc.tcp://plc:4840",
            "tags": [{"name": "t", "node_id": "ns=2;s=Line1.Temp"}],
        },
        {
            **BASE,
            "name": "p",
            "protocol": "s7",
            "host": "10.0.0.9",
            "tags": [{"name": "t", "address": "db1.dbd0:real"}],
        },
    )
    modbus, opcua, s7 = loaded.devices
    assert isinstance(modbus, ModbusDevice)
    assert isinstance(opcua, OpcUaDevice)
    assert opcua.mode == "subscription"
    assert isinstance(s7, S7Device)
    assert s7.tags[0].address == "DB1.DBD0:REAL"  # normalised
    assert (s7.port, s7.rack, s7.slot, s7.pdu_size) == (102, 0, 1, 480)
    # and back: a dumped configuration loads as the same devices
    assert GatewayConfig.model_validate(loaded.model_dump(mode="json")) == loaded


@pytest.mark.parametrize(
    ("device", "loc", "message"),
    [
        ({"protocol": "profibus", "tags": []}, ("devices", 0, "protocol"), "modbus, opcua, s7"),
        (
            {"protocol": "s7", "tags": [{"name": "t", "address": "DB1.DBW0:REAL"}]},
            ("devices", 0, "tags", 0, "address"),
            "use D, not W",
        ),
        (
            {
                "protocol": "opcua",
                "endpoint": "http://x",
                "tags": [{"name": "t", "node_id": "i=1"}],
            },
            ("devices", 0, "endpoint"),
            "should match pattern",
        ),
        (
            {
                "protocol": "opcua",
                "endpoint": "opc.tcp://x:4840",
                "tags": [{"name": "t", "node_id": "ns=2;x=1"}],
            },
            ("devices", 0, "tags", 0, "node_id"),
            "is not a node id",
        ),
        (
            {
                "protocol": "opcua",
                "endpoint": "opc.tcp://x:4840",
                "security_policy": "Basic256Sha256",
                "tags": [{"name": "t", "node_id": "i=2258"}],
            },
            ("devices", 0),
            "needs certificate and private_key",
        ),
        (
            {
                "protocol": "opcua",
                "endpoint": "opc.tcp://x:4840",
                "password_env": "PW",
                "tags": [{"name": "t", "node_id": "i=2258"}],
            },
            ("devices", 0),
            "password_env needs a username",
        ),
        (
            {"tags": [{"name": "t", "address": 0, "type": "string"}]},
            ("devices", 0, "tags", 0),
            "needs its length",
        ),
        (
            {"tags": [{"name": "t", "address": 0, "type": "string", "length": 4, "order": "CDAB"}]},
            ("devices", 0, "tags", 0),
            "ABCD or BADC",
        ),
    ],
)
def test_errors_name_the_field(
    device: dict[str, Any], loc: tuple[object, ...], message: str
) -> None:
    with pytest.raises(Exception) as info:  # noqa: PT011 - pydantic's ValidationError
        config({**BASE, "name": "d", **device})
    errors = info.value.errors()  # type: ignore[attr-defined]
    assert errors[0]["loc"] == loc
    assert message in errors[0]["msg"]


def test_a_device_file_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(
        "devices:\n"
        "  - name: press\n    site: s\n    line: l\n    protocol: s7\n    tags:\n"
        "      - {name: a, address: 'DB1.DBD0:REAL'}\n"
        "      - {name: b, address: 'DB1.DBX4:BOOL'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        GatewayConfig.load(path)
    assert info.value.file == f"{path}:8"
    assert info.value.field == "devices[0].tags[1].address"
    assert "bit number" in str(info.value)


def test_a_missing_password_variable_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nexus.gateway.adapters import make_adapter

    monkeypatch.delenv("NEXUS_TEST_OPCUA_PW", raising=False)
    device = OpcUaDevice.model_validate(
        {
            **BASE,
            "name": "o",
            "protocol": "opcua",
            "endpoint": "opc.tcp://x:4840",
            "username": "operator",
            "password_env": "NEXUS_TEST_OPCUA_PW",
            "tags": [{"name": "t", "node_id": "i=2258"}],
        }
    )
    with pytest.raises(ConfigError, match="NEXUS_TEST_OPCUA_PW"):
        make_adapter(device)
    monkeypatch.setenv("NEXUS_TEST_OPCUA_PW", "secret")
    assert make_adapter(device).name == "o"
