"""`nexus sim record` and simulators.record: the twin's values, computed, not served."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from nexus.cli.main import EXIT_CONFIG, main
from simulators.record import Recording, rows, with_seed, write_csv
from tests.simulators.plants import plant_data, small_plant, write_plant

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scenarios" / "plants" / "demo.yaml"


def record(plant: Path, out: Path, *extra: str) -> int:
    return main(["sim", "record", str(plant), "--duration", "30", "--out", str(out), *extra])


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_two_runs_with_the_same_arguments_are_byte_identical(tmp_path: Path) -> None:
    args = ("--seed", "11", "--speed", "10", "--interval-ms", "500")
    assert record(DEMO, tmp_path / "a.csv", *args) == 0
    assert record(DEMO, tmp_path / "b.csv", *args) == 0
    first = (tmp_path / "a.csv").read_bytes()
    assert first == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv.json").read_bytes() == (tmp_path / "b.csv.json").read_bytes()

    table = list(csv.reader(io.StringIO(first.decode())))
    assert table[0] == ["timestamp", "device", "tag", "value"]
    meta = json.loads((tmp_path / "a.csv.json").read_text())
    assert meta["seed"] == 11
    assert meta["speed"] == 10
    assert meta["wall_duration_s"] == 3
    assert meta["samples"] == 61  # 0, 0.5, … 30 simulated seconds
    assert len(table) - 1 == meta["rows"] == 61 * meta["tags"]
    # every device and tag of every protocol, at every sample time
    assert {r[0] for r in table[1:]} == {f"{i * 0.5:.3f}" for i in range(61)}
    assert len({(r[1], r[2]) for r in table[1:]}) == meta["tags"]


def test_a_different_seed_gives_different_random_walks(tmp_path: Path) -> None:
    assert record(DEMO, tmp_path / "a.csv", "--seed", "1") == 0
    assert record(DEMO, tmp_path / "b.csv", "--seed", "2") == 0
    a = read_csv(tmp_path / "a.csv")
    b = read_csv(tmp_path / "b.csv")
    assert len(a) == len(b)
    differing = {(x[1], x[2]) for x, y in zip(a, b, strict=True) if x != y}
    assert differing
    assert ("filler-01", "co2_flow") in differing  # a random walk
    assert ("filler-01", "fill_speed") not in differing  # a sine does not use the seed


def test_values_are_those_the_twin_serves() -> None:
    plant = small_plant(seed=3)
    recording = Recording(duration_s=5, interval_ms=2500)
    got = list(rows(plant, recording))
    assert [r[0] for r in got[:: len(got) // 3]] == ["0.000", "2.500", "5.000"]
    mixer = plant.devices()[0]
    temperature = mixer.tag("temperature")
    expected = repr(temperature.value_at(5.0))
    assert ("5.000", mixer.name, "temperature", expected) in got
    assert ("0.000", mixer.name, "running", "true") in got


def test_progress_is_reported_every_ten_percent() -> None:
    reported: list[int] = []
    out = io.StringIO()
    count = write_csv(small_plant(), Recording(duration_s=99), out, progress=reported.append)
    assert reported == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert count == out.getvalue().count("\n") - 1


def test_with_seed_changes_only_the_seed() -> None:
    plant = small_plant(seed=3)
    other = with_seed(plant, 4)
    assert other.seed == 4
    assert other.model_dump(exclude={"seed"}) == plant.model_dump(exclude={"seed"})


@pytest.mark.parametrize(
    "extra",
    [("--duration", "0"), ("--interval-ms", "0"), ("--speed", "0")],
)
def test_invalid_arguments_are_configuration_errors(tmp_path: Path, extra: tuple[str, str]) -> None:
    assert record(DEMO, tmp_path / "a.csv", *extra) == EXIT_CONFIG


def test_an_invalid_plant_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = plant_data()
    data["sites"][0]["lines"][0]["devices"][0]["tags"][0]["signal"] = {"kind": "square"}
    path = write_plant(tmp_path / "bad.yaml", data)
    out = tmp_path / "out.csv"
    assert record(path, out) == EXIT_CONFIG
    assert f"{path}:" in capsys.readouterr().err
    assert not out.exists()
    assert record(tmp_path / "missing.yaml", out) == EXIT_CONFIG
