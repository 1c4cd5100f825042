"""`nexus scenario run --json` on the local target: the result on the last line of stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus.cli.main import main

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_run_prints_the_result_as_json_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--log-level",
            "WARNING",
            "scenario",
            "run",
            str(SCENARIOS / "steady-state.yaml"),
            "--json",
            "--scale",
            "0.1",
            "--report-dir",
            str(tmp_path),
        ]
    )
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert code == 0, captured.err[-3000:]
    assert result["scenario"] == "steady-state"
    assert result["passed"] is True
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["delivered"] > 0
    assert set(result) == {
        "scenario", "passed", "delivered", "lost", "duplicates", "latency_p99_ms", "max_gap_s"
    }  # fmt: skip
    assert "published" in captured.err  # the progress lines
    [report] = tmp_path.glob("steady-state-*/report.html")
    assert "<svg" in report.read_text()
