"""The conformance check's comparison: exact values of the same JSON kind."""

from __future__ import annotations

import math

import pytest

from nexus.conformance import Cell, CellResult, Report, conformance_plant
from nexus.conformance.report import same_value
from nexus.model.payload import PointPayload, Quality, Value


@pytest.mark.parametrize(
    ("expected", "got", "same"),
    [
        (math.nan, math.nan, True),
        (math.inf, math.inf, True),
        (math.inf, -math.inf, False),
        (1.5, 1.5, True),
        (1.0, 1, False),  # an int published for a float
        (1, True, False),  # a bool is not a number
        (True, True, True),
        (2**64 - 1, 2**64 - 1, True),
        ("Grüße", "Grüße", True),
        ("", None, False),
        (None, None, True),
    ],
)
def test_same_value(expected: Value, got: Value, same: bool) -> None:
    assert same_value(expected, got) is same


def point(v: Value, q: str = "good") -> PointPayload:
    return PointPayload(v=v, q=q, ts=1, seq=1, gw="g")


def test_results_count_quality_and_missing_points() -> None:
    good = Cell("s7", "REAL", "DB", "nan", "d", "a", math.nan)
    bad = Cell("opcua", "Double", "polling/bad", "max", "o", "b", None, Quality.BAD)
    report = Report(
        [
            CellResult(good, point(math.nan)),
            CellResult(bad, point(None, "uncertain")),
            CellResult(bad, None),
        ]
    )
    assert report.summary() == {
        "opcua": {"passed": 0, "failed": 2, "types": ["Double"]},
        "s7": {"passed": 1, "failed": 0, "types": ["REAL"]},
    }
    assert not report.ok
    assert "nothing published" in report.table()
    assert "published None (uncertain)" in report.table()


def test_the_matrix_covers_every_type_order_and_status() -> None:
    _, cells = conformance_plant()
    by = {(c.protocol, c.data_type) for c in cells}
    assert {t for p, t in by if p == "modbus"} == {
        "bool",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "float32",
        "float64",
        "string",
    }
    assert {c.variant for c in cells if c.protocol == "modbus" and c.data_type == "float32"} == {
        "ABCD",
        "DCBA",
        "BADC",
        "CDAB",
    }
    assert {c.variant for c in cells if c.protocol == "opcua"} == {
        f"{mode}/{status}"
        for mode in ("subscription", "polling")
        for status in ("good", "uncertain", "bad")
    }
    assert {t for p, t in by if p == "s7"} >= {
        "BOOL",
        "BYTE",
        "WORD",
        "DWORD",
        "INT",
        "DINT",
        "REAL",
        "LREAL",
        "STRING",
    }
    cases = {c.case for c in cells}
    assert {"min", "max", "nan", "inf", "neg-inf", "negative", "empty", "non-ascii"} <= cases
    assert len({c.topic for c in cells}) == len(cells)


TYPES = {(c.protocol, c.data_type) for c in conformance_plant()[1]}


def test_the_human_table_names_every_type() -> None:
    _, cells = conformance_plant()
    table = Report(
        [
            CellResult(c, PointPayload(v=c.expected, q=c.quality.label, ts=1, seq=1, gw="g"))
            for c in cells
        ]
    ).table()
    for protocol, types in {p: {t for q, t in TYPES if q == p} for p, _ in TYPES}.items():
        for data_type in types:
            assert any(line.split()[:2] == [protocol, data_type] for line in table.splitlines()), (
                protocol,
                data_type,
            )
    assert "0 failed" in table
