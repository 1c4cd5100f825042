"""Retained status topics: each gateway replica's birth and death, each device's state.

- ``status/gateway/{gateway_id}``: ``{"state": "online"|"offline", "gw": ..., "ts": ...}``,
  online when the gateway connects, offline when it stops — or, if it dies, by the broker
  (the MQTT last will).
- ``status/{site}/{line}/{device}``: ``{"state": "online"|"offline", "breaker": "closed"|
  "open"|"half_open", "gw": ..., "ts": ..., "error": ...}`` on every change, so a consumer can
  tell "no data because the device is down" from "no change".

Status topics live outside ``dev/``: the ingest stores data, not status.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec

from nexus.mqtt import MqttClient

log = logging.getLogger(__name__)

STATUS_ROOT = "status"


class StatusPayload(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    state: str
    gw: str
    ts: int
    breaker: str | None = None
    error: str | None = None
    group: str | None = None


_encoder = msgspec.json.Encoder()


def gateway_status_topic(gateway_id: str) -> str:
    return f"{STATUS_ROOT}/gateway/{gateway_id}"


def device_status_topic(site: str, line: str, device: str) -> str:
    return f"{STATUS_ROOT}/{site}/{line}/{device}"


def encode_status(payload: StatusPayload) -> bytes:
    return _encoder.encode(payload)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def gateway_will(gateway_id: str, group: str | None = None) -> tuple[str, bytes]:
    """The last will: the broker publishes it (retained) if the gateway vanishes."""
    offline = StatusPayload(
        state="offline", gw=gateway_id, ts=0, error="connection lost", group=group
    )
    return gateway_status_topic(gateway_id), encode_status(offline)


class StatusReporter:
    def __init__(self, mqtt: MqttClient, gateway_id: str, *, group: str | None = None) -> None:
        self._mqtt = mqtt
        self._gateway_id = gateway_id
        self._group = group

    async def gateway(self, state: str) -> asyncio.Future[None]:
        """Publish the gateway's state; the returned future is done on the broker's PUBACK."""
        payload = StatusPayload(state=state, gw=self._gateway_id, ts=now_ms(), group=self._group)
        fut = await self._mqtt.publish_nowait(
            gateway_status_topic(self._gateway_id), encode_status(payload), retain=True
        )
        fut.add_done_callback(_settled)
        return fut

    async def device(
        self, site: str, line: str, device: str, *, online: bool, breaker: str, error: str | None
    ) -> None:
        payload = StatusPayload(
            state="online" if online else "offline",
            gw=self._gateway_id,
            ts=now_ms(),
            breaker=breaker,
            error=None if online else error,
        )
        fut = await self._mqtt.publish_nowait(
            device_status_topic(site, line, device), encode_status(payload), retain=True
        )
        fut.add_done_callback(_settled)


def _settled(fut: asyncio.Future[None]) -> None:
    """Status is retained by the broker whether or not anyone listens right now."""
    if not fut.cancelled():
        fut.exception()
