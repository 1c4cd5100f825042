"""MQTT message → historian rows, or a PayloadError that names the reason.

Both payload forms of nexus.model.payload are accepted: the tag form on a tag topic and the
batch form on a device topic. Every row carries the tag topic, so the historian is addressed
by tag whatever form the gateway used.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from nexus.errors import PayloadError
from nexus.model.payload import (
    DEVICE_TOPIC_LEVELS,
    TOPIC_LEVELS,
    TOPIC_ROOT,
    Quality,
    Value,
    decode_batch,
    decode_point,
    restore_non_finite,
)

MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_POINTS = 10_000
MIN_TS_MS = 946_684_800_000  # 2000-01-01
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
MAX_STRING = 4096

Row = tuple[datetime, str, float | None, str | None, int, str, int, str]
"""(time, topic, value, value_str, quality, unit, seq, gateway), the order of METRICS_COLUMNS."""

_QUALITY = {q.label: int(q) for q in Quality}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FORBIDDEN_IN_NAMES = frozenset("+#/\x00")


def decode_message(topic: str, payload: bytes) -> list[Row]:
    """The rows of one message; PayloadError if any part of it cannot be stored."""
    levels = _check_topic(topic)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(topic, f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        if levels == TOPIC_LEVELS:
            point = decode_point(payload)
            return [_row(topic, point.v, point.q, point.ts, point.u, point.seq, point.gw, "$")]
        batch = decode_batch(payload)
    except (msgspec.DecodeError, ValueError) as exc:
        raise PayloadError(topic, f"invalid payload: {exc}") from None
    if not batch.points:
        raise PayloadError(topic, "batch without points at $.points")
    if len(batch.points) > MAX_POINTS:
        raise PayloadError(topic, f"batch of {len(batch.points)} points exceeds {MAX_POINTS}")
    rows: list[Row] = []
    for i, p in enumerate(batch.points):
        where = f"$.points[{i}]"
        if not p.t or any(c in _FORBIDDEN_IN_NAMES for c in p.t):
            raise PayloadError(topic, f"tag name {p.t!r} at {where}.t is not one topic level")
        try:
            v = restore_non_finite(p.v, p.nf)
        except ValueError as exc:
            raise PayloadError(topic, f"{exc} at {where}") from None
        ts = batch.ts if p.ts is None else p.ts
        rows.append(_row(f"{topic}/{p.t}", v, p.q, ts, p.u, p.seq, batch.gw, where, topic))
    return rows


def _check_topic(topic: str) -> int:
    parts = topic.split("/")
    if (
        len(parts) not in (TOPIC_LEVELS, DEVICE_TOPIC_LEVELS)
        or parts[0] != TOPIC_ROOT
        or not all(parts)
    ):
        raise PayloadError(
            topic,
            "topic outside the contract dev/{site}/{line}/{device}[/{tag}]",
        )
    return len(parts)


def _row(
    topic: str,
    v: Value,
    q: str,
    ts: int,
    unit: str,
    seq: int,
    gw: str,
    where: str,
    message_topic: str | None = None,
) -> Row:
    at = message_topic or topic
    quality = _QUALITY.get(q)
    if quality is None:
        raise PayloadError(at, f"unknown quality {q!r} at {where}.q (good, uncertain, bad)")
    if not MIN_TS_MS <= ts < MAX_TS_MS:
        raise PayloadError(at, f"timestamp {ts} at {where}.ts outside 2000-01-01..2100-01-01")
    if "\x00" in unit or "\x00" in gw:
        raise PayloadError(at, f"NUL character in {where}.u or gw")
    value: float | None = None
    value_str: str | None = None
    if isinstance(v, str):
        if len(v) > MAX_STRING:
            raise PayloadError(at, f"string at {where}.v longer than {MAX_STRING} characters")
        if "\x00" in v:
            raise PayloadError(at, f"NUL character in the string at {where}.v")
        value_str = v
    elif v is not None:
        try:
            value = float(v)
        except OverflowError:
            raise PayloadError(
                at, f"integer at {where}.v out of range of double precision"
            ) from None
    if not -(2**63) <= seq < 2**63:
        raise PayloadError(at, f"sequence number at {where}.seq out of range")
    time = _EPOCH + timedelta(milliseconds=ts)  # exact, unlike a float division
    return (time, topic, value, value_str, quality, unit, seq, gw)
