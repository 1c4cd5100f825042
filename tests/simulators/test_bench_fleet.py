"""`make bench-fleet` at a tiny scale: the JSON line's structure, every device answered.

Not a timed assertion: the figures depend on the machine; only their presence and sanity are
checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.fleet import PROTOCOLS, plant_data
from simulators.plant import Plant

REPO = Path(__file__).resolve().parents[2]
COUNTS = {"modbus": 5, "opcua": 2, "s7": 2}

FIGURES = (
    "req_per_s",
    "tags_per_s",
    "p50_ms",
    "p95_ms",
    "errors",
    "cpu_s",
    "cpu_pct",
    "cpu_ms_per_req",
    "client_cpu_pct",
)


def test_the_bench_plant_has_ten_tags_per_device() -> None:
    plant = Plant.model_validate(plant_data({"modbus": 3, "opcua": 2, "s7": 1}, 30000))
    devices = plant.devices()
    assert [d.protocol for d in devices] == ["modbus"] * 3 + ["opcua"] * 2 + ["s7"]
    assert all(len(d.tags) == 10 for d in devices)
    assert [d.port for d in devices] == list(range(30000, 30006))


def test_bench_fleet_at_a_tiny_scale() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.fleet",
            "--modbus",
            str(COUNTS["modbus"]),
            "--opcua",
            str(COUNTS["opcua"]),
            "--s7",
            str(COUNTS["s7"]),
            "--duration",
            "2",
            "--concurrency",
            "4",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fleet modbus:" in done.stderr  # progress is printed
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert result["modbus_devices"] == COUNTS["modbus"]
    assert result["opcua_servers"] == COUNTS["opcua"]
    assert result["s7_plcs"] == COUNTS["s7"]
    assert result["tags"] == 10 * sum(COUNTS.values())
    assert result["errors"] == 0
    for protocol in PROTOCOLS:
        assert result[f"{protocol}_answered"] == COUNTS[protocol]  # every device answered
        for figure in FIGURES:
            assert f"{protocol}_{figure}" in result
            assert f"{protocol}_baseline_{figure}" in result
        assert result[f"{protocol}_errors"] == 0
        assert result[f"{protocol}_baseline_errors"] == 0
        assert result[f"{protocol}_req_per_s"] > 0
        assert result[f"{protocol}_tags_per_s"] > 0
        assert result[f"{protocol}_ratio"] > 0
        assert result[f"{protocol}_cpu_ratio"] > 0
    assert 0 < result["listening_s"] <= result["startup_s"]
    assert result["rss_mb"] > 0
    assert result["idle_cpu_pct"] >= 0


def test_the_fleet_command_raises_its_open_files_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    from nexus.cli.sim import raise_open_files_limit

    limits = {"soft": 1024, "hard": 8192}
    monkeypatch.setattr(resource, "getrlimit", lambda _: (limits["soft"], limits["hard"]))

    def setrlimit(_: int, value: tuple[int, int]) -> None:
        limits["soft"], limits["hard"] = value

    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    assert raise_open_files_limit(500) == 1024  # enough already: unchanged
    assert raise_open_files_limit(4156) == 4156  # raised as far as needed
    assert limits == {"soft": 4156, "hard": 8192}
    assert raise_open_files_limit(10_000) == 8192  # not above the hard limit
