"""Scenario files: the suite loads, invalid files name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.scenario import Action, load_scenario
from nexus.cli.main import main
from nexus.errors import ConfigError

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
GOOD = """
name: t
plant: {plant}
duration_s: 40
timeline:
  - {{at: 10, action: kill, target: ingest, replica: 1, duration: 5}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text.format(plant=SCENARIOS / "plants" / "chaos-line.yaml"))
    return path


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_scenario_of_the_suite_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.expect.lost == 0
    assert scenario.expect.duplicates == 0


def test_scaling_shortens_every_time(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD), scale=0.25)
    [fault] = scenario.faults()
    assert (scenario.run_s, fault.at, fault.duration) == (10, 2.5, 1.25)
    assert fault.action is Action.KILL


def test_repeats_are_expanded() -> None:
    scenario = load_scenario(SCENARIOS / "device-flapping.yaml")
    offline = [f for f in scenario.faults() if f.target == "mixer-01"]
    assert [f.at for f in offline] == [10, 18, 26, 34, 42]


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (GOOD + "surprise: 1\n", "surprise", "Extra inputs"),
        (GOOD.replace("kill", "explode"), "timeline[0].action", "Input should be"),
        (GOOD.replace("target: ingest", "target: fridge"), "timeline[0]", "not one of"),
        (GOOD.replace("duration_s: 40", "duration_s: 12"), "s.yaml", "after duration_s"),
        (
            GOOD.replace("action: kill, target: ingest", "action: scale, target: gateway"),
            "timeline[0]",
            "sharding",
        ),
        (
            GOOD.replace(
                "action: kill, target: ingest, replica: 1",
                "action: device, kind: offline, target: nope",
            ),
            "timeline[0].target",
            "no Modbus device",
        ),
    ],
)  # fmt: skip
def test_invalid_files_name_the_file_and_field(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)
    assert field in str(caught.value)
    assert message in str(caught.value)


def test_cli_exits_2_for_an_invalid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD + "surprise: 1\n")
    assert main(["scenario", "run", str(path), "--json"]) == 2
    assert "surprise" in capsys.readouterr().err
