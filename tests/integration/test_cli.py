"""Invalid configuration files fail with exit code 2 and name the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.cli.main import main
from tests.integration.helpers import all_types_tags, write_plant

DEVICE_FILE = """\
devices:
  - name: press-01
    site: s1
    line: l1
    port: 5020
    tags:
      - {name: temperature, address: 0, type: float32}
      - {name: pressure, address: 2, type: float128}
"""


def test_invalid_device_file_exits_2_naming_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(DEVICE_FILE, encoding="utf-8")
    assert main(["gateway", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:8" in err
    assert "devices[0].tags[1].type" in err
    assert "float128" in err or "Input should be" in err


def test_valid_device_file_from_a_plant_passes_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plant = write_plant(
        tmp_path / "plant.yaml",
        [{"name": "p", "count": 3, "protocol": "modbus", "tags": all_types_tags("holding")}],
    )
    devices = tmp_path / "devices.yaml"
    assert main(["sim", "devices", str(tmp_path / "plant.yaml"), "-o", str(devices)]) == 0
    assert main(["gateway", "check", str(devices)]) == 0
    assert f"{plant.device_count} devices, {plant.tag_count} tags" in capsys.readouterr().out


def test_invalid_plant_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(
        "plant: p\nseed: 1\nsites:\n  - name: s\n    lines:\n      - name: l\n        devices:\n"
        "          - name: d\n            protocol: modbus\n            tags:\n"
        "              - {name: t, address: 0, signal: {kind: warp}}\n",
        encoding="utf-8",
    )
    assert main(["sim", "devices", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "signal" in err


def test_missing_database_setting_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NEXUS_DB_DSN", raising=False)
    assert main(["ingest", "run"]) == 2
    assert "NEXUS_DB_DSN" in capsys.readouterr().err
