"""The S7 adapter against real servers: snap7's own server (not the twin), and a CPU STOP of
the twin turning into bad quality and back, end to end through the broker."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import snap7
from snap7 import util
from snap7.type import SrvArea

from nexus.gateway.config import GatewayConfig
from nexus.gateway.s7.adapter import S7Adapter
from nexus.gateway.service import Gateway
from nexus.model.payload import Quality
from nexus.model.tags import S7Device, S7Tag
from nexus.settings import MqttSettings
from simulators.clock import SimClock
from simulators.fleet import Fleet
from tests.integration.helpers import wait_until
from tests.integration.points import Received
from tests.simulators.s7plants import plant, s7_device

pytestmark = pytest.mark.integration


@pytest.fixture
def plain_server() -> Iterator[tuple[int, bytearray]]:
    """python-snap7's own server with DB1 and M filled by its own setters; no DB2."""
    server = snap7.Server(log=False)
    db1 = bytearray(64)
    flags = bytearray(16)
    util.set_real(db1, 0, -12.25)
    util.set_dint(db1, 4, 123456)
    util.set_bool(db1, 8, 6, True)
    util.set_string(db1, 10, "Grüße", 16)
    util.set_lreal(db1, 40, math.inf)
    util.set_word(flags, 2, 0xBEEF)
    server.register_area(SrvArea.DB, 1, db1)
    server.register_area(SrvArea.MK, 0, flags)
    server.start_to("127.0.0.1", 0)
    assert server.server_socket is not None
    try:
        yield int(server.server_socket.getsockname()[1]), db1
    finally:
        server.stop()


def device(port: int, *addresses: tuple[str, str]) -> S7Device:
    return S7Device(
        name="plc",
        site="s",
        line="l",
        protocol="s7",
        port=port,
        timeout_ms=3000,
        tags=[S7Tag(name=name, address=address) for name, address in addresses],
    )


async def test_reads_snap7s_own_server_and_a_missing_block_spoils_only_its_tags(
    plain_server: tuple[int, bytearray],
) -> None:
    port, _ = plain_server
    adapter = S7Adapter(
        device(
            port,
            ("real", "DB1.DBD0:REAL"),
            ("dint", "DB1.DBD4:DINT"),
            ("bit", "DB1.DBX8.6:BOOL"),
            ("other_bit", "DB1.DBX8.5:BOOL"),
            ("text", "DB1.DBB10:STRING[16]"),
            ("inf", "DB1.DBB40:LREAL"),
            ("flags", "MW2:WORD"),
            ("missing", "DB2.DBD0:REAL"),
        )
    )
    try:
        readings = {r.tag: r for r in await adapter.read()}
    finally:
        await adapter.close()
    assert {name: r.value for name, r in readings.items() if name != "missing"} == {
        "real": -12.25,
        "dint": 123456,
        "bit": True,
        "other_bit": False,
        "text": "Grüße",
        "inf": math.inf,
        "flags": 0xBEEF,
    }
    assert readings["missing"].quality is Quality.BAD
    assert readings["missing"].value is None
    assert all(r.quality is Quality.GOOD for n, r in readings.items() if n != "missing")
    assert adapter.pdu_size == 480
    assert len(adapter.requests) == 1  # three items, one multi-variable request


async def test_cpu_stop_is_bad_quality_and_run_is_good_again(mqtt_settings: MqttSettings) -> None:
    async with (
        Fleet(plant([s7_device()]), clock=SimClock.frozen(5.0)) as fleet,
        Received(mqtt_settings, "dev/site1/#") as acked,
    ):
        config = GatewayConfig(devices=fleet.gateway_config())
        async with Gateway(
            config, mqtt=mqtt_settings, gateway_id="gw-s7", http_port=None
        ) as gateway:
            status = gateway.statuses[0]
            await wait_until(lambda: acked.count("plc") >= 11, within_s=30, what="first points")
            speed = acked.last("plc", "speed")
            assert speed is not None
            assert (speed.v, speed.q, speed.u) == (1450.5, "good", "rpm")

            await fleet.set_cpu_running("plc", False)
            await wait_until(
                lambda: (p := acked.last("plc", "speed")) is not None and p.q == "bad",
                within_s=30,
                what="bad quality in STOP",
            )
            stopped = {tag: acked.last("plc", tag) for tag in ("speed", "label", "input")}
            assert all(p is not None and p.q == "bad" and p.v is None for p in stopped.values())
            assert status.up, "a CPU in STOP is a device that answers, not a dead one"

            await fleet.set_cpu_running("plc", True)
            await wait_until(
                lambda: (p := acked.last("plc", "speed")) is not None and p.q == "good",
                within_s=30,
                what="good quality in RUN",
            )
            assert status.up
            assert status.errors == 0
    label = acked.last("plc", "label")
    assert label is not None
    assert label.v == "Grüße"


async def test_an_offline_plc_is_unreachable_then_read_again() -> None:
    from nexus.errors import DeviceUnreachable
    from nexus.gateway.adapters import make_adapter

    async with Fleet(plant([s7_device()]), clock=SimClock.frozen(5.0)) as fleet:
        adapter = make_adapter(fleet.gateway_config()[0])
        try:
            assert len(await adapter.read()) == 11
            await fleet.set_offline("plc")
            with pytest.raises(DeviceUnreachable):
                await adapter.read()
            with pytest.raises(DeviceUnreachable, match="cannot connect"):
                await adapter.read()
            await fleet.set_offline("plc", False)
            readings = {r.tag: r for r in await adapter.read()}
        finally:
            await adapter.close()
    assert readings["speed"].value == 1450.5
    assert readings["speed"].quality is Quality.GOOD
