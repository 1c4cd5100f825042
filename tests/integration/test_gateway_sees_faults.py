"""The real gateway against the real fleet, through a real broker: every device fault of the
twin shows in what the gateway publishes and in its device status, and only where it should."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from nexus.gateway.config import GatewayConfig
from nexus.gateway.poller import DeviceStatus
from nexus.gateway.service import Gateway
from nexus.settings import MqttSettings
from simulators.clock import SimClock
from simulators.faults import FaultSpec
from simulators.fleet import Fleet
from tests.integration.helpers import wait_until
from tests.integration.points import Received
from tests.simulators.s7plants import opcua_device, plant, s7_device

pytestmark = pytest.mark.integration

T = 100.0
TAGS: list[dict[str, Any]] = [
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
        "address": 10,  # a gap: a block of its own
        "type": "uint32",
        "signal": {"kind": "ramp", "start": 0, "slope": 1},
    },
]


def press(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "poll_interval_ms": 200, "timeout_ms": 400, "tags": TAGS, **extra}


def spec(kind: str, **params: Any) -> FaultSpec:
    return FaultSpec.model_validate({"kind": kind, **params})


@asynccontextmanager
async def running(
    mqtt: MqttSettings, devices: list[dict[str, Any]]
) -> AsyncIterator[tuple[Fleet, Gateway, Received, dict[str, DeviceStatus]]]:
    async with (
        Fleet(plant(devices), clock=SimClock.frozen(T)) as fleet,
        Received(mqtt, "dev/site1/#") as received,
    ):
        config = GatewayConfig(devices=fleet.gateway_config())
        async with Gateway(config, mqtt=mqtt, gateway_id="gw-faults", http_port=None) as gateway:
            status = {s.name: s for s in gateway.statuses}
            await wait_until(
                lambda: all(s.up for s in gateway.statuses), within_s=30, what="devices up"
            )
            yield fleet, gateway, received, status


def newer(received: Received, device: str, tag: str, after: int) -> Callable[[], bool]:
    """A predicate: `device`/`tag` has more than `after` points."""
    return lambda: len(received.of(device, tag)) > after


def last_is(received: Received, device: str, tag: str, test: Callable[[Any], bool]) -> bool:
    point = received.last(device, tag)
    return point is not None and test(point)


def _slow_s7(name: str) -> dict[str, Any]:
    return s7_device(name, timeout_ms=400)


def _slow_opcua(name: str) -> dict[str, Any]:
    return opcua_device(name, mode="polling", timeout_ms=400)


SLOW_CASES: dict[str, tuple[Callable[[str], dict[str, Any]], str, float | None]] = {
    "modbus": (press, "level", 21.5),
    "s7": (_slow_s7, "speed", None),
    "opcua": (_slow_opcua, "temperature", 72.5),
}


@pytest.mark.parametrize("protocol", sorted(SLOW_CASES))
async def test_slow_beyond_the_timeout_times_out_then_recovers(
    mqtt_settings: MqttSettings, protocol: str
) -> None:
    make, tag, value = SLOW_CASES[protocol]
    devices = [make("slow"), make("fine")]
    async with running(mqtt_settings, devices) as (fleet, _, rx, status):
        await fleet.apply_fault("slow", spec("slow", latency_ms=1500))
        await wait_until(lambda: not status["slow"].up, within_s=30, what="slow device down")
        assert status["slow"].last_error
        fine_before = len(rx.of("fine", tag))
        await wait_until(newer(rx, "fine", tag, fine_before + 3), what="the other device")
        assert status["fine"].up
        assert status["fine"].errors == 0

        await fleet.clear_fault("slow", "slow")
        await wait_until(lambda: status["slow"].up, within_s=60, what="slow device back")
        before = len(rx.of("slow", tag))
        await wait_until(newer(rx, "slow", tag, before), what="values again")
    point = rx.last("slow", tag)
    assert point is not None
    assert point.q == "good"
    if value is not None:
        assert point.v == value


async def test_protocol_errors_are_bad_quality_of_their_tags_only(
    mqtt_settings: MqttSettings,
) -> None:
    devices = [press("press"), press("other"), s7_device("plc"), opcua_device("oven")]
    async with running(mqtt_settings, devices) as (fleet, _, rx, status):
        await fleet.apply_fault("press", spec("protocol_error", code=2, tags=["ramp"]))
        await fleet.apply_fault("plc", spec("protocol_error", code=0x0A, tags=["energy"]))
        await fleet.apply_fault(
            "oven", spec("protocol_error", code="BadSensorFailure", tags=["temperature"])
        )
        for device, tag in (("press", "ramp"), ("plc", "energy"), ("oven", "temperature")):
            await wait_until(
                lambda d=device, t=tag: last_is(rx, d, t, lambda p: p.q == "bad"),  # type: ignore[misc]
                within_s=30,
                what=f"{device}/{tag} bad",
            )
            point = rx.last(device, tag)
            assert point is not None
            assert point.v is None
        # the other tags of those devices, and the other device, stay good
        for device, tag in (("press", "level"), ("plc", "speed"), ("other", "ramp")):
            count = len(rx.of(device, tag))
            await wait_until(newer(rx, device, tag, count), what=f"{device}/{tag} again")
            point = rx.last(device, tag)
            assert point is not None
            assert point.q == "good", (device, tag, point)
        oven_speed = rx.last("oven", "speed")
        assert oven_speed is not None
        assert oven_speed.q == "good"
        assert all(s.up for s in status.values()), "a protocol error is not a dead device"

        # a PDU-level S7 error: the whole request refused, every tag of it bad
        await fleet.apply_fault("plc", spec("protocol_error", code=0x8104))
        await wait_until(
            lambda: last_is(rx, "plc", "speed", lambda p: p.q == "bad"), what="plc speed bad"
        )
        await fleet.clear_fault("plc", "protocol_error")
        await fleet.clear_fault("press", "protocol_error")
        await wait_until(
            lambda: (
                last_is(rx, "plc", "speed", lambda p: p.q == "good")
                and last_is(rx, "press", "ramp", lambda p: p.q == "good")
            ),
            what="good again",
        )


async def test_session_kill_and_restart_reconnect(mqtt_settings: MqttSettings) -> None:
    devices = [press("press"), s7_device("plc"), opcua_device("oven")]
    async with running(mqtt_settings, devices) as (fleet, _, rx, status):
        errors = {name: s.errors for name, s in status.items()}
        counts = {name: rx.count(name) for name in status}
        await fleet.kill_sessions("oven")
        await fleet.restart("plc")
        await fleet.restart("press")
        for name in ("oven", "plc"):  # a Modbus client reconnects at once, without an error
            await wait_until(
                lambda n=name: status[n].errors > errors[n],  # type: ignore[misc]
                within_s=30,
                what=f"{name}: the lost connection noticed",
            )
        for name in status:
            await wait_until(
                lambda n=name: status[n].up and rx.count(n) > counts[n] + 5,  # type: ignore[misc]
                within_s=60,
                what=f"{name}: reconnected, values again",
            )
    oven = rx.last("oven", "temperature")
    assert oven is not None
    assert (oven.v, oven.q) == (72.5, "good")


async def test_cpu_stop_is_bad_quality_and_run_good_again(mqtt_settings: MqttSettings) -> None:
    async with running(mqtt_settings, [s7_device("plc")]) as (fleet, _, rx, status):
        await fleet.apply_fault("plc", spec("cpu_stop"))
        await wait_until(lambda: last_is(rx, "plc", "speed", lambda p: p.q == "bad"), what="bad")
        assert status["plc"].up
        await fleet.clear_fault("plc", "cpu_stop")
        await wait_until(lambda: last_is(rx, "plc", "speed", lambda p: p.q == "good"), what="good")


async def test_quality_changes_reach_the_points_of_their_tags(
    mqtt_settings: MqttSettings,
) -> None:
    async with running(mqtt_settings, [opcua_device("oven")]) as (fleet, _, rx, status):
        await fleet.apply_fault("oven", spec("quality", quality="uncertain", tags=["temperature"]))
        await wait_until(
            lambda: last_is(rx, "oven", "temperature", lambda p: p.q == "uncertain"),
            what="oven/temperature uncertain",
        )
        # subscription mode reports changes only: the other tag's last report stays good
        assert last_is(rx, "oven", "speed", lambda p: p.q == "good")
        assert status["oven"].up
        await fleet.clear_fault("oven", "quality")
        await wait_until(
            lambda: last_is(rx, "oven", "temperature", lambda p: p.q == "good"), what="good"
        )


async def test_frozen_values_stop_changing(mqtt_settings: MqttSettings) -> None:
    async with running(mqtt_settings, [press("press")]) as (fleet, _, rx, _status):
        await fleet.apply_fault("press", spec("frozen", tags=["ramp"]))
        fleet.clock = SimClock.frozen(T + 50)  # the process moves on …
        count = len(rx.of("press", "ramp"))
        await wait_until(newer(rx, "press", "ramp", count + 3), what="polls while frozen")
        assert {p.v for p in rx.of("press", "ramp")[count:]} == {T}  # … the value does not
        await fleet.clear_fault("press", "frozen")
        await wait_until(
            lambda: last_is(rx, "press", "ramp", lambda p: p.v == T + 50), what="moving"
        )


async def test_spikes_appear_as_outliers(mqtt_settings: MqttSettings) -> None:
    async with running(mqtt_settings, [press("press")]) as (fleet, _, rx, _status):
        count = len(rx.of("press", "level"))
        await fleet.apply_fault("press", spec("spikes", magnitude=1000, every_n=3, tags=["level"]))
        await wait_until(newer(rx, "press", "level", count + 6), what="polls with spikes")
        values = [p.v for p in rx.of("press", "level")[count:]]
    assert set(values) == {21.5, 1021.5}
    assert values.count(21.5) > values.count(1021.5)  # outliers, not a new level
    ramp = rx.of("press", "ramp")
    assert {p.v for p in ramp} == {T}  # a tag without the fault


async def test_wrong_byte_order_decodes_wrongly_as_predicted(mqtt_settings: MqttSettings) -> None:
    async with running(mqtt_settings, [press("press"), s7_device("plc")]) as (fleet, _, rx, _):
        await fleet.apply_fault("press", spec("byte_order"))
        await fleet.apply_fault("plc", spec("byte_order"))
        # float32 21.5 ABCD with its two words swapped; the S7 REAL 1450.5 and DINT -7
        # little-endian, read big-endian as an S7 does
        word_swapped = struct.unpack(
            ">f", struct.pack(">f", 21.5)[2:] + struct.pack(">f", 21.5)[:2]
        )
        expected = {
            ("press", "level"): word_swapped[0],
            ("press", "ramp"): struct.unpack(">I", struct.pack(">HH", int(T), 0))[0],
            ("plc", "speed"): struct.unpack(">f", struct.pack("<f", 1450.5))[0],
            ("plc", "count"): struct.unpack(">i", struct.pack("<i", -7))[0],
        }
        for (device, tag), value in expected.items():
            await wait_until(
                lambda d=device, t=tag, v=value: last_is(rx, d, t, lambda p: p.v == v),  # type: ignore[misc]
                within_s=30,
                what=f"{device}/{tag} = {value!r}",
            )
        label = rx.last("plc", "label")
        assert label is not None
        assert label.v == "Grüße"  # a string has no byte order
        await fleet.clear_fault("press", "byte_order")
        await wait_until(lambda: last_is(rx, "press", "level", lambda p: p.v == 21.5), what="ok")
    assert expected[("press", "level")] != 21.5
    assert expected[("plc", "speed")] != 1450.5
