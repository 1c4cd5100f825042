"""S7 bytes → values, for every type (big-endian, as the PLC stores them)."""

from __future__ import annotations

import struct

from nexus.model.s7address import S7Address, S7Type

_FORMATS: dict[S7Type, str] = {
    S7Type.BYTE: ">B",
    S7Type.USINT: ">B",
    S7Type.SINT: ">b",
    S7Type.WORD: ">H",
    S7Type.UINT: ">H",
    S7Type.INT: ">h",
    S7Type.DWORD: ">I",
    S7Type.UDINT: ">I",
    S7Type.DINT: ">i",
    S7Type.LWORD: ">Q",
    S7Type.ULINT: ">Q",
    S7Type.LINT: ">q",
    S7Type.REAL: ">f",
    S7Type.LREAL: ">d",
}


def decode_value(address: S7Address, data: bytes) -> float | int | bool | str:
    """The value at `address` from its `address.size` bytes.

    STRING: byte 0 the declared length, byte 1 the actual length, then single-byte characters
    (Latin-1). WSTRING: two big-endian words (declared, actual), then UTF-16BE characters. An
    actual length beyond the declared one is cut to the declared one.
    """
    if len(data) != address.size:
        raise ValueError(f"{address}: {len(data)} bytes, expected {address.size}")
    match address.type:
        case S7Type.BOOL:
            return bool((data[0] >> address.bit) & 1)
        case S7Type.STRING:
            length = min(data[1], data[0], address.length)
            return data[2 : 2 + length].decode("latin-1")
        case S7Type.WSTRING:
            declared, actual = struct.unpack(">HH", data[:4])
            length = min(actual, declared, address.length)
            return data[4 : 4 + 2 * length].decode("utf-16-be", errors="replace")
    value: float | int = struct.unpack(_FORMATS[address.type], data)[0]
    return value
