"""Replaying a recording: tags serve recorded values, at any speed, with errors naming lines."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from nexus.cli.main import EXIT_CONFIG, main
from nexus.errors import ConfigError
from simulators.clock import SimClock
from simulators.fleet import ModbusFleet
from simulators.plant import Plant, load_plant
from simulators.record import Recording, write_csv
from simulators.replay import Replay
from tests.simulators.plants import small_plant
from tests.simulators.test_fleet import connect, read_tag

PLANTS = Path(__file__).resolve().parents[2] / "scenarios" / "plants"

HEADER = "timestamp,device,tag,value\n"


def write_csv_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def recording(plant: Plant, duration_s: float, interval_ms: int = 1000) -> str:
    out = io.StringIO()
    write_csv(plant, Recording(duration_s, interval_ms), out)
    return out.getvalue()


def test_a_replay_of_a_recording_serves_what_was_recorded(tmp_path: Path) -> None:
    # every tag of the water works, models and random walks included, recorded, replayed into
    # a plant with another seed (its own random walks and faults would differ), recorded again
    plant = load_plant(PLANTS / "water-treatment.yaml")
    original = recording(plant, 120)
    path = write_csv_text(tmp_path / "day.csv", original)
    other = Plant.model_validate({**plant.model_dump(), "seed": 1})
    assert recording(other, 120) != original
    assert recording(other.with_replay(path), 120) == original


def test_values_hold_between_rows_relative_to_the_first_timestamp(tmp_path: Path) -> None:
    path = write_csv_text(
        tmp_path / "r.csv",
        HEADER
        + "1000.0,pump,flow,11.5\n"
        + "1000.0,pump,starts,3\n"
        + "1002.5,pump,flow,12.25\n"
        + "1005.0,pump,flow,13\n"
        + "1005.0,pump,dry_run,true\n",
    )
    plant = small_plant().with_replay(path)
    pump = plant.devices()[2]
    flow = pump.tag("flow")
    assert [flow.value_at(t) for t in (0, 2.4, 2.5, 4.99, 5, 50)] == [
        11.5,
        11.5,
        12.25,
        12.25,
        13.0,
        13.0,
    ]
    assert pump.tag("starts").value_at(100) == 3
    # a tag first recorded later holds its first value before that
    assert pump.tag("dry_run").value_at(0) is True
    # tags not in the recording keep their signal
    mixer = plant.devices()[0]
    original = small_plant().devices()[0]
    assert mixer.tag("temperature").value_at(42) == original.tag("temperature").value_at(42)


def test_a_looping_replay_wraps_after_the_last_row_plus_one_interval(tmp_path: Path) -> None:
    path = write_csv_text(
        tmp_path / "r.csv",
        HEADER + "".join(f"{t}.0,pump,starts,{v}\n" for t, v in [(0, 1), (2, 2), (4, 3), (5, 4)]),
    )
    replay = Replay.load(path, loop=True)
    assert replay.period_s == 6  # 0…5, the last row held one interval (5 − 4)
    starts = small_plant().with_replay(replay).devices()[2].tag("starts")
    assert [starts.value_at(t) for t in (0, 1, 2, 5, 5.9, 6, 8, 11, 12, 600)] == [
        1,
        1,
        2,
        4,
        4,
        1,
        2,
        4,
        1,
        1,
    ]
    held = small_plant().with_replay(path).devices()[2].tag("starts")
    assert held.value_at(12) == 4


def test_a_replayed_text_tag_serves_the_recorded_strings(tmp_path: Path) -> None:
    plant = load_plant(PLANTS / "bottling-line.yaml")
    path = write_csv_text(
        tmp_path / "r.csv",
        HEADER + '0,filler,product,"Cola, 1L"\n' + "10,filler,product,42\n",
    )
    filler = next(d for d in plant.with_replay(path).devices() if d.name == "filler")
    product = filler.tag("product")
    assert product.value_at(5) == "Cola, 1L"
    assert product.value_at(10) == "42"


def test_a_replayed_model_tag_keeps_its_unit(tmp_path: Path) -> None:
    plant = load_plant(PLANTS / "bottling-line.yaml")
    path = write_csv_text(tmp_path / "r.csv", HEADER + "0,filler,drive_speed,900\n")
    assert plant.with_replay(path).gateway_config() == plant.gateway_config()
    filler = next(d for d in plant.with_replay(path).devices() if d.name == "filler")
    assert filler.tag("drive_speed").value_at(3600) == 900.0


def test_a_model_reading_a_replayed_tag_follows_the_recording(tmp_path: Path) -> None:
    plant = load_plant(PLANTS / "water-treatment.yaml")
    rows = "".join(f"{t},chlorine-dosing,free_chlorine,{v}\n" for t, v in [(0, 0.3), (60, 0.5)])
    path = write_csv_text(tmp_path / "r.csv", HEADER + rows)
    dosing = next(d for d in plant.with_replay(path).devices() if d.name == "chlorine-dosing")
    assert dosing.tag("residual_alarm").value_at(30) is False
    assert dosing.tag("residual_alarm").value_at(61) is True  # 0.5 > high 0.45


async def test_the_fleet_serves_a_replay_at_its_speed(tmp_path: Path) -> None:
    rows = "".join(f"{t}.000,pump,starts,{t // 10}\n" for t in range(0, 3601, 10))
    path = write_csv_text(tmp_path / "hour.csv", HEADER + rows)
    plant = small_plant(base_port=0).with_replay(path)
    wall = [0.0]
    clock = SimClock(start_wall=0.0, speed=60.0, wall=lambda: wall[0])  # an hour in a minute
    async with ModbusFleet(plant, clock=clock) as fleet:
        device = fleet.device("pump")
        client = await connect(device)
        try:
            seen = []
            for wall_s in (0.0, 0.5, 10.0, 59.9):
                wall[0] = wall_s
                seen.append(await read_tag(client, device, device.tag("starts")))
        finally:
            client.close()
    assert seen == [0, 3, 60, 359]  # simulated 0, 30, 600, 3594 s


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (HEADER + "0,pump,flow,1\n0,press,flow,2\n", 3, "device 'press' is not in the plant"),
        (HEADER + "0,pump,flow,1\n1,pump,flux,2\n", 3, "device pump has no tag 'flux'"),
        (
            HEADER + "0,pump,flow,1\n1,pump,flow,high\n",
            3,
            "value 'high' of pump.flow is not a number",
        ),
        (HEADER + "0,pump,flow,1\n1,pump,flow\n", 3, "expected 4 fields"),
        (HEADER + "0,pump,flow,1\nsoon,pump,flow,1\n", 3, "timestamp 'soon' is not a number"),
        (HEADER + "5,pump,flow,1\n4,pump,flow,1\n", 3, "before the row above"),
        (HEADER + '0,pump,flow,1\n1,pump,flow," 2\n"\n2,pump,x,1\n', 5, "no tag 'x'"),
        ("time,device,tag,value\n0,pump,flow,1\n", 1, "expected the header"),
        (HEADER, 1, "no rows"),
    ],
)
def test_replay_errors_name_the_csv_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write_csv_text(tmp_path / "bad.csv", text)
    with pytest.raises(ConfigError, match=message) as error:
        small_plant().with_replay(path)
    assert error.value.file == f"{path}:{line}"


def test_the_earliest_problem_is_reported(tmp_path: Path) -> None:
    rows = "0,pump,flow,1\n0,pump,ghost,1\n1,nowhere,x,1\n"
    path = write_csv_text(tmp_path / "bad.csv", HEADER + rows)
    with pytest.raises(ConfigError, match="no tag 'ghost'") as error:
        small_plant().with_replay(path)
    assert error.value.file == f"{path}:3"


def cli(*args: str) -> int:
    return main(["sim", *args])


def test_the_cli_replays_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plant = PLANTS / "bottling-line.yaml"
    day = tmp_path / "day.csv"
    assert cli("record", str(plant), "--duration", "60", "--out", str(day)) == 0
    again = tmp_path / "again.csv"
    args = ("record", str(plant), "--duration", "60", "--out", str(again))
    assert cli(*args, "--seed", "5", "--replay", str(day)) == 0
    assert again.read_bytes() == day.read_bytes()  # every tag replayed: the seed does not matter
    assert '"replay"' in (tmp_path / "again.csv.json").read_text(encoding="utf-8")
    # errors exit 2 and name the file and line
    bad = write_csv_text(tmp_path / "bad.csv", HEADER + "0,filler,nope,1\n")
    assert cli("fleet", str(plant), "--replay", str(bad)) == EXIT_CONFIG
    assert f"{bad}:2" in capsys.readouterr().err
    assert cli("fleet", str(plant), "--loop") == EXIT_CONFIG
    assert cli("fleet", str(plant), "--replay", str(tmp_path / "missing.csv")) == EXIT_CONFIG


def test_a_plant_file_with_models_and_a_replay_moves_ports_with_its_replay(tmp_path: Path) -> None:
    path = write_csv_text(tmp_path / "r.csv", HEADER + "0,pump,starts,7\n")
    moved = small_plant().with_replay(path).with_base_port(21000)
    assert moved.devices()[2].tag("starts").value_at(99) == 7
    assert [d.port for d in moved.devices()] == [21000, 21001, 21002]
