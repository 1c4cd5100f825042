"""Scenario files: the suite loads, invalid files name the file and the field."""

from __future__ import annotations

import shutil
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
            "no device 'nope'",
        ),
        (
            GOOD.replace(
                "action: kill, target: ingest, replica: 1",
                "action: device, kind: cpu_stop, target: mixer-01, duration: 2",
            ),
            "timeline[0].kind",
            "not an S7 device",
        ),
        (
            GOOD.replace(
                "action: kill, target: ingest, replica: 1",
                "action: device, kind: slow, target: mixer-01, duration: 2",
            ),
            "timeline[0]",
            "params.latency_ms: slow needs latency_ms",
        ),
        (
            GOOD.replace(
                "action: kill, target: ingest, replica: 1",
                "action: device, kind: protocol_error, target: mixer-01, duration: 2, "
                "params: {{code: 99}}",
            ),
            "timeline[0].params.code",
            "not a Modbus exception code",
        ),
        (
            GOOD.replace(
                "action: kill, target: ingest, replica: 1",
                "action: device, kind: restart, target: mixer-01, duration: 2",
            ),
            "timeline[0]",
            "restart happens once",
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


def test_device_faults_of_every_kind_load_with_their_params(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - {{at: 10, action: kill, target: ingest, replica: 1, duration: 5}}\n",
        "  - {{at: 10, action: device, target: mixer-01, kind: slow, duration: 8,"
        " params: {{latency_ms: 1500}}}}\n"
        "  - {{at: 20, action: device, target: mixer-02, kind: protocol_error, duration: 5,"
        " params: {{code: 6, tags: [speed]}}}}\n"
        "  - {{at: 30, action: device, target: mixer-01, kind: restart}}\n",
    )
    scenario = load_scenario(write(tmp_path, text))
    slow, error, restart = scenario.faults()
    assert slow.params is not None
    assert slow.params.latency_ms == 1500
    assert slow.label() == "device mixer-01 slow latency_ms=1500 for 8s"
    assert error.device_spec().tags == ("speed",)
    assert restart.duration is None


async def test_the_local_target_applies_device_faults_to_its_fleet(tmp_path: Path) -> None:
    from chaos.local import LocalTarget
    from chaos.scenario import DeviceFaultKind
    from simulators.faults import FaultParams
    from simulators.fleet import Fleet
    from simulators.plant import load_plant

    scenario = load_scenario(write(tmp_path, GOOD))
    target = LocalTarget(scenario, tmp_path / "work")
    shutil.rmtree(target._run_dir, ignore_errors=True)  # the stack is not used here
    async with Fleet(load_plant(scenario.plant_path).with_base_port(0)) as fleet:
        target.fleet = fleet
        params = FaultParams(latency_ms=700)
        await target.device_fault("mixer-01", DeviceFaultKind.SLOW, True, params)
        assert fleet.active_faults("mixer-01") == {"slow": {"latency_ms": 700}}
        await target.device_fault("mixer-01", DeviceFaultKind.SLOW, False, params)
        await target.device_fault("mixer-01", DeviceFaultKind.RESTART, True)
        await target.device_fault("mixer-01", DeviceFaultKind.RESTART, False)  # a no-op
    assert [(e["kind"], e["on"], e["source"]) for e in fleet.fault_log] == [
        ("slow", True, "scenario"),
        ("slow", False, "scenario"),
        ("restart", True, "scenario"),
    ]
