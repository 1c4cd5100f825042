"""Register encoding: every type × byte order against an independent struct decode."""

from __future__ import annotations

import math
import struct

import pytest

from nexus.model.tags import ByteOrder, DataType, ModbusTag, RegisterTable
from simulators.modbus.encoding import decode_raw, encode_raw, encode_value, to_raw

FORMAT = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.INT64: "q",
    DataType.UINT64: "Q",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}

SAMPLES: dict[DataType, list[int | float]] = {
    DataType.INT16: [0, 1, -1, 0x0102, -32768, 32767],
    DataType.UINT16: [0, 1, 0x0102, 0xFFFF],
    DataType.INT32: [0, -1, 0x01020304, -(2**31), 2**31 - 1, -123456],
    DataType.UINT32: [0, 0x01020304, 2**32 - 1, 4000000000],
    DataType.INT64: [0, -1, 0x0102030405060708, -(2**63), 2**63 - 1],
    DataType.UINT64: [0, 0x0102030405060708, 2**64 - 1],
    DataType.FLOAT32: [0.0, 1.5, -273.15, 3.4e38, 1e-30, 230.123],
    DataType.FLOAT64: [0.0, 1.5, -273.15, 1e300, math.pi, 123456789.123456],
}


def independent_decode(registers: list[int], data_type: DataType, order: ByteOrder) -> int | float:
    """Decode registers as sent on the wire, straight from the ByteOrder definitions."""
    assert all(0 <= r <= 0xFFFF for r in registers)
    wire = b"".join(struct.pack(">H", r) for r in registers)
    fmt = FORMAT[data_type]
    value: int | float
    if order is ByteOrder.ABCD:  # big-endian
        (value,) = struct.unpack(">" + fmt, wire)
    elif order is ByteOrder.DCBA:  # little-endian
        (value,) = struct.unpack("<" + fmt, wire)
    elif order is ByteOrder.BADC:  # bytes swapped inside each register
        swapped = b"".join(wire[i + 1 : i + 2] + wire[i : i + 1] for i in range(0, len(wire), 2))
        (value,) = struct.unpack(">" + fmt, swapped)
    else:  # CDAB: the registers in reverse order, each big-endian
        words = [wire[i : i + 2] for i in range(0, len(wire), 2)]
        (value,) = struct.unpack(">" + fmt, b"".join(reversed(words)))
    return value


CASES = [
    (data_type, order, value)
    for data_type, values in SAMPLES.items()
    for order in ByteOrder
    for value in values
]


@pytest.mark.parametrize(("data_type", "order", "value"), CASES)
def test_round_trip(data_type: DataType, order: ByteOrder, value: int | float) -> None:
    registers = encode_raw(value, data_type, order)
    assert len(registers) == data_type.register_count
    decoded = independent_decode(registers, data_type, order)
    if data_type is DataType.FLOAT32:
        assert decoded == struct.unpack(">f", struct.pack(">f", value))[0]
    else:
        assert decoded == value


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (ByteOrder.ABCD, [0x0102, 0x0304]),
        (ByteOrder.CDAB, [0x0304, 0x0102]),
        (ByteOrder.BADC, [0x0201, 0x0403]),
        (ByteOrder.DCBA, [0x0403, 0x0201]),
    ],
)
def test_the_byte_orders_of_the_definition(order: ByteOrder, expected: list[int]) -> None:
    assert encode_raw(0x01020304, DataType.UINT32, order) == expected


def test_64_bit_orders() -> None:
    value = 0x0102030405060708
    assert encode_raw(value, DataType.UINT64, ByteOrder.ABCD) == [0x0102, 0x0304, 0x0506, 0x0708]
    assert encode_raw(value, DataType.UINT64, ByteOrder.CDAB) == [0x0708, 0x0506, 0x0304, 0x0102]
    assert encode_raw(value, DataType.UINT64, ByteOrder.BADC) == [0x0201, 0x0403, 0x0605, 0x0807]
    assert encode_raw(value, DataType.UINT64, ByteOrder.DCBA) == [0x0807, 0x0605, 0x0403, 0x0201]


def test_16_bit_orders_only_swap_bytes() -> None:
    assert encode_raw(0x0102, DataType.UINT16, ByteOrder.ABCD) == [0x0102]
    assert encode_raw(0x0102, DataType.UINT16, ByteOrder.CDAB) == [0x0102]
    assert encode_raw(0x0102, DataType.UINT16, ByteOrder.BADC) == [0x0201]
    assert encode_raw(0x0102, DataType.UINT16, ByteOrder.DCBA) == [0x0201]


def make_tag(type_: str, scale: float = 1.0, offset: float = 0.0, order: str = "ABCD") -> ModbusTag:
    table = "coil" if type_ == "bool" else "holding"
    return ModbusTag(
        name="t",
        table=RegisterTable(table),
        address=0,
        type=DataType(type_),
        order=ByteOrder(order),
        scale=scale,
        offset=offset,
    )


def test_scale_and_offset_give_the_raw_value() -> None:
    tag = make_tag("int16", scale=0.1, offset=-40)
    assert to_raw(tag, 25.3) == 653  # (25.3 + 40) / 0.1
    assert decode_raw(tag, 653) == pytest.approx(25.3)
    assert to_raw(make_tag("float32", scale=2, offset=1), 11) == 5.0


def test_integers_round_to_nearest() -> None:
    tag = make_tag("int32", scale=0.01)
    assert to_raw(tag, 1.234) == 123
    assert to_raw(tag, 1.236) == 124
    assert to_raw(tag, -1.236) == -124


@pytest.mark.parametrize(
    ("type_", "value", "raw"),
    [
        ("int16", 40000, 32767),
        ("int16", -40000, -32768),
        ("uint16", -1, 0),
        ("uint16", 70000, 65535),
        ("uint32", 1e12, 2**32 - 1),
        ("int64", -1e30, -(2**63)),
        ("uint64", 1e30, 2**64 - 1),
        ("int16", math.inf, 32767),
        ("int16", -math.inf, -32768),
        ("uint16", math.nan, 0),
    ],
)
def test_integers_clamp_to_their_type(type_: str, value: float, raw: int) -> None:
    assert to_raw(make_tag(type_), value) == raw


def test_float32_clamps_to_its_range() -> None:
    assert to_raw(make_tag("float32"), 1e300) == pytest.approx(3.4028234663852886e38)
    registers = encode_value(make_tag("float32"), -1e300)
    assert math.isfinite(independent_decode(registers, DataType.FLOAT32, ByteOrder.ABCD))


def test_bool_is_on_above_zero() -> None:
    tag = make_tag("bool")
    assert [to_raw(tag, v) for v in (-1, 0, 0.001, 1, 5)] == [False, False, True, True, True]
    assert decode_raw(tag, True) is True
    with pytest.raises(ValueError, match="bit"):
        encode_raw(True, DataType.BOOL, ByteOrder.ABCD)


def test_decode_raw_is_what_a_reader_computes() -> None:
    assert decode_raw(make_tag("uint32"), 7) == 7
    assert isinstance(decode_raw(make_tag("uint32"), 7), int)
    f32 = decode_raw(make_tag("float32"), 0.1)
    assert f32 == struct.unpack(">f", struct.pack(">f", 0.1))[0]
    assert f32 != 0.1
    assert decode_raw(make_tag("uint16", scale=0.5, offset=3), 10) == 8.0


@pytest.mark.parametrize("order", list(ByteOrder))
def test_encode_value_applies_scale_then_order(order: ByteOrder) -> None:
    tag = make_tag("int32", scale=0.001, order=order.value)
    registers = encode_value(tag, -12.345)
    assert independent_decode(registers, DataType.INT32, order) == -12345
