"""The OPC UA adapter against real servers: a server built with asyncua's plain API (not the
twin) in both modes, and a twin server restarted mid-run, after which data flows again without
restarting the gateway."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asyncua import Server, ua

from nexus.gateway.config import GatewayConfig
from nexus.gateway.opcua.adapter import OpcUaAdapter
from nexus.gateway.service import Gateway
from nexus.model.payload import Quality
from nexus.model.tags import OpcUaDevice, OpcUaTag
from nexus.settings import MqttSettings
from nexus.stack.tools import free_port
from simulators.clock import SimClock
from simulators.fleet import Fleet
from tests.integration.helpers import wait_until
from tests.integration.points import Received
from tests.simulators.s7plants import opcua_device, plant

pytestmark = pytest.mark.integration

VALUES: dict[str, tuple[Any, ua.VariantType]] = {
    "double": (-0.125, ua.VariantType.Double),
    "float": (math.inf, ua.VariantType.Float),
    "int16": (-32768, ua.VariantType.Int16),
    "uint64": (2**64 - 1, ua.VariantType.UInt64),
    "flag": (True, ua.VariantType.Boolean),
    "text": ("Grüße 温度", ua.VariantType.String),
}


@pytest.fixture(scope="module")
async def plain_server() -> AsyncIterator[tuple[str, Server]]:
    """A server made with asyncua's ordinary API, its own namespace and node ids."""
    server = Server()
    await server.init()
    port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}/plain/"
    server.set_endpoint(endpoint)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace("urn:test:plain")
    folder = await server.nodes.objects.add_folder(ns, "Plant")
    for name, (value, variant_type) in VALUES.items():
        await folder.add_variable(ua.NodeId(name, ns), name, ua.Variant(value, variant_type))
    await folder.add_variable(ua.NodeId(7, ns), "numeric", ua.Variant(7, ua.VariantType.Int32))
    await server.start()
    try:
        yield endpoint, server
    finally:
        await server.stop()


def device(endpoint: str, mode: str, ns: int) -> OpcUaDevice:
    tags = [OpcUaTag(name=n, node_id=f"ns={ns};s={n}") for n in VALUES]
    tags.append(OpcUaTag(name="numeric", node_id=f"ns={ns};i=7"))
    tags.append(OpcUaTag(name="unknown", node_id=f"ns={ns};s=nowhere"))
    return OpcUaDevice.model_validate(
        {
            "name": "plain",
            "site": "s",
            "line": "l",
            "protocol": "opcua",
            "endpoint": endpoint,
            "mode": mode,
            "poll_interval_ms": 100,
            "timeout_ms": 5000,
            "tags": [t.model_dump() for t in tags],
        }
    )


@pytest.mark.parametrize("mode", ["polling", "subscription"])
async def test_reads_a_server_built_with_asyncuas_plain_api(
    plain_server: tuple[str, Server], mode: str
) -> None:
    endpoint, server = plain_server
    ns = await server.get_namespace_index("urn:test:plain")
    uncertain = ua.DataValue(
        ua.Variant(-0.125, ua.VariantType.Double),
        StatusCode=ua.StatusCode(ua.StatusCodes.UncertainSensorNotAccurate),
    )
    await server.write_attribute_value(ua.NodeId("double", ns), uncertain)
    adapter = OpcUaAdapter(device(endpoint, mode, ns))
    latest: dict[str, Any] = {}
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(latest) < len(VALUES) + 2:  # a poll per tick, as the poller does
            assert asyncio.get_running_loop().time() < deadline, f"only {sorted(latest)}"
            for reading in await adapter.read():
                latest[reading.tag] = reading
            await asyncio.sleep(0.1)
    finally:
        await adapter.close()
    for name, (value, _) in VALUES.items():
        assert latest[name].value == value, name
    assert latest["numeric"].value == 7
    assert latest["double"].quality is Quality.UNCERTAIN
    assert latest["text"].quality is Quality.GOOD
    assert latest["unknown"].quality is Quality.BAD
    assert latest["unknown"].value is None
    good = ua.DataValue(ua.Variant(-0.125, ua.VariantType.Double))
    await server.write_attribute_value(ua.NodeId("double", ns), good)


async def test_after_a_server_restart_data_flows_again(mqtt_settings: MqttSettings) -> None:
    async with (
        Fleet(plant([opcua_device()], update_interval_ms=50), clock=SimClock.frozen(1.0)) as fleet,
        Received(mqtt_settings, "dev/site1/#") as received,
    ):
        config = GatewayConfig(devices=fleet.gateway_config())
        async with Gateway(config, mqtt=mqtt_settings, gateway_id="gw-ua", http_port=None) as gw:
            status = gw.statuses[0]
            await wait_until(
                lambda: (p := received.last("oven", "ramp")) is not None and p.v == 1,
                within_s=30,
                what="the first value",
            )
            first = received.last("oven", "temperature")
            assert first is not None
            assert (first.v, first.q, first.u) == (72.5, "good", "°C")
            valve, sensor = received.last("oven", "valve"), received.last("oven", "sensor")
            assert valve is not None
            assert (valve.v, valve.q) == (40.0, "uncertain")
            assert sensor is not None
            assert (sensor.v, sensor.q) == (None, "bad")

            await fleet.restart("oven")  # a new server: every session and subscription is gone
            fleet.clock = SimClock.frozen(2.0)
            await wait_until(
                lambda: (p := received.last("oven", "ramp")) is not None and p.v == 2,
                within_s=60,
                what="data from the restarted server",
            )
            assert status.up
            assert status.errors >= 1, "the lost session was noticed"
            fleet.clock = SimClock.frozen(3.0)
            await wait_until(
                lambda: (p := received.last("oven", "ramp")) is not None and p.v == 3,
                within_s=30,
                what="changes after the restart",
            )


async def test_a_deadband_holds_back_small_changes() -> None:
    tags = [
        {"name": "plain", "type": "Double", "signal": {"kind": "ramp", "start": 0, "slope": 1}},
        {
            "name": "banded",
            "type": "Double",
            "deadband": 5.0,
            "signal": {"kind": "ramp", "start": 0, "slope": 1},
        },
    ]
    twin = plant([{"name": "tank", "protocol": "opcua", "poll_interval_ms": 100, "tags": tags}])
    seen: dict[str, list[Any]] = {"plain": [], "banded": []}

    async def poll_until(done: Any) -> None:
        deadline = asyncio.get_running_loop().time() + 30
        while not done():
            assert asyncio.get_running_loop().time() < deadline, seen
            for reading in await adapter.read():
                seen[reading.tag].append(reading.value)
            await asyncio.sleep(0.05)

    async with Fleet(twin, clock=SimClock.frozen(1.0)) as fleet:
        config = fleet.gateway_config()[0]
        assert isinstance(config, OpcUaDevice)
        adapter = OpcUaAdapter(config)
        try:
            await poll_until(lambda: seen["plain"][-1:] == [1.0] and seen["banded"][-1:] == [1.0])
            fleet.clock = SimClock.frozen(2.0)  # a change of 1: below the deadband
            await poll_until(lambda: seen["plain"][-1:] == [2.0])
            fleet.clock = SimClock.frozen(10.0)  # a change of 9 from the last reported 1
            await poll_until(lambda: seen["plain"][-1:] == [10.0] and seen["banded"][-1:] == [10.0])
        finally:
            await adapter.close()
    assert seen["banded"] == [1.0, 10.0]
    assert seen["plain"] == [1.0, 2.0, 10.0]
