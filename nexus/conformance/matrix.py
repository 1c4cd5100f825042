"""The cells of the conformance matrix, and the plant that serves them.

Every cell is one tag whose twin serves one known value, constant: the expected value is that
literal (not computed by the twin's code), and for OPC UA the expected quality follows the
StatusCode the twin serves. Edge values: each integer type's min and max, floats' largest,
lowest, a negative, the smallest subnormal, NaN and ±infinity, strings empty, ASCII, non-ASCII
and filled to their length.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from nexus.model.payload import Quality, Value, point_topic

SITE = "conformance"
LINE = "matrix"

FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_CASES: list[tuple[str, float]] = [
    ("max", FLOAT32_MAX),
    ("lowest", -FLOAT32_MAX),
    ("negative", -1.5),
    ("subnormal", 1.401298464324817e-45),
    ("zero", 0.0),
    ("nan", math.nan),
    ("inf", math.inf),
    ("neg-inf", -math.inf),
]
FLOAT64_CASES: list[tuple[str, float]] = [
    ("max", sys.float_info.max),
    ("lowest", -sys.float_info.max),
    ("negative", -1234.5678),
    ("subnormal", 5e-324),
    ("zero", 0.0),
    ("nan", math.nan),
    ("inf", math.inf),
    ("neg-inf", -math.inf),
]
STRING_LENGTH = 20
UTF8_CASES: list[tuple[str, str]] = [
    ("empty", ""),
    ("ascii", "Line 7"),
    ("non-ascii", "温度 Grüße °C"),
    ("full", "ABCDEFGHIJKLMNOPQRST"),
]
LATIN1_CASES: list[tuple[str, str]] = [
    ("empty", ""),
    ("ascii", "Line 7"),
    ("non-ascii", "Grüße °C ±5 µm"),
    ("full", "ABCDEFGHIJKLMNOPQRST"),
]
WSTRING_CASES: list[tuple[str, str]] = [
    ("empty", ""),
    ("ascii", "Line 7"),
    ("non-ascii", "温度 Grüße °C"),
    ("full", "ABCDEFGHIJKLMNOPQRST"),
]
BOOL_CASES: list[tuple[str, bool]] = [("true", True), ("false", False)]


def _int_cases(bits: int, signed: bool) -> list[tuple[str, int]]:
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return [("min", lo), ("max", hi), ("minus-one", -1), ("zero", 0)]
    return [("min", 0), ("max", (1 << bits) - 1), ("one", 1)]


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell: a tag of the conformance twin, what it serves and what must be published."""

    protocol: str
    data_type: str
    variant: str
    case: str
    device: str
    tag: str
    expected: Value
    quality: Quality = Quality.GOOD

    @property
    def topic(self) -> str:
        return point_topic(SITE, LINE, self.device, self.tag)


def _signal(value: Value) -> dict[str, Any]:
    if isinstance(value, str):
        return {"kind": "text", "values": [value]}
    if isinstance(value, bool):
        return {"kind": "constant", "value": 1 if value else 0}
    return {"kind": "constant", "value": value}


# -- Modbus -------------------------------------------------------------------------------------

MODBUS_TYPES: dict[str, tuple[int, list[tuple[str, Any]]]] = {
    "int16": (1, _int_cases(16, True)),
    "uint16": (1, _int_cases(16, False)),
    "int32": (2, _int_cases(32, True)),
    "uint32": (2, _int_cases(32, False)),
    "int64": (4, _int_cases(64, True)),
    "uint64": (4, _int_cases(64, False)),
    "float32": (2, FLOAT32_CASES),
    "float64": (4, FLOAT64_CASES),
}


def _modbus(cells: list[Cell]) -> dict[str, Any]:
    device = "modbus-01"
    tags: list[dict[str, Any]] = []
    next_address = {"holding": 0, "input": 0}

    def add(tag: dict[str, Any], cell: Cell, width: int) -> None:
        table = tag["table"]
        tag["address"] = next_address[table]
        next_address[table] += width
        tags.append(tag)
        cells.append(cell)

    for data_type, (width, cases) in MODBUS_TYPES.items():
        for order in ("ABCD", "DCBA", "BADC", "CDAB"):
            table = "holding" if order in ("ABCD", "CDAB") else "input"
            for case, value in cases:
                name = f"{data_type}_{order}_{case}"
                add(
                    {
                        "name": name,
                        "table": table,
                        "type": data_type,
                        "order": order,
                        "signal": _signal(value),
                    },
                    Cell("modbus", data_type, order, case, device, name, value),
                    width,
                )
    for order in ("ABCD", "BADC"):
        for case, text in UTF8_CASES:
            name = f"string_{order}_{case}"
            add(
                {
                    "name": name,
                    "table": "holding",
                    "type": "string",
                    "order": order,
                    "length": STRING_LENGTH,
                    "signal": _signal(text),
                },
                Cell("modbus", "string", order, case, device, name, text),
                (STRING_LENGTH + 1) // 2,
            )
    # scale and offset: raw 600 · 0.1 − 40
    scaled = 600 * 0.1 - 40
    add(
        {
            "name": "int16_scaled",
            "table": "holding",
            "type": "int16",
            "scale": 0.1,
            "offset": -40,
            "signal": _signal(scaled),
        },
        Cell("modbus", "int16", "ABCD", "scaled", device, "int16_scaled", scaled),
        1,
    )
    for table in ("coil", "discrete_input"):
        for address, (case, value) in enumerate(BOOL_CASES):
            name = f"bool_{table}_{case}"
            tags.append(
                {
                    "name": name,
                    "table": table,
                    "address": address,
                    "type": "bool",
                    "signal": _signal(value),
                }
            )
            cells.append(Cell("modbus", "bool", table, case, device, name, value))
    return {
        "name": device,
        "protocol": "modbus",
        "unit_id": 7,
        "poll_interval_ms": 200,
        "tags": tags,
    }


# -- OPC UA -------------------------------------------------------------------------------------

OPCUA_TYPES: dict[str, list[tuple[str, Any]]] = {
    "Boolean": list(BOOL_CASES),
    "SByte": _int_cases(8, True),
    "Byte": _int_cases(8, False),
    "Int16": _int_cases(16, True),
    "UInt16": _int_cases(16, False),
    "Int32": _int_cases(32, True),
    "UInt32": _int_cases(32, False),
    "Int64": _int_cases(64, True),
    "UInt64": _int_cases(64, False),
    "Float": FLOAT32_CASES,
    "Double": FLOAT64_CASES,
    "String": UTF8_CASES,
}
STATUS_QUALITY = {"good": Quality.GOOD, "uncertain": Quality.UNCERTAIN, "bad": Quality.BAD}


def _opcua(cells: list[Cell], mode: str) -> dict[str, Any]:
    device = f"opcua-{mode}"
    tags: list[dict[str, Any]] = []
    for data_type, cases in OPCUA_TYPES.items():
        for status, quality in STATUS_QUALITY.items():
            for case, value in cases:
                name = f"{data_type}_{status}_{case}"
                tags.append(
                    {"name": name, "type": data_type, "status": status, "signal": _signal(value)}
                )
                expected = None if quality is Quality.BAD else value
                cells.append(
                    Cell(
                        "opcua",
                        data_type,
                        f"{mode}/{status}",
                        case,
                        device,
                        name,
                        expected,
                        quality,
                    )
                )
    return {
        "name": device,
        "protocol": "opcua",
        "mode": mode,
        "poll_interval_ms": 200,
        "tags": tags,
    }


# -- S7 -----------------------------------------------------------------------------------------

S7_TYPES: dict[str, tuple[int, list[tuple[str, Any]]]] = {
    "BYTE": (1, _int_cases(8, False)),
    "USINT": (1, _int_cases(8, False)),
    "SINT": (1, _int_cases(8, True)),
    "WORD": (2, _int_cases(16, False)),
    "UINT": (2, _int_cases(16, False)),
    "INT": (2, _int_cases(16, True)),
    "DWORD": (4, _int_cases(32, False)),
    "UDINT": (4, _int_cases(32, False)),
    "DINT": (4, _int_cases(32, True)),
    "LWORD": (8, _int_cases(64, False)),
    "ULINT": (8, _int_cases(64, False)),
    "LINT": (8, _int_cases(64, True)),
    "REAL": (4, FLOAT32_CASES),
    "LREAL": (8, FLOAT64_CASES),
}
_WIDTH_LETTER = {1: "B", 2: "W", 4: "D", 8: "D"}


def _s7(cells: list[Cell]) -> dict[str, Any]:
    device = "s7-01"
    tags: list[dict[str, Any]] = []
    offset = 0

    def add(name: str, address: str, data_type: str, variant: str, case: str, value: Any) -> None:
        tags.append({"name": name, "address": address, "signal": _signal(value)})
        cells.append(Cell("s7", data_type, variant, case, device, name, value))

    for data_type, (size, cases) in S7_TYPES.items():
        for case, value in cases:
            offset += offset % 2 if size > 1 else 0  # words start at even bytes
            add(
                f"{data_type}_{case}",
                f"DB1.DB{_WIDTH_LETTER[size]}{offset}:{data_type}",
                data_type,
                "DB",
                case,
                value,
            )
            offset += size
    for data_type, cases, size in (
        ("STRING", LATIN1_CASES, 2 + STRING_LENGTH),
        ("WSTRING", WSTRING_CASES, 4 + 2 * STRING_LENGTH),
    ):
        for case, text in cases:
            offset += offset % 2
            add(
                f"{data_type}_{case}",
                f"DB1.DBB{offset}:{data_type}[{STRING_LENGTH}]",
                data_type,
                "DB",
                case,
                text,
            )
            offset += size
    offset += offset % 2
    for bit, (case, value) in zip((0, 3, 5, 7), BOOL_CASES * 2, strict=True):
        add(
            f"BOOL_DB_{case}_{bit}",
            f"DB1.DBX{offset}.{bit}:BOOL",
            "BOOL",
            "DB",
            f"{case}-bit{bit}",
            value,
        )
    # the M (flags), I (inputs) and Q (outputs) areas
    add("INT_M_min", "MW10:INT", "INT", "M", "min", -32768)
    add("REAL_M_negative", "MD12:REAL", "REAL", "M", "negative", -1.5)
    add("BOOL_M_true", "M20.7:BOOL", "BOOL", "M", "true", True)
    add("BOOL_I_true", "I0.1:BOOL", "BOOL", "I", "true", True)
    add("BOOL_I_false", "I0.2:BOOL", "BOOL", "I", "false", False)
    add("WORD_I_max", "IW2:WORD", "WORD", "I", "max", 65535)
    add("BOOL_Q_true", "Q1.0:BOOL", "BOOL", "Q", "true", True)
    add("DINT_Q_min", "QD4:DINT", "DINT", "Q", "min", -(1 << 31))
    return {"name": device, "protocol": "s7", "poll_interval_ms": 200, "tags": tags}


def conformance_plant() -> tuple[dict[str, Any], list[Cell]]:
    """The plant file (as data, every port chosen when the fleet starts) and its cells."""
    cells: list[Cell] = []
    devices = [_modbus(cells), _opcua(cells, "subscription"), _opcua(cells, "polling"), _s7(cells)]
    plant = {
        "plant": "conformance",
        "seed": 0,
        "modbus": {"host": "127.0.0.1", "base_port": 0},
        "opcua": {"host": "127.0.0.1", "base_port": 0, "update_interval_ms": 1000},
        "s7": {"host": "127.0.0.1", "base_port": 0},
        "sites": [{"name": SITE, "lines": [{"name": LINE, "devices": devices}]}],
    }
    return plant, cells
