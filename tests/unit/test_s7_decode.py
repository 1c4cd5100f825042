"""Gateway S7 decoding, checked against bytes written by python-snap7's own setters."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from snap7 import util

from nexus.gateway.s7.adapter import CPU_RUN, CPU_STOP, cpu_state_of, split_items
from nexus.gateway.s7.decode import decode_value
from nexus.model.s7address import parse_s7_address

SETTERS: dict[str, Callable[..., Any]] = {
    "BYTE": util.set_byte,
    "USINT": util.set_usint,
    "SINT": util.set_sint,
    "WORD": util.set_word,
    "UINT": util.set_uint,
    "INT": util.set_int,
    "DWORD": util.set_dword,
    "UDINT": util.set_udint,
    "DINT": util.set_dint,
    "LWORD": util.set_lword,
    "ULINT": util.set_ulint,
    "LINT": util.set_lint,
    "REAL": util.set_real,
    "LREAL": util.set_lreal,
}
WIDTH = {1: "B", 2: "W", 4: "D", 8: "D"}
CASES: list[tuple[str, int, float]] = [
    ("BYTE", 1, 255),
    ("USINT", 1, 7),
    ("SINT", 1, -128),
    ("WORD", 2, 65535),
    ("UINT", 2, 40000),
    ("INT", 2, -32768),
    ("DWORD", 4, 2**32 - 1),
    ("UDINT", 4, 3_000_000_000),
    ("DINT", 4, -(2**31)),
    ("LWORD", 8, 2**64 - 1),
    ("ULINT", 8, 2**63 + 5),
    ("LINT", 8, -(2**63)),
    ("REAL", 4, -1.5),
    ("REAL", 4, math.inf),
    ("LREAL", 8, -1234.5678),
    ("LREAL", 8, 5e-324),
]


@pytest.mark.parametrize(("type_", "size", "value"), CASES)
def test_numbers_decode_as_snap7_encodes_them(type_: str, size: int, value: float) -> None:
    buffer = bytearray(size)
    SETTERS[type_](buffer, 0, value)
    got = decode_value(parse_s7_address(f"DB1.DB{WIDTH[size]}0:{type_}"), bytes(buffer))
    assert got == value
    assert type(got) is (float if type_ in ("REAL", "LREAL") else int)


def test_nan() -> None:
    buffer = bytearray(4)
    util.set_real(buffer, 0, math.nan)
    got = decode_value(parse_s7_address("MD0:REAL"), bytes(buffer))
    assert isinstance(got, float)
    assert math.isnan(got)


def test_bools_read_their_own_bit() -> None:
    buffer = bytearray(1)
    util.set_bool(buffer, 0, 5, True)
    for bit in range(8):
        assert decode_value(parse_s7_address(f"M0.{bit}:BOOL"), bytes(buffer)) is (bit == 5)


@pytest.mark.parametrize("text", ["", "Line 7", "Grüße °C ±5", "ABCDEFGHIJKLMNOPQRST"])
def test_strings(text: str) -> None:
    buffer = bytearray(22)
    util.set_string(buffer, 0, text, 20)
    assert decode_value(parse_s7_address("DB1.DBB0:STRING[20]"), bytes(buffer)) == text


@pytest.mark.parametrize("text", ["", "温度 Grüße", "ABCDEFGHIJ"])
def test_wstrings(text: str) -> None:
    buffer = bytearray(24)
    util.set_wstring(buffer, 0, text, 10)
    assert decode_value(parse_s7_address("DB1.DBB0:WSTRING[10]"), bytes(buffer)) == text


def test_a_string_longer_than_declared_is_cut() -> None:
    data = bytes([4, 9]) + b"ABCDEFGHI"[:4]
    assert decode_value(parse_s7_address("DB1.DBB0:STRING[4]"), data) == "ABCD"


def test_split_items_reads_each_return_code_and_skips_fill_bytes() -> None:
    data = (
        bytes([0xFF, 0x04, 0x00, 0x18])
        + b"abc"
        + b"\0"  # 3 bytes (24 bits) and a fill byte
        + bytes([0x0A, 0x00, 0x00, 0x00])  # refused: object does not exist
        + bytes([0xFF, 0x09, 0x00, 0x02])
        + b"de"  # octet string: length in bytes
        + bytes([0xFF, 0x03, 0x00, 0x01])
        + b"\x01"  # one bit
    )
    assert split_items(data, 4) == [b"abc", None, b"de", b"\x01"]
    with pytest.raises(ValueError, match="truncated"):
        split_items(data[:6], 1)


def test_cpu_state_from_szl_0424() -> None:
    header = bytes([0, 20, 0, 1])
    assert cpu_state_of(header + bytes([0x43, 0x00, 0xFF, 0x08]) + bytes(16)) == CPU_RUN
    assert cpu_state_of(header + bytes([0x43, 0x00, 0xFF, 0x04]) + bytes(16)) == CPU_STOP
    assert cpu_state_of(header + bytes([0x43, 0x00, 0xFF, 0x03]) + bytes(16)) == CPU_STOP
    with pytest.raises(ValueError, match="too short"):
        cpu_state_of(header)
