"""S7 addresses as people write them: ``DB1.DBD0:REAL``, ``DB1.DBX4.0:BOOL``, ``MW10:INT``.

Grammar (case-insensitive, spaces not allowed)::

    DB<n>.DB<w><byte>[.<bit>]:<TYPE>      data block n
    <area><w><byte>[.<bit>]:<TYPE>        area M (flags), I/E (inputs), Q/A (outputs)
    <area><byte>.<bit>:BOOL               short form of a bit: M10.3:BOOL, I0.1:BOOL

<w> is the access width: X bit, B byte, W word (2 bytes), D double word (4 bytes). It must agree
with the type where S7 has one: X for BOOL, B for 1-byte types, W for 2-byte types, D for 4-byte
types; 8-byte types (LREAL, LINT, ULINT, LWORD) and strings take B or D (their start byte).
``STRING[n]`` holds up to n single-byte characters (1–254; 2 + n bytes: max length, actual length,
characters); ``WSTRING[n]`` up to n UTF-16 characters (4 + 2n bytes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class S7Area(StrEnum):
    DB = "DB"
    M = "M"
    I = "I"  # noqa: E741 - the S7 name of the inputs area
    Q = "Q"


class S7Type(StrEnum):
    BOOL = "BOOL"
    BYTE = "BYTE"
    WORD = "WORD"
    DWORD = "DWORD"
    LWORD = "LWORD"
    SINT = "SINT"
    USINT = "USINT"
    INT = "INT"
    UINT = "UINT"
    DINT = "DINT"
    UDINT = "UDINT"
    LINT = "LINT"
    ULINT = "ULINT"
    REAL = "REAL"
    LREAL = "LREAL"
    STRING = "STRING"
    WSTRING = "WSTRING"

    @property
    def is_string(self) -> bool:
        return self in (S7Type.STRING, S7Type.WSTRING)


FIXED_SIZE: dict[S7Type, int] = {
    S7Type.BOOL: 1,
    S7Type.BYTE: 1,
    S7Type.SINT: 1,
    S7Type.USINT: 1,
    S7Type.WORD: 2,
    S7Type.INT: 2,
    S7Type.UINT: 2,
    S7Type.DWORD: 4,
    S7Type.DINT: 4,
    S7Type.UDINT: 4,
    S7Type.REAL: 4,
    S7Type.LWORD: 8,
    S7Type.LINT: 8,
    S7Type.ULINT: 8,
    S7Type.LREAL: 8,
}
"""Bytes of every type but the strings (a BOOL occupies one bit of one byte)."""

_AREA_ALIASES = {"DB": S7Area.DB, "M": S7Area.M, "I": S7Area.I, "E": S7Area.I, "Q": S7Area.Q}
_AREA_ALIASES["A"] = S7Area.Q
_WIDTH_BYTES = {"B": 1, "W": 2, "D": 4}

_PATTERN = re.compile(
    r"""^(?:DB(?P<db>\d+)\.DB(?P<dbw>[XBWD])|(?P<area>[MIEQA])(?P<w>[XBWD]?))
        (?P<byte>\d+)(?:\.(?P<bit>\d+))?
        :(?P<type>[A-Z]+)(?:\[(?P<length>\d+)\])?$""",
    re.VERBOSE | re.IGNORECASE,
)

STRING_MAX = 254
WSTRING_MAX = 16382


@dataclass(frozen=True, slots=True)
class S7Address:
    """Where a value lives in the PLC and how it is encoded."""

    area: S7Area
    db: int
    start: int
    bit: int
    type: S7Type
    length: int = 0
    """Declared characters of a STRING/WSTRING (0 for other types)."""

    @property
    def size(self) -> int:
        """Bytes the value occupies from `start`."""
        if self.type is S7Type.STRING:
            return 2 + self.length
        if self.type is S7Type.WSTRING:
            return 4 + 2 * self.length
        return FIXED_SIZE[self.type]

    @property
    def end(self) -> int:
        return self.start + self.size

    def __str__(self) -> str:
        suffix = f"[{self.length}]" if self.type.is_string else ""
        width = _width_letter(self.type)
        bit = f".{self.bit}" if self.type is S7Type.BOOL else ""
        if self.area is S7Area.DB:
            place = f"DB{self.db}.DB{width}"
        else:  # M10.3, MW10: the bit needs no X outside data blocks
            place = self.area.value + ("" if self.type is S7Type.BOOL else width)
        return f"{place}{self.start}{bit}:{self.type.value}{suffix}"


def _width_letter(data_type: S7Type) -> str:
    if data_type is S7Type.BOOL:
        return "X"
    size = FIXED_SIZE.get(data_type, 1)
    return {1: "B", 2: "W", 4: "D"}.get(size, "B")


def parse_s7_address(text: str) -> S7Address:
    """Parse an S7 address; ValueError with a plain message when it is not valid."""
    match = _PATTERN.match(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not an S7 address (e.g. DB1.DBD0:REAL, DB1.DBX4.0:BOOL, MW10:INT, "
            "DB2.DBB0:STRING[20])"
        )
    try:
        data_type = S7Type(match["type"].upper())
    except ValueError:
        raise ValueError(
            f"unknown S7 type {match['type']!r} ({', '.join(t.value for t in S7Type)})"
        ) from None
    if match["db"] is not None:
        area, db, width = S7Area.DB, int(match["db"]), match["dbw"].upper()
        if db < 1 or db > 65535:
            raise ValueError(f"data block number {db} is outside 1–65535")
    else:
        area, db, width = _AREA_ALIASES[match["area"].upper()], 0, match["w"].upper()
    start = int(match["byte"])
    if start > 65535:
        raise ValueError(f"byte offset {start} is outside 0–65535")
    bit_text, length_text = match["bit"], match["length"]
    if data_type is S7Type.BOOL:
        if bit_text is None:
            raise ValueError(f"{text!r}: a BOOL needs a bit number (e.g. DB1.DBX4.0:BOOL)")
        if width not in ("", "X"):
            raise ValueError(f"{text!r}: a BOOL is addressed with X (e.g. DB1.DBX4.0), not {width}")
        bit = int(bit_text)
        if bit > 7:
            raise ValueError(f"{text!r}: bit {bit} is outside 0–7")
    else:
        if bit_text is not None:
            raise ValueError(f"{text!r}: only a BOOL takes a bit number")
        bit = 0
        _check_width(text, data_type, width)
    length = 0
    if data_type.is_string:
        if length_text is None:
            raise ValueError(f"{text!r}: a {data_type.value} needs its length, e.g. STRING[20]")
        length = int(length_text)
        limit = STRING_MAX if data_type is S7Type.STRING else WSTRING_MAX
        if not 1 <= length <= limit:
            raise ValueError(f"{text!r}: {data_type.value} length must be 1–{limit}")
    elif length_text is not None:
        raise ValueError(f"{text!r}: only STRING and WSTRING take a length")
    address = S7Address(area, db, start, bit, data_type, length)
    if address.end > 65536:
        raise ValueError(f"{text!r} runs past byte 65535")
    return address


def _check_width(text: str, data_type: S7Type, width: str) -> None:
    if width == "X":
        raise ValueError(f"{text!r}: X addresses a bit; {data_type.value} needs B, W or D")
    if width == "":
        raise ValueError(
            f"{text!r}: give the access width, e.g. M{_width_letter(data_type)}10:{data_type.value}"
        )
    size = FIXED_SIZE.get(data_type)
    if size in (1, 2, 4) and _WIDTH_BYTES[width] != size:
        raise ValueError(
            f"{text!r}: {data_type.value} is {size} byte{'s' if size > 1 else ''}: "
            f"use {_width_letter(data_type)}, not {width}"
        )
    if (size == 8 or data_type.is_string) and width == "W":
        raise ValueError(f"{text!r}: {data_type.value} starts at a byte: use B or D, not W")
