"""A signal's value → the value a typed variable holds (rounded, clamped, single precision).

Shared by the OPC UA and S7 twins: an integer variable rounds (halves to even) and clamps, so a
signal leaving the range saturates instead of wrapping; NaN is 0 for an integer. A 32-bit float
is the value rounded to single precision; a finite value beyond its range is its largest value;
NaN and ±infinity stay as they are. A bool is on when the signal is > 0.
"""

from __future__ import annotations

import math
import struct

FLOAT32_MAX = 3.4028234663852886e38


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def to_integer(value: float, lo: int, hi: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return min(max(value, lo), hi)
    if math.isnan(value):
        return 0
    if math.isinf(value):
        return hi if value > 0 else lo
    return min(max(round(value), lo), hi)


def to_float32(value: float) -> float:
    value = float(value)
    if math.isfinite(value):
        value = min(max(value, -FLOAT32_MAX), FLOAT32_MAX)
    return float(struct.unpack(">f", struct.pack(">f", value))[0])


def to_bool(value: float) -> bool:
    return value > 0
