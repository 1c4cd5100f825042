"""MQTT message → historian row, or a PayloadError that names the reason."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from nexus.errors import PayloadError
from nexus.model.payload import Quality, decode_point, split_topic

MAX_PAYLOAD_BYTES = 64 * 1024
MIN_TS_MS = 946_684_800_000  # 2000-01-01
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
MAX_STRING = 4096

Row = tuple[datetime, str, float | None, str | None, int, str, int, str]
"""(time, topic, value, value_str, quality, unit, seq, gateway), the order of METRICS_COLUMNS."""

_QUALITY = {q.label: int(q) for q in Quality}


def decode_message(topic: str, payload: bytes) -> Row:
    try:
        split_topic(topic)
    except ValueError as exc:
        raise PayloadError(topic, str(exc)) from None
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(topic, f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        point = decode_point(payload)
    except (msgspec.DecodeError, ValueError) as exc:
        raise PayloadError(topic, f"invalid payload: {exc}") from None
    quality = _QUALITY.get(point.q)
    if quality is None:
        raise PayloadError(topic, f"unknown quality {point.q!r} at $.q (good, uncertain, bad)")
    if not MIN_TS_MS <= point.ts < MAX_TS_MS:
        raise PayloadError(topic, f"timestamp {point.ts} at $.ts outside 2000-01-01..2100-01-01")
    value: float | None = None
    value_str: str | None = None
    v = point.v
    if isinstance(v, str):
        if len(v) > MAX_STRING:
            raise PayloadError(topic, f"string value longer than {MAX_STRING} characters")
        value_str = v
    elif v is not None:
        try:
            value = float(v)
        except OverflowError:
            raise PayloadError(
                topic, "integer value at $.v out of range of double precision"
            ) from None
    ts = datetime.fromtimestamp(point.ts / 1000, tz=UTC)
    return (ts, topic, value, value_str, quality, point.u, point.seq, point.gw)
