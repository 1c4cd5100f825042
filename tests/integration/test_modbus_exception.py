"""A Modbus exception response (illegal address) spoils only the tag block that asked for it."""

from __future__ import annotations

import pytest

from nexus.gateway.config import GatewayConfig
from nexus.gateway.service import Gateway
from nexus.model.tags import ModbusDevice, ModbusTag
from nexus.settings import MqttSettings
from simulators.clock import SimClock
from simulators.fleet import ModbusFleet
from tests.integration.helpers import wait_until
from tests.integration.points import Received
from tests.simulators.s7plants import plant

pytestmark = pytest.mark.integration

TAGS = [
    {
        "name": "speed",
        "table": "holding",
        "address": 0,
        "type": "uint16",
        "signal": {"kind": "constant", "value": 1200},
    },
    {
        "name": "temperature",
        "table": "holding",
        "address": 1,
        "type": "float32",
        "signal": {"kind": "constant", "value": 21.5},
    },
    {
        "name": "label",
        "table": "holding",
        "address": 3,
        "type": "string",
        "length": 8,
        "signal": {"kind": "text", "values": ["Grüße"]},
    },
    {
        "name": "level",
        "table": "input",
        "address": 0,
        "type": "int16",
        "signal": {"kind": "constant", "value": -5},
    },
    {
        "name": "running",
        "table": "coil",
        "address": 0,
        "type": "bool",
        "signal": {"kind": "constant", "value": 1},
    },
]


async def test_an_illegal_address_spoils_only_its_block(mqtt_settings: MqttSettings) -> None:
    twin = plant([{"name": "press", "poll_interval_ms": 200, "tags": TAGS}])
    async with (
        ModbusFleet(twin, clock=SimClock.frozen(0.0)) as fleet,
        Received(mqtt_settings, "dev/site1/#") as received,
    ):
        served = fleet.gateway_config()[0]
        # two tags the device does not have, each in a block of its own (a gap before it)
        wrong = [
            ModbusTag(name="ghost", table="holding", address=100, type="uint32"),
            ModbusTag(name="ghost_input", table="input", address=50),
        ]
        config = GatewayConfig(
            devices=[
                ModbusDevice.model_validate(
                    {
                        **served.model_dump(),
                        "tags": [*served.model_dump()["tags"], *(t.model_dump() for t in wrong)],
                    }
                )
            ]
        )
        async with Gateway(config, mqtt=mqtt_settings, gateway_id="gw-mb", http_port=None) as gw:
            await wait_until(
                lambda: all(len(received.of("press", t.name)) >= 2 for t in config.devices[0].tags),
                within_s=30,
                what="two polls of every tag",
            )
            assert gw.statuses[0].up
            assert gw.statuses[0].errors == 0
    for name in ("ghost", "ghost_input"):
        assert {(p.v, p.q) for p in received.of("press", name)} == {(None, "bad")}
    expected = {"speed": 1200, "temperature": 21.5, "label": "Grüße", "level": -5, "running": True}
    for name, value in expected.items():
        assert {(p.v, p.q) for p in received.of("press", name)} == {(value, "good")}, name
