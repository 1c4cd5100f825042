"""Every device fault of the twin, seen by real protocol clients (pymodbus, asyncua,
python-snap7): live through the fleet, from the HTTP API, and from a plant's timeline."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import snap7
from asyncua import Client, ua
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from snap7 import util

from nexus.errors import ConfigError
from simulators.api import FaultApi
from simulators.clock import SimClock
from simulators.errors import FaultError
from simulators.faults import FaultSpec
from simulators.fleet import Fleet
from simulators.opcua.model import OpcUaTwinDevice
from simulators.plant import Plant, load_plant
from tests.simulators.s7plants import OPCUA_TAGS, opcua_device, plant, s7_device

T = 100.0
PRESS_TAGS: list[dict[str, Any]] = [
    {
        "name": "level",
        "table": "holding",
        "address": 0,
        "type": "float32",
        "signal": {"kind": "constant", "value": 21.5},
    },
    {
        "name": "ramp",
        "table": "holding",
        "address": 10,
        "type": "uint32",
        "signal": {"kind": "ramp", "start": 0, "slope": 1},
    },
    {
        "name": "count",
        "table": "holding",
        "address": 20,
        "type": "int16",
        "signal": {"kind": "constant", "value": 10},
    },
]
PRESS = {"name": "press", "tags": PRESS_TAGS}
RAMP_NODE = "ns=2;s=site1.line1.oven.ramp"
TEMPERATURE_NODE = "ns=2;s=site1.line1.oven.temperature"


def spec(kind: str, **params: Any) -> FaultSpec:
    return FaultSpec.model_validate({"kind": kind, **params})


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    mixed = plant([PRESS, s7_device("plc"), opcua_device("oven")])
    async with Fleet(mixed, clock=SimClock.frozen(T)) as running:
        yield running


@pytest.fixture
async def modbus(fleet: Fleet) -> AsyncIterator[AsyncModbusTcpClient]:
    client = AsyncModbusTcpClient(
        "127.0.0.1", port=fleet.device("press").port, timeout=5, retries=0, reconnect_delay=0
    )
    assert await client.connect()
    try:
        yield client
    finally:
        client.close()


async def registers(client: AsyncModbusTcpClient, address: int, count: int) -> list[int]:
    rr = await client.read_holding_registers(address, count=count, device_id=1)
    assert not rr.isError(), rr
    return list(rr.registers)


def uint32(regs: list[int]) -> int:
    return (regs[0] << 16) | regs[1]


async def read_until_it_fails(client: Any) -> None:
    """Read (OPC UA) until the dropped connection shows (bounded: 50 reads)."""
    for _ in range(50):
        await value_of(client, TEMPERATURE_NODE)
        await asyncio.sleep(0.02)


# -- Modbus ----------------------------------------------------------------------------------


async def test_modbus_slow_answers_late_then_on_time(
    fleet: Fleet, modbus: AsyncModbusTcpClient
) -> None:
    await fleet.apply_fault("press", spec("slow", latency_ms=300))
    began = time.perf_counter()
    assert uint32(await registers(modbus, 10, 2)) == T
    assert time.perf_counter() - began >= 0.3
    assert fleet.active_faults("press") == {"slow": {"latency_ms": 300}}
    await fleet.clear_fault("press", "slow")
    assert fleet.active_faults("press") == {}
    assert uint32(await registers(modbus, 10, 2)) == T


async def test_modbus_protocol_error_answers_the_code_for_its_tags_only(
    fleet: Fleet, modbus: AsyncModbusTcpClient
) -> None:
    await fleet.apply_fault("press", spec("protocol_error", code=6, tags=["ramp"]))
    rr = await modbus.read_holding_registers(10, count=2, device_id=1)
    assert rr.isError()
    assert rr.exception_code == 6  # DEVICE_BUSY
    assert await registers(modbus, 20, 1) == [10]  # another tag, another request: fine
    await fleet.apply_fault("press", spec("protocol_error"))  # default: 4, every tag
    rr = await modbus.read_holding_registers(20, count=1, device_id=1)
    assert rr.exception_code == 4
    await fleet.clear_fault("press", "protocol_error")
    assert await registers(modbus, 20, 1) == [10]


async def test_modbus_frozen_values_stop_changing(
    fleet: Fleet, modbus: AsyncModbusTcpClient
) -> None:
    await fleet.apply_fault("press", spec("frozen"))
    fleet.clock = SimClock.frozen(T + 50)
    assert uint32(await registers(modbus, 10, 2)) == T
    await fleet.clear_fault("press", "frozen")
    assert uint32(await registers(modbus, 10, 2)) == T + 50


async def test_modbus_spikes_every_n_th_read_of_a_tag(
    fleet: Fleet, modbus: AsyncModbusTcpClient
) -> None:
    await fleet.apply_fault("press", spec("spikes", magnitude=1000, every_n=3, tags=["count"]))
    seen = [(await registers(modbus, 20, 1))[0] for _ in range(6)]
    assert seen == [10, 10, 1010, 10, 10, 1010]
    assert uint32(await registers(modbus, 10, 2)) == T  # not a spiked tag


async def test_modbus_spikes_with_a_probability_are_the_same_for_the_same_seed(
    fleet: Fleet, modbus: AsyncModbusTcpClient
) -> None:
    runs = []
    for seed in (1, 1, 2):
        fault = spec("spikes", magnitude=-5, probability=0.3, seed=seed, tags=["count"])
        await fleet.apply_fault("press", fault)  # a new fault: samples counted from 0
        runs.append([(await registers(modbus, 20, 1))[0] for _ in range(40)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert set(runs[0]) == {10, 5}


async def test_modbus_byte_order_swaps_the_words_of_multi_register_values(
    fleet: Fleet, modbus: AsyncModbusTcpClient
) -> None:
    good = await registers(modbus, 0, 2)
    assert struct.unpack(">f", struct.pack(">HH", *good))[0] == 21.5
    await fleet.apply_fault("press", spec("byte_order"))
    swapped = await registers(modbus, 0, 2)
    assert swapped == good[::-1]
    assert await registers(modbus, 20, 1) == [10]  # one register: nothing to swap


async def test_modbus_session_kill_drops_the_connection_not_the_port(
    fleet: Fleet, modbus: AsyncModbusTcpClient
) -> None:
    await registers(modbus, 20, 1)
    await fleet.kill_sessions("press")
    for _ in range(100):  # bounded: 5 s
        if not modbus.connected:
            break
        await asyncio.sleep(0.05)
    assert not modbus.connected
    with pytest.raises(ModbusException):
        await modbus.read_holding_registers(20, count=1, device_id=1)
    again = AsyncModbusTcpClient("127.0.0.1", port=fleet.device("press").port, timeout=5)
    assert await again.connect()
    try:
        assert await registers(again, 20, 1) == [10]
    finally:
        again.close()


# -- OPC UA ----------------------------------------------------------------------------------


@pytest.fixture
async def opcua(fleet: Fleet) -> AsyncIterator[Any]:
    device = fleet.device("oven")
    assert isinstance(device, OpcUaTwinDevice)
    async with Client(device.endpoint("127.0.0.1"), timeout=10) as client:
        yield client


async def value_of(client: Any, node: str) -> Any:
    return await client.get_node(node).read_data_value(raise_on_bad_status=False)


async def eventually(client: Any, node: str, predicate: Any, what: str) -> Any:
    """The fleet writes OPC UA values every update interval: wait (bounded) for one."""
    for _ in range(100):
        dv = await value_of(client, node)
        if predicate(dv):
            return dv
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: last {dv}")


async def test_opcua_protocol_error_and_quality_per_tag(fleet: Fleet, opcua: Any) -> None:
    await fleet.apply_fault("oven", spec("protocol_error", code="BadSensorFailure", tags=["ramp"]))
    dv = await value_of(opcua, RAMP_NODE)
    assert dv.StatusCode.value == ua.StatusCodes.BadSensorFailure
    assert dv.Value.Value is None
    assert (await value_of(opcua, TEMPERATURE_NODE)).StatusCode.is_good()
    await fleet.apply_fault("oven", spec("quality", quality="uncertain", tags=["temperature"]))
    dv = await value_of(opcua, TEMPERATURE_NODE)
    assert dv.StatusCode.is_uncertain()
    assert dv.Value.Value == 72.5
    await fleet.clear_fault("oven", "protocol_error")
    await fleet.clear_fault("oven", "quality")
    assert (await value_of(opcua, RAMP_NODE)).StatusCode.is_good()
    assert (await value_of(opcua, TEMPERATURE_NODE)).StatusCode.is_good()


async def test_opcua_frozen_and_spikes(fleet: Fleet, opcua: Any) -> None:
    await fleet.apply_fault("oven", spec("frozen", tags=["ramp"]))
    fleet.clock = SimClock.frozen(T + 50)
    await asyncio.sleep(0.2)  # several refreshes of the fleet (every 50 ms)
    assert (await value_of(opcua, RAMP_NODE)).Value.Value == T
    await fleet.clear_fault("oven", "frozen")
    await eventually(opcua, RAMP_NODE, lambda dv: dv.Value.Value == T + 50, "the ramp again")
    await fleet.apply_fault("oven", spec("spikes", magnitude=500, every_n=2, tags=["ramp"]))
    await eventually(opcua, RAMP_NODE, lambda dv: dv.Value.Value == T + 550, "a spike")
    await eventually(opcua, RAMP_NODE, lambda dv: dv.Value.Value == T + 50, "no spike")


async def test_opcua_slow_and_session_kill(fleet: Fleet, opcua: Any) -> None:
    await fleet.apply_fault("oven", spec("slow", latency_ms=300))
    began = time.perf_counter()
    assert (await value_of(opcua, TEMPERATURE_NODE)).Value.Value == 72.5
    assert time.perf_counter() - began >= 0.3
    await fleet.clear_fault("oven", "slow")
    await fleet.kill_sessions("oven")
    with pytest.raises((ConnectionError, OSError, ua.UaError, asyncio.TimeoutError)):
        await read_until_it_fails(opcua)
    device = fleet.device("oven")
    assert isinstance(device, OpcUaTwinDevice)
    async with Client(device.endpoint("127.0.0.1"), timeout=10) as again:
        assert (await value_of(again, TEMPERATURE_NODE)).Value.Value == 72.5


# -- S7 --------------------------------------------------------------------------------------


def s7_read(port: int, db: int, start: int, size: int) -> bytearray:
    client = snap7.Client()
    client.connect("127.0.0.1", 0, 1, port)
    try:
        return client.db_read(db, start, size)
    finally:
        client.disconnect()


async def test_s7_protocol_errors_item_and_pdu_level(fleet: Fleet) -> None:
    port = fleet.device("plc").port
    await fleet.apply_fault("plc", spec("protocol_error", code=0x0A, tags=["speed"]))
    with pytest.raises(Exception, match=r"(?i)object|not exist|0x0a|error"):
        await asyncio.to_thread(s7_read, port, 1, 0, 4)
    energy = await asyncio.to_thread(s7_read, port, 2, 0, 8)  # another block: fine
    assert util.get_lreal(energy, 0) == 1e12
    await fleet.apply_fault("plc", spec("protocol_error", code=0x8104))
    with pytest.raises(Exception):  # noqa: B017, PT011 - snap7 raises its own error
        await asyncio.to_thread(s7_read, port, 2, 0, 8)
    await fleet.clear_fault("plc", "protocol_error")
    assert util.get_real(await asyncio.to_thread(s7_read, port, 1, 0, 4), 0) == 1450.5


async def test_s7_byte_order_frozen_spikes_and_slow(fleet: Fleet) -> None:
    port = fleet.device("plc").port
    await fleet.apply_fault("plc", spec("byte_order", tags=["speed", "count"]))
    db1 = await asyncio.to_thread(s7_read, port, 1, 0, 8)
    assert struct.unpack("<f", db1[0:4])[0] == 1450.5  # little-endian
    assert struct.unpack("<i", db1[4:8])[0] == -7
    await fleet.clear_fault("plc", "byte_order")

    await fleet.apply_fault("plc", spec("frozen", tags=["ramp"]))
    fleet.clock = SimClock.frozen(T + 50)
    assert util.get_udint(await asyncio.to_thread(s7_read, port, 2, 8, 4), 0) == T
    await fleet.clear_fault("plc", "frozen")
    assert util.get_udint(await asyncio.to_thread(s7_read, port, 2, 8, 4), 0) == T + 50

    await fleet.apply_fault("plc", spec("spikes", magnitude=7, every_n=2, tags=["ramp"]))
    seen = [util.get_udint(await asyncio.to_thread(s7_read, port, 2, 8, 4), 0) for _ in range(4)]
    assert seen == [T + 50, T + 57, T + 50, T + 57]
    await fleet.clear_fault("plc", "spikes")

    await fleet.apply_fault("plc", spec("slow", latency_ms=300))
    began = time.perf_counter()
    assert util.get_real(await asyncio.to_thread(s7_read, port, 1, 0, 4), 0) == 1450.5
    assert time.perf_counter() - began >= 0.3


# -- what a device cannot take ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "fault", "field", "message"),
    [
        ("plc", spec("silent"), "kind", "not a Modbus device"),
        ("oven", spec("byte_order"), "kind", "no byte order"),
        ("press", spec("quality"), "kind", "Modbus carries no quality"),
        ("press", spec("cpu_stop"), "kind", "not an S7 device"),
        ("press", spec("frozen", tags=["nope"]), "tags", "no tag 'nope'"),
        ("press", spec("protocol_error", code=9), "code", "not a Modbus exception code"),
        ("oven", spec("protocol_error", code="GoodEnough"), "code", "not an OPC UA StatusCode"),
        ("oven", spec("protocol_error", code="Good"), "code", "not a Bad StatusCode"),
        ("plc", spec("protocol_error", code=0x42), "code", "not an S7 item return code"),
    ],
)  # fmt: skip
async def test_a_fault_the_device_cannot_take_is_refused(
    fleet: Fleet, device: str, fault: FaultSpec, field: str, message: str
) -> None:
    with pytest.raises(FaultError, match=message) as caught:
        await fleet.apply_fault(device, fault)
    assert caught.value.field == field
    assert fleet.fault_log == []


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"kind": "slow"}, "latency_ms", "slow needs latency_ms"),
        ({"kind": "slow", "latency_ms": 0}, "latency_ms", "greater than or equal to 1"),
        ({"kind": "offline", "latency_ms": 5}, "latency_ms", "offline takes no latency_ms"),
        ({"kind": "spikes", "magnitude": 3}, "every_n", "probability"),
        ({"kind": "spikes", "magnitude": 3, "every_n": 2, "probability": 0.5}, "every_n",
         "not both"),
        ({"kind": "spikes", "magnitude": 0, "every_n": 2}, "magnitude", "no spike"),
        ({"kind": "spikes", "magnitude": 1, "probability": 1.5}, "probability", "less than"),
        ({"kind": "restart", "tags": ["a"]}, "tags", "restart takes no tags"),
    ],
)  # fmt: skip
def test_parameters_that_do_not_fit_the_kind_name_the_field(
    params: dict[str, Any], field: str, message: str
) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        FaultSpec.model_validate(params)
    first = caught.value.errors()[0]
    assert first["loc"] == (field,)
    assert message in first["msg"]


# -- the HTTP API ----------------------------------------------------------------------------


@pytest.fixture
async def http(fleet: Fleet) -> AsyncIterator[aiohttp.ClientSession]:
    async with (
        FaultApi(fleet, port=0) as api,
        aiohttp.ClientSession(base_url=api.url) as session,
    ):
        yield session


async def post(http: aiohttp.ClientSession, body: object) -> tuple[int, Any]:
    async with http.post("/faults", json=body) as response:
        return response.status, await response.json()


async def test_api_applies_lists_and_logs_the_new_kinds(
    fleet: Fleet, http: aiohttp.ClientSession
) -> None:
    body = {"device": "press", "kind": "slow", "latency_ms": 250}
    status, entry = await post(http, body)
    assert status == 200, entry
    assert (entry["kind"], entry["on"], entry["latency_ms"], entry["source"]) == (
        "slow",
        True,
        250,
        "api",
    )
    body = {"device": "plc", "kind": "spikes", "magnitude": 9.5, "every_n": 4, "tags": ["ramp"]}
    assert (await post(http, body))[0] == 200
    assert (await post(http, {"device": "oven", "kind": "session_kill"}))[0] == 200
    async with http.get("/devices") as response:
        devices = {d["name"]: d["faults"] for d in await response.json()}
    assert devices["press"] == {"offline": False, "silent": False, "slow": {"latency_ms": 250}}
    assert devices["plc"] == {
        "offline": False,
        "cpu_stop": False,
        "spikes": {"magnitude": 9.5, "every_n": 4, "tags": ["ramp"]},
    }
    assert devices["oven"] == {"offline": False, "status": "good"}  # session_kill is one-off
    assert (await post(http, {"device": "press", "kind": "slow", "on": False}))[0] == 200
    async with http.get("/faults/log") as response:
        log = await response.json()
    assert [(e["device"], e["kind"], e["on"]) for e in log] == [
        ("press", "slow", True),
        ("plc", "spikes", True),
        ("oven", "session_kill", True),
        ("press", "slow", False),
    ]
    assert all(isinstance(e["epoch_ms"], int) and e["elapsed_s"] >= 0 for e in log)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"device": "press", "kind": "slow"}, 400, "latency_ms"),
        ({"device": "press", "kind": "slow", "latency_ms": "fast"}, 400, "latency_ms"),
        ({"device": "press", "kind": "frozen", "tags": ["nope"]}, 400, "tags"),
        ({"device": "press", "kind": "protocol_error", "code": 99}, 400, "code"),
        ({"device": "press", "kind": "restart", "on": False}, 400, "on"),
        ({"device": "oven", "kind": "byte_order"}, 409, "kind"),
        ({"device": "plc", "kind": "quality", "quality": "bad"}, 409, "kind"),
    ],
)
async def test_api_refuses_what_does_not_fit(
    http: aiohttp.ClientSession, body: dict[str, Any], status: int, field: str
) -> None:
    got, answer = await post(http, body)
    assert (got, answer["field"]) == (status, field), answer


# -- the plant's timeline --------------------------------------------------------------------

TIMELINE = """
plant: timed
modbus: {base_port: 0}
opcua: {base_port: 0, update_interval_ms: 50}
s7: {base_port: 0}
sites:
  - name: site1
    lines:
      - name: line1
        devices:
          - name: press
            tags:
              - {name: count, table: holding, address: 0, type: int16,
                 signal: {kind: constant, value: 10}}
          - {name: plc, protocol: s7, tags: [{name: speed, address: "DB1.DBD0:REAL",
              signal: {kind: constant, value: 1.5}}]}
faults:
  - {at: 0.2, device: press, kind: spikes, magnitude: 100, every_n: 1, duration: 0.8}
  - {at: 0.3, device: plc, kind: cpu_stop, duration: 0.2}
  - {at: 0.4, device: plc, kind: restart}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_the_timeline_applies_each_fault_at_its_time(tmp_path: Path) -> None:
    timed = load_plant(write(tmp_path, TIMELINE))
    assert [f.kind for f in timed.faults] == ["spikes", "cpu_stop", "restart"]
    async with Fleet(timed, clock=SimClock.frozen(T)) as fleet:
        client = AsyncModbusTcpClient("127.0.0.1", port=fleet.device("press").port, timeout=5)
        assert await client.connect()
        spiked: list[int] = []
        try:
            for _ in range(400):  # bounded: 20 s
                if "spikes" in fleet.active_faults("press"):
                    value = (await registers(client, 0, 1))[0]
                    if "spikes" in fleet.active_faults("press"):  # on during the whole read
                        spiked.append(value)
                        break
                await asyncio.sleep(0.05)
            for _ in range(400):
                if len(fleet.fault_log) == 5:
                    break
                await asyncio.sleep(0.05)
            after = (await registers(client, 0, 1))[0]
        finally:
            client.close()
        log = list(fleet.fault_log)
        started = fleet.started_ms
    assert spiked == [110]
    assert after == 10
    assert started is not None
    assert sorted((e["at"], e["device"], e["kind"], e["on"]) for e in log) == [
        (0.2, "press", "spikes", True),
        (0.3, "plc", "cpu_stop", True),
        (0.4, "plc", "restart", True),
        (0.5, "plc", "cpu_stop", False),
        (1.0, "press", "spikes", False),
    ]
    for entry in log:
        assert entry["source"] == "timeline"
        assert entry["epoch_ms"] - started >= entry["at"] * 1000  # never early
        assert entry["elapsed_s"] >= entry["at"]
    for kind in ("spikes", "cpu_stop"):  # each fault on before off
        assert [e["on"] for e in log if e["kind"] == kind] == [True, False]


async def test_the_timeline_runs_only_when_asked(tmp_path: Path) -> None:
    timed = load_plant(write(tmp_path, TIMELINE.replace("at: 0.2", "at: 0")))
    async with Fleet(timed, clock=SimClock.frozen(T), timeline=False) as fleet:
        await asyncio.sleep(0.1)
        assert fleet.fault_log == []


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ("{at: 1, device: ghost, kind: offline}", "faults[0].device", "no device 'ghost'"),
        ("{at: 1, device: press, kind: cpu_stop}", "faults[0].kind", "not an S7 device"),
        ("{at: 1, device: plc, kind: frozen, tags: [nope]}", "faults[0].tags", "no tag"),
        ("{at: 1, device: press, kind: slow}", "faults[0].latency_ms", "needs latency_ms"),
        ("{at: 1, device: press, kind: restart, duration: 2}", "faults[0].duration", "once"),
        ("{at: -1, device: press, kind: offline}", "faults[0].at", "greater than"),
        ("{at: 1, device: press, kind: melt}", "faults[0].kind", "Input should be"),
    ],
)  # fmt: skip
def test_timeline_errors_name_the_file_line_and_field(
    tmp_path: Path, entry: str, field: str, message: str
) -> None:
    text = TIMELINE.split("faults:")[0] + f"faults:\n  - {entry}\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_plant(path)
    assert caught.value.field == field
    assert caught.value.file == f"{path}:{text.splitlines().index(f'  - {entry}') + 1}"
    assert message in str(caught.value)


def test_a_plant_without_faults_has_an_empty_timeline() -> None:
    bare = plant([PRESS])
    assert bare.faults == []
    assert Plant.model_validate(bare.model_dump()).faults == []


def test_the_timeline_survives_with_base_port(tmp_path: Path) -> None:
    timed = load_plant(write(tmp_path, TIMELINE))
    assert timed.with_base_port(0).faults == timed.faults


def test_opcua_tags_of_the_twin_plant_are_known() -> None:  # the fixtures used above
    assert {t["name"] for t in OPCUA_TAGS} >= {"ramp", "temperature"}
