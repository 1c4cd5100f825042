"""OPC UA DataValues → readings: the value as JSON can carry it, the StatusCode as quality."""

from __future__ import annotations

import datetime
from typing import Any

from nexus.model.payload import Quality, Value

_SEVERITY = {0: Quality.GOOD, 1: Quality.UNCERTAIN}


def quality_of(status_code: int) -> Quality:
    """Bits 30–31 of a StatusCode are its severity: 00 good, 01 uncertain, 10/11 bad (Part 4)."""
    return _SEVERITY.get((status_code >> 30) & 0b11, Quality.BAD)


def plain_value(value: Any) -> Value:
    """A variant's value as a point value: numbers, bools and strings as they are; other
    scalars as text (a DateTime in ISO 8601, a LocalizedText its text); None stays None."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    text = getattr(value, "Text", None)
    if isinstance(text, str):
        return text
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
