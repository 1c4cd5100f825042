"""S7 addresses as people write them: parsed, normalised, and refused with a reason."""

from __future__ import annotations

import pytest

from nexus.model.s7address import S7Area, S7Type, parse_s7_address


@pytest.mark.parametrize(
    ("text", "area", "db", "start", "bit", "type_", "size", "canonical"),
    [
        ("DB1.DBD0:REAL", S7Area.DB, 1, 0, 0, S7Type.REAL, 4, "DB1.DBD0:REAL"),
        ("db1.dbx4.0:bool", S7Area.DB, 1, 4, 0, S7Type.BOOL, 1, "DB1.DBX4.0:BOOL"),
        ("MW10:INT", S7Area.M, 0, 10, 0, S7Type.INT, 2, "MW10:INT"),
        ("M10.3:BOOL", S7Area.M, 0, 10, 3, S7Type.BOOL, 1, "M10.3:BOOL"),
        ("I0.1:BOOL", S7Area.I, 0, 0, 1, S7Type.BOOL, 1, "I0.1:BOOL"),
        ("E0.1:BOOL", S7Area.I, 0, 0, 1, S7Type.BOOL, 1, "I0.1:BOOL"),
        ("QB3:BYTE", S7Area.Q, 0, 3, 0, S7Type.BYTE, 1, "QB3:BYTE"),
        ("AW4:WORD", S7Area.Q, 0, 4, 0, S7Type.WORD, 2, "QW4:WORD"),
        ("DB7.DBD8:LREAL", S7Area.DB, 7, 8, 0, S7Type.LREAL, 8, "DB7.DBB8:LREAL"),
        ("DB2.DBB0:STRING[20]", S7Area.DB, 2, 0, 0, S7Type.STRING, 22, "DB2.DBB0:STRING[20]"),
        ("DB2.DBB30:WSTRING[10]", S7Area.DB, 2, 30, 0, S7Type.WSTRING, 24, "DB2.DBB30:WSTRING[10]"),
        ("MD100:DINT", S7Area.M, 0, 100, 0, S7Type.DINT, 4, "MD100:DINT"),
    ],
)
def test_valid_addresses(
    text: str,
    area: S7Area,
    db: int,
    start: int,
    bit: int,
    type_: S7Type,
    size: int,
    canonical: str,
) -> None:
    address = parse_s7_address(text)
    assert (address.area, address.db, address.start, address.bit, address.type) == (
        area,
        db,
        start,
        bit,
        type_,
    )
    assert address.size == size
    assert str(address) == canonical
    assert parse_s7_address(str(address)) == address


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("DB1.DBW0:REAL", "REAL is 4 bytes: use D, not W"),
        ("DB1.DBX4:BOOL", "needs a bit number"),
        ("DB1.DBX4.8:BOOL", "bit 8 is outside 0–7"),
        ("DB1.DBW4.1:INT", "only a BOOL takes a bit number"),
        ("DB1.DBD0:FLOAT", "unknown S7 type"),
        ("DB0.DBB0:BYTE", "data block number 0"),
        ("DB1.DBB0:STRING", "needs its length"),
        ("DB1.DBB0:STRING[255]", "length must be 1–254"),
        ("DB1.DBW0:INT[2]", "only STRING and WSTRING take a length"),
        ("M10:INT", "give the access width"),
        ("MX10:INT", "X addresses a bit"),
        ("DB1.DBW0:LREAL", "use B or D, not W"),
        ("DB1.DBD65534:DINT", "runs past byte 65535"),
        ("DB1 DBD0:REAL", "is not an S7 address"),
        ("V10:INT", "is not an S7 address"),
    ],
)
def test_invalid_addresses_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_s7_address(text)
