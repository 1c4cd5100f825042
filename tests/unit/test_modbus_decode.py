"""Gateway decoding of raw registers, checked against values packed independently with struct."""

from __future__ import annotations

import math
import struct

import pytest

from nexus.gateway.modbus.decode import decode_registers, registers_to_bytes
from nexus.model.tags import ByteOrder, DataType, ModbusTag

FORMATS = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.INT64: "q",
    DataType.UINT64: "Q",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}
VALUES: dict[DataType, list[float]] = {
    DataType.INT16: [-32768, -1, 0, 12345, 32767],
    DataType.UINT16: [0, 1, 54321, 65535],
    DataType.INT32: [-(2**31), -123456789, 0, 2**31 - 1],
    DataType.UINT32: [0, 3_000_000_000, 2**32 - 1],
    DataType.INT64: [-(2**63), -1, 2**63 - 1],
    DataType.UINT64: [0, 2**64 - 1],
    DataType.FLOAT32: [-1.5, 0.0, 3.25, 1e30, math.inf, -math.inf],
    DataType.FLOAT64: [-1e300, 2.718281828459045, math.inf],
}


def wire_registers(value: float | int, dtype: DataType, order: ByteOrder) -> list[int]:
    """Registers as a device with `order` would put them on the wire (independent of the code)."""
    little = struct.pack("<" + FORMATS[dtype], value)  # bytes D C B A for 4-byte values
    big = little[::-1]  # A B C D
    n = len(big) // 2
    words_be = [big[2 * i : 2 * i + 2] for i in range(n)]
    if order is ByteOrder.ABCD:
        words = words_be
    elif order is ByteOrder.DCBA:
        words = [little[2 * i : 2 * i + 2] for i in range(n)]
    elif order is ByteOrder.BADC:
        words = [w[::-1] for w in words_be]
    else:  # CDAB: words in reverse order, bytes big-endian
        words = words_be[::-1]
    return [int.from_bytes(w, "big") for w in words]


@pytest.mark.parametrize("order", list(ByteOrder))
@pytest.mark.parametrize("dtype", list(FORMATS))
def test_every_type_and_order_round_trips(dtype: DataType, order: ByteOrder) -> None:
    tag = ModbusTag(name="t", address=0, type=dtype, order=order)
    for value in VALUES[dtype]:
        decoded = decode_registers(tag, wire_registers(value, dtype, order))
        expected = (
            struct.unpack("f", struct.pack("f", value))[0] if dtype is DataType.FLOAT32 else value
        )
        assert decoded == expected, (dtype, order, value)


def test_known_wire_bytes_of_the_four_orders() -> None:
    # 0x11223344 as uint32 in the four orders, as device manuals show them.
    tag_regs = {
        ByteOrder.ABCD: [0x1122, 0x3344],
        ByteOrder.DCBA: [0x4433, 0x2211],
        ByteOrder.BADC: [0x2211, 0x4433],
        ByteOrder.CDAB: [0x3344, 0x1122],
    }
    for order, regs in tag_regs.items():
        assert registers_to_bytes(regs, order) == bytes.fromhex("11223344"), order


def test_scale_and_offset_apply_after_decoding() -> None:
    tag = ModbusTag(name="t", address=0, type=DataType.INT16, scale=0.1, offset=-40)
    assert decode_registers(tag, [0xFFFF]) == pytest.approx(-40.1)
    assert decode_registers(tag, [1000]) == pytest.approx(60.0)


def test_wrong_register_count_is_an_error() -> None:
    tag = ModbusTag(name="t", address=0, type=DataType.FLOAT32)
    with pytest.raises(ValueError, match=r"1 registers, expected 2"):
        decode_registers(tag, [1])
