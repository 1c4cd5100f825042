"""Engineering value → raw value → Modbus registers, as the twin serves them.

raw = (value - offset) / scale. Integer types round the raw value to the nearest integer
(Python's round: halves to even) and clamp it to the type's range, so a signal that leaves the
range saturates at the type's limit instead of wrapping. Float types keep it as is (float32 is
IEEE single precision: what the twin serves is the value rounded to float32, see `decode_raw`).
bool tags (coils and discrete inputs) are on when the signal value is > 0; they take no scale.

The registers are built by pymodbus' own `convert_to_registers` (big-endian bytes, "big" word
order = ABCD, "little" word order = CDAB), not by our own struct code, so that the twin and the
gateway decode/encode independently. DCBA and BADC are those two with the bytes swapped inside
each register, which is exactly the definition in `nexus.model.tags.ByteOrder`:

    ABCD  big-endian                         0x01020304 → [0x0102, 0x0304]
    CDAB  words swapped, bytes big-endian    0x01020304 → [0x0304, 0x0102]
    BADC  bytes swapped in each register     0x01020304 → [0x0201, 0x0403]
    DCBA  little-endian                      0x01020304 → [0x0403, 0x0201]
"""

from __future__ import annotations

import math
import struct
from typing import Literal

from pymodbus.client import ModbusTcpClient

from nexus.model.tags import ByteOrder, DataType, ModbusTag

RawValue = int | float | bool | str

_PYMODBUS_TYPE = {
    DataType.INT16: ModbusTcpClient.DATATYPE.INT16,
    DataType.UINT16: ModbusTcpClient.DATATYPE.UINT16,
    DataType.INT32: ModbusTcpClient.DATATYPE.INT32,
    DataType.UINT32: ModbusTcpClient.DATATYPE.UINT32,
    DataType.INT64: ModbusTcpClient.DATATYPE.INT64,
    DataType.UINT64: ModbusTcpClient.DATATYPE.UINT64,
    DataType.FLOAT32: ModbusTcpClient.DATATYPE.FLOAT32,
    DataType.FLOAT64: ModbusTcpClient.DATATYPE.FLOAT64,
}

INTEGER_RANGE: dict[DataType, tuple[int, int]] = {
    DataType.INT16: (-(1 << 15), (1 << 15) - 1),
    DataType.UINT16: (0, (1 << 16) - 1),
    DataType.INT32: (-(1 << 31), (1 << 31) - 1),
    DataType.UINT32: (0, (1 << 32) - 1),
    DataType.INT64: (-(1 << 63), (1 << 63) - 1),
    DataType.UINT64: (0, (1 << 64) - 1),
}
"""The raw range of every integer type."""

_FLOAT32_MAX = 3.4028234663852886e38


def is_integer(data_type: DataType) -> bool:
    return data_type in INTEGER_RANGE


def raw_unclamped(tag: ModbusTag, value: float) -> float:
    """(value - offset) / scale: the raw value before rounding and clamping.

    Without scale and offset the value is returned as is, so an int stays exact (int64 limits).
    """
    if tag.scale == 1 and tag.offset == 0:
        return value
    return (value - tag.offset) / tag.scale


def to_raw(tag: ModbusTag, value: float | str) -> RawValue:
    """The raw value the twin stores for engineering value `value` (rounded and clamped).

    A string is cut to the tag's length in bytes (at a character boundary).
    """
    if tag.type is DataType.STRING or isinstance(value, str):
        if tag.type is not DataType.STRING or not isinstance(value, str):
            raise ValueError(f"tag {tag.name}: a {tag.type.value} cannot hold text")
        return fit_text(value, tag.length or 0)
    if tag.type is DataType.BOOL:
        return value > 0
    raw = raw_unclamped(tag, value)
    if tag.type is DataType.FLOAT64:
        return raw
    if tag.type is DataType.FLOAT32:
        if not math.isfinite(raw):  # NaN and ±inf exist in float32 as they are
            return raw
        return min(max(raw, -_FLOAT32_MAX), _FLOAT32_MAX)
    lo, hi = INTEGER_RANGE[tag.type]
    if math.isnan(raw):
        return 0
    if math.isinf(raw):
        return hi if raw > 0 else lo
    return min(max(round(raw), lo), hi)


def decode_raw(tag: ModbusTag, raw: RawValue) -> float | int | bool | str:
    """The engineering value of a raw value, as a reader computes it: raw · scale + offset.

    Integer tags with scale 1 and offset 0 give the int itself; float32 raw values are first
    rounded to single precision (what the registers can hold).
    """
    if isinstance(raw, str):
        return raw
    if tag.type is DataType.BOOL:
        return bool(raw)
    number: float = raw
    if tag.type is DataType.FLOAT32:
        number = struct.unpack(">f", struct.pack(">f", raw))[0]
    if is_integer(tag.type) and tag.scale == 1 and tag.offset == 0:
        return int(number)
    return number * tag.scale + tag.offset


def fit_text(text: str, length: int) -> str:
    """`text` cut to at most `length` UTF-8 bytes, at a character boundary."""
    encoded = text.encode("utf-8")
    if len(encoded) <= length:
        return text
    return encoded[:length].decode("utf-8", errors="ignore")


def encode_string(text: str, length: int, order: ByteOrder) -> list[int]:
    """The registers of a string tag: UTF-8, NUL-padded to `length` bytes, 2 per register.

    pymodbus packs the first character into the high byte (ABCD); BADC swaps the two bytes
    of every register.
    """
    regs: list[int] = ModbusTcpClient.convert_to_registers(
        fit_text(text, length), ModbusTcpClient.DATATYPE.STRING
    )
    regs += [0] * ((length + 1) // 2 - len(regs))
    if order is ByteOrder.BADC:
        regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
    return regs


def encode_raw(raw: int | float, data_type: DataType, order: ByteOrder) -> list[int]:
    """The registers holding `raw` as `data_type` in byte order `order`."""
    if data_type is DataType.BOOL:
        raise ValueError("a bool is a single bit, not registers")
    word_order: Literal["big", "little"] = (
        "little" if order in (ByteOrder.CDAB, ByteOrder.DCBA) else "big"
    )
    regs: list[int] = ModbusTcpClient.convert_to_registers(
        raw, _PYMODBUS_TYPE[data_type], word_order=word_order
    )
    if order in (ByteOrder.BADC, ByteOrder.DCBA):
        regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
    return regs


def encode_value(tag: ModbusTag, value: float | str) -> list[int]:
    """The registers of a register-table tag for engineering value `value`."""
    raw = to_raw(tag, value)
    if isinstance(raw, str):
        return encode_string(raw, tag.length or 0, tag.order)
    return encode_raw(raw, tag.type, tag.order)
