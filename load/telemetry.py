"""What one simulated device publishes per poll, in the payload contract's two forms.

Every point is unique by the historian's key (tag topic, timestamp in ms): a device's
timestamps strictly increase, one millisecond at least per poll, whatever the clock does.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from enum import StrEnum

from nexus.model.payload import PointPayload, device_topic, encode_batch, encode_point

Key = tuple[str, int]
"""(tag topic, timestamp in ms): the historian's unique key of a point."""

MAX_TAGS = 10_000
"""The ingest refuses batches of more points (nexus.ingest.decode.MAX_POINTS)."""

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class PayloadForm(StrEnum):
    """batch: one message per poll on the device topic; tag: one message per point."""

    BATCH = "batch"
    TAG = "tag"


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message and the points it carries: ``topics[i]`` at time ``ts``."""

    topic: str
    payload: bytes
    topics: tuple[str, ...]
    """The tag topics of its points; shared between the messages of a device (memory)."""
    ts: int

    @property
    def points(self) -> int:
        return len(self.topics)

    def point_keys(self) -> list[Key]:
        return [(topic, self.ts) for topic in self.topics]


def check_name(name: str, what: str) -> str:
    """A topic level of the contract: letters, digits, ``_ . -``, 1–64 characters."""
    if not 1 <= len(name) <= 64 or not set(name) <= _NAME_CHARS:
        raise ValueError(f"{what} {name!r}: use 1–64 letters, digits, '_', '.' or '-'")
    return name


class DeviceTelemetry:
    """The points of one device: ``tags`` tags, polled by ``poll(now_ms)``."""

    def __init__(
        self,
        *,
        site: str,
        line: str,
        device: str,
        tags: int,
        form: PayloadForm = PayloadForm.BATCH,
        gateway_id: str = "load",
        unit: str = "bar",
    ) -> None:
        if not 1 <= tags <= MAX_TAGS:
            raise ValueError(f"tags per device must be 1–{MAX_TAGS}, not {tags}")
        self.form = form
        self.gateway_id = gateway_id
        self.unit = unit
        self.topic = device_topic(
            check_name(site, "site"), check_name(line, "line"), check_name(device, "device")
        )
        self.tag_names = [f"t{j:03d}" for j in range(tags)]
        self.tag_topics = tuple(f"{self.topic}/{tag}" for tag in self.tag_names)
        self._single = tuple((topic,) for topic in self.tag_topics)
        self._phase = (zlib.crc32(device.encode()) % 628) / 100
        self._last_ts = 0
        self._seq = 0

    @property
    def points_per_poll(self) -> int:
        return len(self.tag_names)

    def poll(self, now_ms: int) -> list[Message]:
        """The messages of one poll at ``now_ms`` (later than the previous poll's time)."""
        ts = max(now_ms, self._last_ts + 1)
        self._last_ts = ts
        points = []
        for j in range(len(self.tag_names)):
            self._seq += 1
            value = round(50.0 + 25.0 * math.sin(ts / 10_000 + self._phase + j), 3)
            points.append(
                PointPayload(v=value, ts=ts, u=self.unit, seq=self._seq, gw=self.gateway_id)
            )
        if self.form is PayloadForm.BATCH:
            body = encode_batch(self.gateway_id, ts, points, self.tag_names)
            return [Message(self.topic, body, self.tag_topics, ts)]
        return [
            Message(self.tag_topics[j], encode_point(point), self._single[j], ts)
            for j, point in enumerate(points)
        ]
