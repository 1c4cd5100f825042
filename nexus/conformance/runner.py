"""Run the matrix: a fresh twin, a gateway, and an MQTT reader of what the gateway publishes."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from nexus.conformance.matrix import SITE, conformance_plant
from nexus.conformance.report import CellResult, Report
from nexus.gateway.config import GatewayConfig
from nexus.gateway.service import Gateway
from nexus.model.payload import PointPayload, decode_points
from nexus.mqtt import Message, MqttClient
from nexus.settings import MqttSettings
from simulators.clock import SimClock
from simulators.fleet import Fleet
from simulators.plant import Plant

log = logging.getLogger(__name__)


def points_of(message: Message) -> list[tuple[str, PointPayload]]:
    """The points one published message carries (either payload form), by tag topic: the one
    place here that reads the MQTT payload contract."""
    return decode_points(message.topic, message.payload)


async def run_conformance(mqtt: MqttSettings, *, within_s: float = 60.0) -> Report:
    """Serve every cell with a fresh twin, run a gateway against it, and compare every cell
    with the last point published on its topic (cells without a point after `within_s` fail)."""
    data, cells = conformance_plant()
    plant = Plant.model_validate(data)
    latest: dict[str, PointPayload] = {}
    wanted = {cell.topic for cell in cells}
    began = time.perf_counter()
    probe = f"nexus-conformance/{uuid.uuid4().hex}"
    reader_settings = mqtt.model_copy(update={"client_id": f"{mqtt.client_id}-reader"})
    gateway_settings = mqtt.model_copy(update={"client_id": f"{mqtt.client_id}-gateway"})
    async with (
        Fleet(plant, clock=SimClock.frozen(0.0)) as fleet,
        MqttClient(reader_settings, subscriptions=(f"dev/{SITE}/#", probe)) as reader,
    ):
        await wait_subscribed(reader, probe)
        config = GatewayConfig(devices=fleet.gateway_config())
        async with Gateway(config, mqtt=gateway_settings, gateway_id="conformance", http_port=None):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + within_s
            while not wanted <= latest.keys():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    message = await asyncio.wait_for(reader.messages.get(), remaining)
                except TimeoutError:
                    break
                for topic, point in points_of(message):
                    latest[topic] = point
    report = Report([CellResult(cell, latest.get(cell.topic)) for cell in cells])
    log.info(
        "conformance: %d cells, %d failed (%.1f s)",
        len(cells),
        len(report.failures),
        time.perf_counter() - began,
    )
    return report


async def wait_subscribed(reader: MqttClient, probe: str, within_s: float = 30.0) -> None:
    """Return once `reader` receives its own message on `probe` (which it subscribes to): its
    subscriptions are active from then on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        await reader.publish(probe, b"ready")
        try:
            message = await asyncio.wait_for(reader.messages.get(), 1.0)
        except TimeoutError:
            if loop.time() > deadline:
                raise
            continue
        if message.topic == probe:
            return
