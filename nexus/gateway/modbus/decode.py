"""Raw Modbus registers → engineering values, for every data type and byte order."""

from __future__ import annotations

import struct

from nexus.model.tags import ByteOrder, DataType, ModbusTag

_FORMATS: dict[DataType, str] = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.INT64: ">q",
    DataType.UINT64: ">Q",
    DataType.FLOAT32: ">f",
    DataType.FLOAT64: ">d",
}


def registers_to_bytes(registers: list[int], order: ByteOrder) -> bytes:
    """The value's bytes in big-endian (ABCD) order, from registers as sent on the wire."""
    raw = b"".join(r.to_bytes(2, "big") for r in registers)
    match order:
        case ByteOrder.ABCD:
            return raw
        case ByteOrder.DCBA:
            return raw[::-1]
        case ByteOrder.BADC:
            return b"".join(raw[i : i + 2][::-1] for i in range(0, len(raw), 2))
        case ByteOrder.CDAB:
            return b"".join(raw[i : i + 2] for i in range(len(raw) - 2, -1, -2))
    raise ValueError(f"unknown byte order {order!r}")  # pragma: no cover - exhaustive


def decode_string(registers: list[int], order: ByteOrder) -> str:
    """Two bytes per register, first character in the high byte (ABCD) or the low byte (BADC).

    The text is UTF-8 and ends at the first NUL byte (or fills every register).
    """
    raw = registers_to_bytes(registers, order)
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("utf-8", errors="replace")


def decode_registers(tag: ModbusTag, registers: list[int]) -> float | int | str:
    """Decode the registers of one tag and apply scale and offset.

    Integers stay integers when scale is 1 and offset 0, so counters keep their exact value.
    """
    if len(registers) != tag.register_count:
        raise ValueError(
            f"tag {tag.name}: {len(registers)} registers, expected {tag.register_count}"
        )
    if tag.type is DataType.STRING:
        return decode_string(registers, tag.order)
    raw: float | int = struct.unpack(_FORMATS[tag.type], registers_to_bytes(registers, tag.order))[
        0
    ]
    if tag.scale == 1.0 and tag.offset == 0.0:
        return raw
    return raw * tag.scale + tag.offset
