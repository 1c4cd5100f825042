"""The fleet's fault HTTP API against a real fleet and a real HTTP client, in-process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from simulators.api import FaultApi
from simulators.clock import SimClock
from simulators.fleet import Fleet
from tests.simulators.plants import PUMP_TAGS
from tests.simulators.s7plants import opcua_device, plant, s7_device

PUMP = {"name": "pump", "unit_id": 5, "tags": PUMP_TAGS}


@pytest.fixture
async def api() -> AsyncIterator[FaultApi]:
    mixed = plant([PUMP, s7_device("plc"), opcua_device("oven")])
    async with (
        Fleet(mixed, clock=SimClock.frozen(10.0)) as fleet,
        FaultApi(fleet, port=0) as running,
    ):
        yield running


@pytest.fixture
async def http(api: FaultApi) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=api.url) as session:
        yield session


async def post(http: aiohttp.ClientSession, body: object) -> tuple[int, Any]:
    async with http.post("/faults", json=body) as response:
        return response.status, await response.json()


async def get(http: aiohttp.ClientSession, path: str) -> Any:
    async with http.get(path) as response:
        assert response.status == 200
        return await response.json()


async def answers(port: int) -> bool:
    """Whether the port accepts a TCP connection."""
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def test_offline_closes_the_port_and_back_opens_it(
    api: FaultApi, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    port = api.fleet.device("pump").port
    assert await answers(port)
    with caplog.at_level(logging.INFO, logger="simulators.fleet"):
        status, body = await post(http, {"device": "pump", "kind": "offline", "on": True})
        assert status == 200, body
        assert not await answers(port)
        devices = {d["name"]: d for d in await get(http, "/devices")}
        assert devices["pump"] == {
            "name": "pump",
            "protocol": "modbus",
            "port": port,
            "faults": {"offline": True, "silent": False},
        }
        status, body = await post(http, {"device": "pump", "kind": "offline", "on": False})
        assert status == 200, body
        assert await answers(port)

    log = await get(http, "/faults/log")
    assert [(e["device"], e["kind"], e["on"]) for e in log] == [
        ("pump", "offline", True),
        ("pump", "offline", False),
    ]
    for entry in log:
        parsed = datetime.fromisoformat(entry["time"])
        assert parsed.utcoffset() is not None
        assert round(parsed.timestamp() * 1000) == entry["epoch_ms"]
    assert log[0]["epoch_ms"] <= log[1]["epoch_ms"]
    lines = [r for r in caplog.records if r.name == "simulators.fleet" and "fault" in r.message]
    assert len(lines) == 2
    assert all(r.levelno == logging.INFO for r in lines)


async def test_protocol_faults_are_applied_and_listed(
    api: FaultApi, http: aiohttp.ClientSession
) -> None:
    assert (await post(http, {"device": "pump", "kind": "silent", "on": True}))[0] == 200
    assert (await post(http, {"device": "plc", "kind": "cpu_stop", "on": True}))[0] == 200
    status, body = await post(http, {"device": "oven", "kind": "status", "on": True})
    assert status == 200
    assert body["status"] == "bad"
    devices = {d["name"]: d["faults"] for d in await get(http, "/devices")}
    assert devices == {
        "pump": {"offline": False, "silent": True},
        "plc": {"offline": False, "cpu_stop": True},
        "oven": {"offline": False, "status": "bad"},
    }
    assert api.fleet.is_silent("pump")

    status, body = await post(
        http, {"device": "oven", "kind": "status", "on": True, "status": "uncertain"}
    )
    assert (status, body["status"]) == (200, "uncertain")
    status, body = await post(http, {"device": "oven", "kind": "status", "on": False})
    assert (status, body["status"]) == (200, "good")
    assert (await post(http, {"device": "plc", "kind": "cpu_stop", "on": False}))[0] == 200
    devices = {d["name"]: d["faults"] for d in await get(http, "/devices")}
    assert devices["plc"]["cpu_stop"] is False
    assert devices["oven"]["status"] == "good"
    assert len(await get(http, "/faults/log")) == 6


async def test_an_unknown_device_is_404(http: aiohttp.ClientSession) -> None:
    status, body = await post(http, {"device": "ghost", "kind": "offline", "on": True})
    assert status == 404
    assert "ghost" in body["error"]
    assert await get(http, "/faults/log") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "offline", "on": True}, "device"),
        ({"device": "pump", "kind": "melt", "on": True}, "kind"),
        ({"device": "pump", "kind": "offline", "on": "yes"}, "on"),
        ({"device": "pump", "kind": "offline", "on": True, "when": 3}, "when"),
        ({"device": "oven", "kind": "status", "on": True, "status": "awful"}, "status"),
        (["pump"], "body"),
    ],
)
async def test_a_bad_body_is_400_naming_the_field(
    http: aiohttp.ClientSession, body: object, field: str
) -> None:
    status, answer = await post(http, body)
    assert status == 400
    assert answer["field"] == field
    assert answer["error"].startswith(f"{field}:")


async def test_a_body_that_is_not_json_is_400(http: aiohttp.ClientSession) -> None:
    async with http.post("/faults", data=b"{not json") as response:
        assert response.status == 400
        assert "not JSON" in (await response.json())["error"]


async def test_a_fault_the_protocol_lacks_is_409(http: aiohttp.ClientSession) -> None:
    status, body = await post(http, {"device": "plc", "kind": "silent", "on": True})
    assert status == 409
    assert "not a Modbus device" in body["error"]
