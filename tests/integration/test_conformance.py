"""`nexus conformance --json`: every protocol × data type cell passes against a fresh twin."""

from __future__ import annotations

import json

import pytest

from nexus.cli.main import main

pytestmark = pytest.mark.integration

TYPES = {
    "modbus": {
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
    },
    "opcua": {
        "Boolean",
        "SByte",
        "Byte",
        "Int16",
        "UInt16",
        "Int32",
        "UInt32",
        "Int64",
        "UInt64",
        "Float",
        "Double",
        "String",
    },
    "s7": {"BOOL", "BYTE", "WORD", "DWORD", "INT", "DINT", "REAL", "LREAL", "STRING"},
}


def test_conformance_json_reports_zero_failures_for_every_protocol(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["--log-level", "WARNING", "conformance", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert set(summary) == set(TYPES)
    for protocol, types in TYPES.items():
        assert summary[protocol]["failed"] == 0, summary[protocol]
        assert summary[protocol]["passed"] > 50
        assert types <= set(summary[protocol]["types"])
    assert code == 0
