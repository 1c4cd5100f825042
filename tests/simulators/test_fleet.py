"""The fleet against a real pymodbus client: values, exceptions, faults, start and stop."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Sequence

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ExceptionResponse

from nexus.model.tags import ByteOrder, DataType, RegisterTable
from simulators.clock import SimClock
from simulators.errors import FleetError
from simulators.fleet import ModbusFleet
from simulators.twin import TwinDevice, TwinTag, value_at
from tests.simulators.plants import free_port_range, small_plant

T = 1234.5
ILLEGAL_FUNCTION = 1
ILLEGAL_ADDRESS = 2

FORMAT = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.INT64: "q",
    DataType.UINT64: "Q",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}


def decode(tag: TwinTag, registers: Sequence[int]) -> float | int:
    """The test's own decode: wire bytes → value in the tag's byte order → scale and offset."""
    wire = b"".join(struct.pack(">H", r) for r in registers)
    order = tag.tag.order
    if order is ByteOrder.DCBA:
        wire = wire[::-1]
    elif order is ByteOrder.BADC:
        wire = b"".join(wire[i + 1 : i + 2] + wire[i : i + 1] for i in range(0, len(wire), 2))
    elif order is ByteOrder.CDAB:
        wire = b"".join(wire[i : i + 2] for i in range(len(wire) - 2, -1, -2))
    raw: float | int = struct.unpack(">" + FORMAT[tag.tag.type], wire)[0]
    if tag.tag.scale == 1 and tag.tag.offset == 0:
        return raw
    return raw * tag.tag.scale + tag.tag.offset


def is_exception(response: object, code: int) -> bool:
    return isinstance(response, ExceptionResponse) and response.exception_code == code


@pytest.fixture
async def fleet() -> AsyncIterator[ModbusFleet]:
    async with ModbusFleet(small_plant(base_port=0), clock=SimClock.frozen(T)) as running:
        yield running


async def connect(device: TwinDevice, answer_s: float = 2.0) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient("127.0.0.1", port=device.port, timeout=answer_s, retries=0)
    assert await client.connect(), f"cannot connect to {device.name}"
    return client


async def read_tag(
    client: AsyncModbusTcpClient, device: TwinDevice, tag: TwinTag
) -> float | int | bool:
    unit = device.unit_id
    if tag.table is RegisterTable.COIL:
        r = await client.read_coils(tag.address, count=1, device_id=unit)
        return bool(r.bits[0])
    if tag.table is RegisterTable.DISCRETE_INPUT:
        r = await client.read_discrete_inputs(tag.address, count=1, device_id=unit)
        return bool(r.bits[0])
    read = (
        client.read_holding_registers
        if tag.table is RegisterTable.HOLDING
        else client.read_input_registers
    )
    r = await read(tag.address, count=tag.tag.register_count, device_id=unit)
    assert not r.isError(), f"{device.name}.{tag.name}: {r}"
    return decode(tag, r.registers)


def port_refuses(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


async def test_every_tag_of_every_device_reads_as_value_at(fleet: ModbusFleet) -> None:
    assert len(fleet.devices) == 3
    for device in fleet.devices:
        client = await connect(device)
        try:
            for tag in device.tags:
                assert await read_tag(client, device, tag) == value_at(tag, T), (
                    f"{device.name}.{tag.name}"
                )
        finally:
            client.close()


async def test_a_whole_block_in_one_read(fleet: ModbusFleet) -> None:
    device = fleet.device("mixer-02")
    client = await connect(device)
    try:
        r = await client.read_holding_registers(
            0, count=7, device_id=1
        )  # speed, temperature, energy
        assert decode(device.tag("speed"), r.registers[0:1]) == value_at(device.tag("speed"), T)
        assert decode(device.tag("temperature"), r.registers[1:3]) == value_at(
            device.tag("temperature"), T
        )
        assert decode(device.tag("energy"), r.registers[3:7]) == value_at(device.tag("energy"), T)
        coils = await client.read_coils(0, count=2, device_id=1)
        assert coils.bits[:2] == [
            value_at(device.tag("running"), T),
            value_at(device.tag("cleaning"), T),
        ]
        inputs = await client.read_discrete_inputs(5, count=2, device_id=1)
        assert inputs.bits[:2] == [
            value_at(device.tag("door_closed"), T),
            value_at(device.tag("overload"), T),
        ]
    finally:
        client.close()


async def test_values_follow_the_clock(fleet: ModbusFleet) -> None:
    device = fleet.device("pump")
    starts = device.tag("starts")  # counter 0..9, 0.5 per second
    client = await connect(device)
    try:
        seen = []
        for t in (0.0, 2.0, 4.5, 19.9, 20.0):
            fleet.clock = SimClock.frozen(t)
            seen.append(await read_tag(client, device, starts))
            assert seen[-1] == value_at(starts, t)
        assert seen == [0, 1, 2, 9, 0]
        # a running clock: the served value lies between the values before and after the read
        fleet.clock = SimClock(speed=1000.0, t0=100.0)
        flow = fleet.device("mixer-01").tag("flow")  # float64 ramp, 0.25 per second
        mixer = await connect(fleet.device("mixer-01"))
        try:
            before = fleet.clock.now()
            value = await read_tag(mixer, fleet.device("mixer-01"), flow)
            after = fleet.clock.now()
            low, high = value_at(flow, before), value_at(flow, after)
            assert isinstance(value, float)
            assert isinstance(low, float)
            assert isinstance(high, float)
            assert low <= value <= high
            assert fleet.value_at("mixer-01", "flow", before) == value_at(flow, before)
        finally:
            mixer.close()
    finally:
        client.close()


async def test_undefined_addresses_answer_illegal_address(fleet: ModbusFleet) -> None:
    device = fleet.device("mixer-01")
    client = await connect(device)
    try:
        holding = client.read_holding_registers
        assert is_exception(await holding(9, count=1, device_id=1), ILLEGAL_ADDRESS)  # gap 7..9
        assert is_exception(await holding(7, count=1, device_id=1), ILLEGAL_ADDRESS)
        assert is_exception(await holding(6, count=2, device_id=1), ILLEGAL_ADDRESS)  # runs into it
        assert is_exception(
            await holding(15, count=1, device_id=1), ILLEGAL_ADDRESS
        )  # past the end
        assert is_exception(await holding(1000, count=1, device_id=1), ILLEGAL_ADDRESS)
        assert is_exception(
            await client.read_input_registers(10, count=1, device_id=1), ILLEGAL_ADDRESS
        )
        assert is_exception(await client.read_coils(2, count=1, device_id=1), ILLEGAL_ADDRESS)
        assert is_exception(await client.read_coils(100, count=1, device_id=1), ILLEGAL_ADDRESS)
        assert is_exception(
            await client.read_discrete_inputs(0, count=1, device_id=1), ILLEGAL_ADDRESS
        )
        # the connection survives exceptions
        assert await read_tag(client, device, device.tag("speed")) == value_at(
            device.tag("speed"), T
        )
    finally:
        client.close()
    pump = fleet.device("pump")  # no coils, no input registers
    client = await connect(pump)
    try:
        assert is_exception(await client.read_coils(0, count=1, device_id=5), ILLEGAL_ADDRESS)
        assert is_exception(
            await client.read_input_registers(0, count=1, device_id=5), ILLEGAL_ADDRESS
        )
        assert is_exception(
            await client.read_holding_registers(0, count=1, device_id=5), ILLEGAL_ADDRESS
        )
    finally:
        client.close()


async def test_writes_are_refused(fleet: ModbusFleet) -> None:
    device = fleet.device("mixer-01")
    client = await connect(device)
    try:
        assert is_exception(await client.write_register(0, 5, device_id=1), ILLEGAL_FUNCTION)
        assert is_exception(await client.write_registers(1, [1, 2], device_id=1), ILLEGAL_FUNCTION)
        assert is_exception(await client.write_coil(0, False, device_id=1), ILLEGAL_FUNCTION)
        assert await read_tag(client, device, device.tag("speed")) == value_at(
            device.tag("speed"), T
        )
    finally:
        client.close()


async def test_servers_listen_when_the_fleet_is_entered_and_not_after_it() -> None:
    async with ModbusFleet(small_plant(base_port=0), clock=SimClock.frozen(T)) as fleet:
        ports = [d.port for d in fleet.devices]
        assert len(set(ports)) == 3
        assert all(p > 0 for p in ports)
        assert not any(port_refuses(p) for p in ports)
        gateway = fleet.gateway_config()
        assert [(d.name, d.port) for d in gateway] == [(d.name, d.port) for d in fleet.devices]
        assert "port: 0" not in fleet.gateway_yaml()
    assert all(port_refuses(p) for p in ports)
    assert fleet.devices == []


async def test_the_plants_ports_are_used() -> None:
    base = free_port_range(3)
    plant = small_plant().with_base_port(base)
    async with ModbusFleet(plant) as fleet:
        assert [d.port for d in fleet.devices] == [base, base + 1, base + 2]
        assert [d.port for d in fleet.gateway_config()] == [base, base + 1, base + 2]
        client = await connect(fleet.device("pump"))
        try:
            r = await client.read_holding_registers(102, count=1, device_id=5)
            assert not r.isError()
        finally:
            client.close()
    assert all(port_refuses(p) for p in (base, base + 1, base + 2))


async def test_a_busy_port_fails_the_start_and_leaves_nothing_running() -> None:
    base = free_port_range(3)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 1))
        squatter.listen()
        fleet = ModbusFleet(small_plant().with_base_port(base))
        with pytest.raises(FleetError, match=f"mixer-02 cannot listen on 127.0.0.1:{base + 1}"):
            await fleet.start()
    assert fleet.devices == []
    assert port_refuses(base)
    assert port_refuses(base + 2)


async def test_offline_refuses_connections_without_delaying_the_others(fleet: ModbusFleet) -> None:
    offline = fleet.device("mixer-01")
    other = fleet.device("mixer-02")
    early = await connect(offline, answer_s=0.3)
    await fleet.set_offline("mixer-01", True)
    assert fleet.is_offline("mixer-01")
    try:
        assert port_refuses(offline.port)
        with pytest.raises(ModbusException):
            await early.read_holding_registers(0, count=1, device_id=1)
    finally:
        early.close()
    refused = AsyncModbusTcpClient("127.0.0.1", port=offline.port, timeout=1, retries=0)
    assert not await refused.connect()
    refused.close()
    client = await connect(other)
    try:
        began = time.perf_counter()
        for _ in range(20):
            assert await read_tag(client, other, other.tag("speed")) == value_at(
                other.tag("speed"), T
            )
        assert time.perf_counter() - began < 1.0
    finally:
        client.close()
    await fleet.set_offline("mixer-01", False)
    assert not fleet.is_offline("mixer-01")
    assert fleet.device("mixer-01").port == offline.port
    back = await connect(offline)
    try:
        assert await read_tag(back, offline, offline.tag("energy")) == value_at(
            offline.tag("energy"), T
        )
    finally:
        back.close()


async def test_silent_accepts_but_never_answers(fleet: ModbusFleet) -> None:
    silent = fleet.device("pump")
    await fleet.set_silent("pump", True)
    assert fleet.is_silent("pump")
    client = await connect(silent, answer_s=0.3)
    try:
        with pytest.raises(ModbusException, match="No response"):
            await client.read_holding_registers(100, count=2, device_id=5)
    finally:
        client.close()
    other = await connect(fleet.device("mixer-01"))
    try:
        assert not (await other.read_holding_registers(0, count=1, device_id=1)).isError()
    finally:
        other.close()
    await fleet.set_silent("pump", False)
    client = await connect(silent)
    try:
        assert await read_tag(client, silent, silent.tag("flow")) == value_at(silent.tag("flow"), T)
    finally:
        client.close()


async def test_unknown_device_names_raise(fleet: ModbusFleet) -> None:
    with pytest.raises(KeyError, match="nope"):
        await fleet.set_offline("nope", True)
    with pytest.raises(KeyError):
        fleet.device("nope")


async def test_stop_with_a_device_offline_and_an_open_connection() -> None:
    fleet = ModbusFleet(small_plant(base_port=0))
    await fleet.start()
    ports = [d.port for d in fleet.devices]
    client = await connect(fleet.device("pump"))
    await fleet.set_offline("mixer-01", True)
    await fleet.stop()
    await asyncio.sleep(0)
    client.close()
    assert all(port_refuses(p) for p in ports)
    with pytest.raises(KeyError):
        await fleet.set_silent("pump")  # a stopped fleet serves nothing
