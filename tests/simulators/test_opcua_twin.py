"""The OPC UA twin read by asyncua's own client: address space, types, units, status codes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asyncua import Client, ua

from simulators.clock import SimClock
from simulators.fleet import Fleet
from simulators.opcua.model import OpcUaTwinDevice
from tests.integration.helpers import wait_until
from tests.simulators.s7plants import opcua_device, plant

T = 10.0
TYPES = {
    "temperature": ua.VariantType.Double,
    "speed": ua.VariantType.Float,
    "count": ua.VariantType.Int64,
    "ramp": ua.VariantType.UInt32,
    "on": ua.VariantType.Boolean,
    "recipe": ua.VariantType.String,
}


@pytest.fixture(scope="module")
async def fleet() -> AsyncIterator[Fleet]:
    async with Fleet(plant([opcua_device()]), clock=SimClock.frozen(T)) as running:
        yield running


@pytest.fixture
async def client(fleet: Fleet) -> AsyncIterator[Any]:
    device = fleet.device("oven")
    assert isinstance(device, OpcUaTwinDevice)
    async with Client(device.endpoint("127.0.0.1"), timeout=10) as connected:
        yield connected


async def test_folders_variables_types_and_units(client: Any) -> None:
    ns = await client.get_namespace_index("urn:nexus-edge:twin")
    assert ns == 2
    for name, variant_type in TYPES.items():
        node = await client.nodes.objects.get_child(
            [f"{ns}:site1", f"{ns}:line1", f"{ns}:oven", f"{ns}:{name}"]
        )
        assert node.nodeid == ua.NodeId(f"site1.line1.oven.{name}", ns)
        assert await node.read_data_type() == ua.NodeId(variant_type.value)
        value = await node.read_data_value()
        assert value.Value.VariantType == variant_type
        assert value.StatusCode.is_good()
    temperature = client.get_node("ns=2;s=site1.line1.oven.temperature")
    assert await temperature.read_value() == 72.5
    definition = await temperature.read_type_definition()
    assert definition == ua.NodeId(ua.ObjectIds.AnalogItemType)
    units = await (await temperature.get_child("0:EngineeringUnits")).read_value()
    assert units.DisplayName.Text == "°C"
    assert units.UnitId == int.from_bytes(b"CEL", "big")  # UNECE code, as Part 8 says
    eu_range = await (await temperature.get_child("0:EURange")).read_value()
    assert (eu_range.Low, eu_range.High) == (72.5, 72.5)
    assert await client.get_node("ns=2;s=site1.line1.oven.count").read_value() == -(2**63)
    assert await client.get_node("ns=2;s=site1.line1.oven.recipe").read_value() == "Märzen"


async def test_status_codes_follow_the_tag_and_the_device(fleet: Fleet, client: Any) -> None:
    valve = client.get_node("ns=2;s=site1.line1.oven.valve")
    sensor = client.get_node("ns=2;s=site1.line1.oven.sensor")
    temperature = client.get_node("ns=2;s=site1.line1.oven.temperature")
    uncertain = await valve.read_data_value(raise_on_bad_status=False)
    assert uncertain.StatusCode.value == ua.StatusCodes.UncertainLastUsableValue
    assert uncertain.Value.Value == 40.0
    bad = await sensor.read_data_value(raise_on_bad_status=False)
    assert bad.StatusCode.is_bad()
    assert bad.Value.Value is None  # Part 4: a bad value is null
    await fleet.set_status("oven", "bad")
    try:
        now_bad = await temperature.read_data_value(raise_on_bad_status=False)
        assert now_bad.StatusCode.value == ua.StatusCodes.BadDeviceFailure
    finally:
        await fleet.set_status("oven", "good")
    assert (await temperature.read_data_value()).Value.Value == 72.5


async def test_a_subscriber_sees_the_values_change(fleet: Fleet, client: Any) -> None:
    seen: list[Any] = []

    class Handler:
        def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
            seen.append(value)

    subscription = await client.create_subscription(50, Handler())
    await subscription.subscribe_data_change(client.get_node("ns=2;s=site1.line1.oven.ramp"))
    await wait_until(lambda: seen == [T], what="the initial value")
    fleet.clock = SimClock.frozen(T + 5)
    try:
        await wait_until(lambda: seen[-1] == T + 5, what="the change")
    finally:
        fleet.clock = SimClock.frozen(T)
        await subscription.delete()


async def test_a_restart_ends_sessions_and_serves_again(fleet: Fleet) -> None:
    device = fleet.device("oven")
    assert isinstance(device, OpcUaTwinDevice)
    old = Client(device.endpoint("127.0.0.1"), timeout=2)
    await old.connect()
    try:
        await fleet.restart("oven")
        with pytest.raises((ConnectionError, OSError, ua.UaError, asyncio.TimeoutError)):
            await old.get_node("ns=2;s=site1.line1.oven.temperature").read_value()
    finally:
        await old.disconnect()
    async with Client(device.endpoint("127.0.0.1"), timeout=10) as new:
        assert await new.get_node("ns=2;s=site1.line1.oven.temperature").read_value() == 72.5
