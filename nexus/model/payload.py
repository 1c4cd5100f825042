"""The MQTT data contract: topics and payloads, encoded and decoded with msgspec.

Two forms travel under ``dev/`` (docs/data-contract.md has the details):

- the **tag form**, one point per message on its tag topic ``dev/{site}/{line}/{device}/{tag}``;
- the **batch form**, all points of one device poll in one message on the device topic
  ``dev/{site}/{line}/{device}``: ``{"gw": ..., "ts": ..., "points": [{"t": tag, ...}, ...]}``.
  Throughput in Python is bounded by messages per second, not points, so this is the default.

Tag form (JSON):
``{"v": 84.5, "q": "good", "ts": 1703289600000, "u": "°C", "seq": 17, "gw": "gw-1"}``

- ``v``: the value (number, bool, string, or null when the quality is bad and no value exists)
- ``q``: quality, ``good`` | ``uncertain`` | ``bad`` (stored as OPC codes 192 / 64 / 0)
- ``ts``: acquisition time, milliseconds since the Unix epoch (UTC)
- ``u``: engineering unit, may be empty
- ``seq``: per-device sequence number of the point, assigned by the gateway (for the ledger)
- ``gw``: identity of the gateway replica that acquired the point
- ``nf``: present and true when ``v`` is a non-finite float, sent as the string ``"NaN"``,
  ``"Infinity"`` or ``"-Infinity"`` (JSON has no such numbers)
"""

from __future__ import annotations

import math
from enum import IntEnum

import msgspec

TOPIC_ROOT = "dev"
TOPIC_LEVELS = 5
DEVICE_TOPIC_LEVELS = 4


class Quality(IntEnum):
    """OPC quality codes, as stored in the historian."""

    GOOD = 192
    UNCERTAIN = 64
    BAD = 0

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Quality:
        try:
            return cls[label.upper()]
        except KeyError:
            raise ValueError(f"unknown quality {label!r} (good, uncertain, bad)") from None


Value = float | int | bool | str | None


class PointPayload(msgspec.Struct, kw_only=True, frozen=True):
    """One point as published on its tag topic."""

    v: Value
    q: str = "good"
    ts: int
    u: str = ""
    seq: int
    gw: str
    nf: bool = False


class BatchPoint(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One point inside a batch: ``t`` is the tag; ``ts`` overrides the batch's time."""

    t: str
    v: Value
    q: str = "good"
    u: str = ""
    seq: int
    ts: int | None = None
    nf: bool = False


class BatchPayload(msgspec.Struct, kw_only=True, frozen=True):
    """All points of one device poll, published on the device topic."""

    gw: str
    ts: int
    points: list[BatchPoint]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(PointPayload)
_batch_decoder = msgspec.json.Decoder(BatchPayload)
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _wire_form(point: PointPayload) -> PointPayload:
    v = point.v
    if isinstance(v, float) and not math.isfinite(v):
        text = "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
        return msgspec.structs.replace(point, v=text, nf=True)
    return point


def encode_point(point: PointPayload) -> bytes:
    """JSON bytes of a point; non-finite floats become strings marked with ``nf``."""
    return _encoder.encode(_wire_form(point))


def encode_batch(gw: str, ts: int, points: list[PointPayload], tags: list[str]) -> bytes:
    """JSON bytes of the batch form for points of one device (``tags[i]`` names ``points[i]``)."""
    items = []
    for tag, point in zip(tags, points, strict=True):
        wire = _wire_form(point)
        items.append(
            BatchPoint(
                t=tag,
                v=wire.v,
                q=wire.q,
                u=wire.u,
                seq=wire.seq,
                ts=None if wire.ts == ts else wire.ts,
                nf=wire.nf,
            )
        )
    return _encoder.encode(BatchPayload(gw=gw, ts=ts, points=items))


def decode_batch(data: bytes) -> BatchPayload:
    """The batch of a payload (raises msgspec.DecodeError when malformed)."""
    return _batch_decoder.decode(data)


def restore_non_finite(v: Value, nf: bool) -> Value:
    """The float a marked string stands for (ValueError if it is not one of the three)."""
    if not nf:
        return v
    if not isinstance(v, str) or v not in _NON_FINITE:
        raise ValueError("nf is set but v is not NaN, Infinity or -Infinity")
    return _NON_FINITE[v]


def decode_point(data: bytes) -> PointPayload:
    """The point of a payload (raises msgspec.DecodeError/ValueError when malformed)."""
    point = _decoder.decode(data)
    if point.nf:
        return msgspec.structs.replace(point, v=restore_non_finite(point.v, True), nf=False)
    return point


def point_topic(site: str, line: str, device: str, tag: str) -> str:
    return f"{TOPIC_ROOT}/{site}/{line}/{device}/{tag}"


def device_topic(site: str, line: str, device: str) -> str:
    return f"{TOPIC_ROOT}/{site}/{line}/{device}"


def decode_points(topic: str, data: bytes) -> list[tuple[str, PointPayload]]:
    """Every point of a message of either form, as (tag topic, point); for consumers and tests."""
    if topic.count("/") == DEVICE_TOPIC_LEVELS - 1:
        batch = decode_batch(data)
        return [
            (
                f"{topic}/{p.t}",
                PointPayload(
                    v=restore_non_finite(p.v, p.nf),
                    q=p.q,
                    ts=batch.ts if p.ts is None else p.ts,
                    u=p.u,
                    seq=p.seq,
                    gw=batch.gw,
                ),
            )
            for p in batch.points
        ]
    return [(topic, decode_point(data))]


def split_topic(topic: str) -> tuple[str, str, str, str]:
    """(site, line, device, tag) of a data topic; ValueError if outside the contract."""
    parts = topic.split("/")
    if len(parts) != TOPIC_LEVELS or parts[0] != TOPIC_ROOT or not all(parts):
        raise ValueError("topic outside the contract dev/{site}/{line}/{device}/{tag}")
    return parts[1], parts[2], parts[3], parts[4]
