"""The MQTT data contract: topics and point payloads, encoded and decoded with msgspec.

Topic: ``dev/{site}/{line}/{device}/{tag}``.
Payload (JSON):
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


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(PointPayload)
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


def decode_point(data: bytes) -> PointPayload:
    """The point of a payload (raises msgspec.DecodeError/ValueError when malformed)."""
    point = _decoder.decode(data)
    if point.nf:
        if not isinstance(point.v, str) or point.v not in _NON_FINITE:
            raise ValueError("nf is set but v is not NaN, Infinity or -Infinity")
        return msgspec.structs.replace(point, v=_NON_FINITE[point.v], nf=False)
    return point


def point_topic(site: str, line: str, device: str, tag: str) -> str:
    return f"{TOPIC_ROOT}/{site}/{line}/{device}/{tag}"


def split_topic(topic: str) -> tuple[str, str, str, str]:
    """(site, line, device, tag) of a data topic; ValueError if outside the contract."""
    parts = topic.split("/")
    if len(parts) != TOPIC_LEVELS or parts[0] != TOPIC_ROOT or not all(parts):
        raise ValueError("topic outside the contract dev/{site}/{line}/{device}/{tag}")
    return parts[1], parts[2], parts[3], parts[4]
