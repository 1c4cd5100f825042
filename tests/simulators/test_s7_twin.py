"""The S7 twin read by python-snap7's own client (its protocol code, not the gateway's)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import snap7
from snap7 import util
from snap7.type import Area, WordLen

from simulators.clock import SimClock
from simulators.fleet import Fleet
from tests.simulators.s7plants import plant, s7_device

T = 100.0


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    async with Fleet(plant([s7_device()]), clock=SimClock.frozen(T)) as running:
        yield running


def client_for(port: int) -> snap7.Client:
    client = snap7.Client()
    client.connect("127.0.0.1", 0, 1, port)
    return client


def port_refuses(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def read_everything(port: int) -> dict[str, object]:
    client = client_for(port)
    try:
        db1 = client.db_read(1, 0, 48)
        db2 = client.db_read(2, 0, 12)
        return {
            "speed": util.get_real(db1, 0),
            "count": util.get_dint(db1, 4),
            "running": util.get_bool(db1, 8, 3),
            "stopped": util.get_bool(db1, 8, 4),
            "label": util.get_string(db1, 10),
            "wide": util.get_wstring(db1, 30),
            "energy": util.get_lreal(db2, 0),
            "ramp": util.get_udint(db2, 8),
            "flag": util.get_int(client.mb_read(10, 2), 0),
            "input": util.get_bool(client.eb_read(0, 1), 0, 1),
            "output": util.get_word(client.ab_read(2, 2), 0),
        }
    finally:
        client.disconnect()


async def test_snap7_reads_every_tag_as_the_twin_serves_it(fleet: Fleet) -> None:
    device = fleet.device("plc")
    got = await asyncio.to_thread(read_everything, device.port)
    assert got == {tag.name: tag.value_at(T) for tag in device.tags}
    assert got["label"] == "Grüße"
    assert got["wide"] == "温度"


def bits_and_multi(port: int) -> tuple[bytes, bytes, list[bytes]]:
    client = client_for(port)
    try:
        on = bytes(client.read_area(Area.DB, 1, 8 * 8 + 3, 1, WordLen.Bit))
        off = bytes(client.read_area(Area.DB, 1, 8 * 8 + 4, 1, WordLen.Bit))
        _, data = client.read_multi_vars(
            [
                {"area": Area.DB, "db_number": 1, "start": 0, "size": 4},
                {"area": Area.MK, "db_number": 0, "start": 10, "size": 2},
                {"area": Area.DB, "db_number": 2, "start": 8, "size": 4},
            ]
        )
        return on, off, [bytes(d) for d in data]
    finally:
        client.disconnect()


async def test_bit_reads_answer_one_bit_and_multi_reads_every_item(fleet: Fleet) -> None:
    on, off, items = await asyncio.to_thread(bits_and_multi, fleet.device("plc").port)
    assert (on, off) == (b"\x01", b"\x00")
    assert util.get_real(bytearray(items[0]), 0) == 1450.5
    assert util.get_int(bytearray(items[1]), 0) == -300
    assert util.get_udint(bytearray(items[2]), 0) == T


def cpu_mode_and_ramp(port: int) -> tuple[int, int]:
    client = client_for(port)
    try:
        szl = client.read_szl(0x0424, 0)
        mode = bytes(szl.Data)[: szl.Header.LengthDR][7]  # as snap7 C's Cli_GetPlcStatus
        return mode, util.get_udint(client.db_read(2, 8, 4), 0)
    finally:
        client.disconnect()


async def test_cpu_stop_is_reported_in_szl_0424_and_freezes_the_values(fleet: Fleet) -> None:
    port = fleet.device("plc").port
    assert await asyncio.to_thread(cpu_mode_and_ramp, port) == (0x08, T)
    await fleet.set_cpu_running("plc", False)
    fleet.clock = SimClock.frozen(T + 50)
    assert await asyncio.to_thread(cpu_mode_and_ramp, port) == (0x04, T)
    await fleet.set_cpu_running("plc", True)
    assert await asyncio.to_thread(cpu_mode_and_ramp, port) == (0x08, T + 50)


async def test_offline_drops_connections_and_refuses_new_ones(fleet: Fleet) -> None:
    port = fleet.device("plc").port
    client = await asyncio.to_thread(client_for, port)
    try:
        await fleet.set_offline("plc")
        assert port_refuses(port)
        with pytest.raises(Exception):  # noqa: B017, PT011 - snap7 raises its own or OSError
            await asyncio.to_thread(client.db_read, 1, 0, 4)
    finally:
        client.disconnect()
    await fleet.set_offline("plc", False)
    got = await asyncio.to_thread(read_everything, port)
    assert got["speed"] == 1450.5


async def test_faults_of_other_protocols_are_refused(fleet: Fleet) -> None:
    from simulators.errors import FleetError

    with pytest.raises(FleetError, match="not a Modbus device"):
        await fleet.set_silent("plc")
    with pytest.raises(FleetError, match="not an OPC UA device"):
        await fleet.set_status("plc", "bad")
