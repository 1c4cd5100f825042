"""Process models of the twin: their equations, determinism, validation and a real server."""

from __future__ import annotations

import csv
import io
import itertools
import math
import random
from pathlib import Path
from typing import Any

import pytest

from nexus.cli.main import main
from nexus.errors import ConfigError
from nexus.model.tags import ModbusDevice, OpcUaDevice, S7Device
from simulators.clock import SimClock
from simulators.fleet import ModbusFleet
from simulators.plant import AnyTwinDevice, Plant, load_plant
from simulators.process.machine import FAULT, IDLE, MAINTENANCE, RUNNING
from simulators.twin import TwinDevice
from tests.simulators.plants import write_plant
from tests.simulators.test_fleet import connect, read_tag


def ref(model: str, output: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "model", "model": model, "output": output, **extra}


def double(name: str, signal: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An OPC UA Double tag: what it serves is the source's value unchanged."""
    return {"name": name, "type": "Double", **extra, "signal": signal}


def outputs(models: dict[str, Any], *names: str) -> list[dict[str, Any]]:
    """One Double tag per model.output in `names` (tag name: model_output)."""
    return [double(n.replace(".", "_"), ref(*n.split("."))) for n in names]


def plant_data(
    models: dict[str, Any],
    tags: list[dict[str, Any]],
    *,
    seed: int = 5,
    dt_s: float = 1.0,
    count: int = 1,
    protocol: str = "opcua",
) -> dict[str, Any]:
    return {
        "plant": "models",
        "seed": seed,
        "modbus": {"base_port": 0},
        "opcua": {"base_port": 0},
        "s7": {"base_port": 0},
        "sites": [
            {
                "name": "site",
                "lines": [
                    {
                        "name": "line",
                        "devices": [
                            {
                                "name": "machine",
                                "protocol": protocol,
                                "count": count,
                                "dt_s": dt_s,
                                "models": models,
                                "tags": tags,
                            }
                        ],
                    }
                ],
            }
        ],
    }


def device(models: dict[str, Any], *names: str, **kwargs: Any) -> AnyTwinDevice:
    """The first device of a plant whose tags serve the model outputs `names`."""
    return Plant.model_validate(plant_data(models, outputs(models, *names), **kwargs)).devices()[0]


def series(dev: AnyTwinDevice, tag: str, times: range | list[float]) -> list[float]:
    values = []
    for t in times:
        value = dev.tag(tag).value_at(t)
        assert isinstance(value, float | int)
        values.append(float(value))
    return values


# -- motor ------------------------------------------------------------------------------------

MOTOR = {
    "kind": "motor",
    "setpoint": 1000,
    "load": 1.0,
    "ambient_c": 20,
    "rated_speed_rpm": 1000,
    "rated_current_a": 10,
    "no_load_current_a": 2,
    "rated_power_kw": 5,
    "tau_s": 10,
    "thermal_tau_s": 600,
    "rated_rise_c": 50,
}


def test_motor_speed_follows_its_setpoint_with_a_first_order_lag() -> None:
    dev = device({"m": MOTOR}, "m.speed_rpm", "m.current_a", "m.power_kw", dt_s=0.1)
    speed = dev.tag("m_speed_rpm")
    assert speed.value_at(0) == 0.0  # starts at rest
    for t in (5.0, 10.0, 20.0, 30.0):
        assert speed.value_at(t) == pytest.approx(1000 * (1 - math.exp(-t / 10)), rel=1e-6)
    assert speed.value_at(300) == 1000.0  # settled exactly on the setpoint
    # at rated speed and full load: rated current and power
    assert dev.tag("m_current_a").value_at(300) == pytest.approx(10.0)
    assert dev.tag("m_power_kw").value_at(300) == pytest.approx(5.0)
    # current grows with speed: half speed at full load draws half the current
    half = 1000 * (1 - math.exp(-1))  # at t = tau
    assert dev.tag("m_current_a").value_at(10.0) == pytest.approx(10 * half / 1000, rel=1e-6)


def test_motor_temperature_rises_toward_its_steady_state_with_its_time_constant() -> None:
    dev = device({"m": {**MOTOR, "tau_s": 0.5}}, "m.temperature_c")
    temperature = series(dev, "m_temperature_c", range(0, 6001, 60))
    assert temperature[0] == 20.0  # the ambient
    assert all(b > a for a, b in itertools.pairwise(temperature))
    # rated current: steady state ambient + rated rise = 70 °C, 63.2 % of the rise after τ
    rise_at_tau = (dev.tag("m_temperature_c").value_at(600) - 20) / 50  # type: ignore[operator]
    assert rise_at_tau == pytest.approx(1 - math.exp(-1), abs=0.005)
    rise_at_3tau = (dev.tag("m_temperature_c").value_at(1800) - 20) / 50  # type: ignore[operator]
    assert rise_at_3tau == pytest.approx(1 - math.exp(-3), abs=0.005)
    assert temperature[-1] == pytest.approx(70.0, abs=0.01)
    assert max(temperature) < 70.0


def test_a_lighter_load_settles_cooler_as_current_squared() -> None:
    dev = device({"m": {**MOTOR, "load": 0.5}}, "m.temperature_c", "m.current_a")
    current = dev.tag("m_current_a").value_at(20000)
    assert current == pytest.approx(2 + 8 * 0.5)
    assert dev.tag("m_temperature_c").value_at(20000) == pytest.approx(20 + 50 * (6 / 10) ** 2)


def test_a_motor_stops_and_cools_when_its_run_input_is_off() -> None:
    run = {"kind": "step", "levels": [1, 0], "dwell_s": 3000}
    dev = device({"m": {**MOTOR, "tau_s": 1, "run": run}}, "m.speed_rpm", "m.temperature_c")
    hot = dev.tag("m_temperature_c").value_at(3000)
    assert dev.tag("m_speed_rpm").value_at(2999) == 1000.0
    assert dev.tag("m_speed_rpm").value_at(3100) == 0.0
    assert dev.tag("m_temperature_c").value_at(5999) < hot  # type: ignore[operator]


# -- tank and PID -----------------------------------------------------------------------------

TANK = {
    "kind": "tank",
    "area_m2": 50,
    "height_m": 5,
    "setpoint_m": 2.5,
    "pump": "inflow",
    "pump_max_m3h": 600,
    "pump_rated_kw": 30,
    "kp": 200,
    "ki": 0.25,
    # the demand steps from 200 to 350 m³/h at t = 2 h
    "outflow": {"kind": "schedule", "points": [[0, 200], [7200, 350]]},
}


def test_the_pid_holds_the_level_after_a_disturbance() -> None:
    dev = device({"tank": TANK}, "tank.level_m", "tank.pump_pct", "tank.inflow_m3h")
    level = series(dev, "tank_level_m", range(0, 14401, 10))
    pump = series(dev, "tank_pump_pct", range(0, 14401, 10))
    before = level[: 7200 // 10]
    after = level[7200 // 10 :]
    # it starts balanced at the setpoint and stays there
    assert all(abs(v - 2.5) < 1e-9 for v in before)
    assert pump[0] == pytest.approx(100 * 200 / 600)
    # the disturbance drags the level down, the loop brings it back within 1 cm
    assert min(after) < 2.45
    assert min(after) > 2.2
    settled = level[(7200 + 5400) // 10 :]
    assert all(abs(v - 2.5) < 0.01 for v in settled)
    # the pump ends up delivering the new demand
    assert dev.tag("tank_inflow_m3h").value_at(14400) == pytest.approx(350, abs=1)
    assert all(0 <= p <= 100 for p in pump)


def test_the_integral_does_not_wind_up_while_the_pump_is_saturated() -> None:
    # the demand exceeds the pump for half an hour: the level falls, the pump stays at 100 %;
    # with a wound-up integral it would then overshoot the setpoint by far
    demand = {"kind": "schedule", "points": [[0, 200], [3600, 800], [5400, 200]]}
    dev = device({"tank": {**TANK, "outflow": demand}}, "tank.level_m", "tank.pump_pct")
    saturated = series(dev, "tank_pump_pct", range(3800, 5400, 10))
    assert all(p == 100.0 for p in saturated)
    low = dev.tag("tank_level_m").value_at(5400)
    assert low < 2.0  # type: ignore[operator]
    recovery = series(dev, "tank_level_m", range(5400, 14401, 10))
    assert max(recovery) < 2.5 + 0.1
    assert abs(recovery[-1] - 2.5) < 0.01


def test_the_level_stays_within_the_tank_and_overflow_is_reported() -> None:
    # the pump on the outflow side cannot keep up with the inflow: the tank fills and overflows
    tank = {
        **TANK,
        "pump": "outflow",
        "inflow": 900,
        "outflow": None,
        "initial_level_m": 2.5,
    }
    dev = device({"tank": tank}, "tank.level_m", "tank.overflow", "tank.level_pct")
    levels = series(dev, "tank_level_m", range(0, 7201, 60))
    assert max(levels) == 5.0
    assert min(levels) >= 0
    assert dev.tag("tank_overflow").value_at(7200) == 1.0
    assert dev.tag("tank_overflow").value_at(0) == 0.0
    assert dev.tag("tank_level_pct").value_at(7200) == 100.0


# -- conveyor, energy -------------------------------------------------------------------------


def test_a_piece_counter_wraps_at_its_max() -> None:
    belt = {"kind": "conveyor", "rate_per_min": 600, "start": 90, "max": 99}
    dev = device({"belt": belt}, "belt.count", "belt.total")
    assert series(dev, "belt_count", [0, 0.5, 1, 2, 5, 10, 11]) == [90, 90, 0, 10, 40, 90, 0]
    assert dev.tag("belt_total").value_at(11) == 110.0  # the total never wraps


def test_the_counter_rate_follows_the_machine_state() -> None:
    models = {
        "line": {"kind": "machine", "shifts": [{"start_h": 0, "end_h": 1}]},
        "belt": {
            "kind": "conveyor",
            "rate_per_min": 60,
            "run": ref("line", "running"),
            "max": 65535,
        },
    }
    dev = device(models, "belt.count", "belt.rate_per_min", "line.state")
    assert dev.tag("line_state").value_at(1800) == RUNNING
    assert dev.tag("belt_rate_per_min").value_at(1800) == 60.0
    assert dev.tag("line_state").value_at(3600) == IDLE
    counted = dev.tag("belt_count").value_at(3601)
    assert counted == 3600
    assert dev.tag("belt_count").value_at(80000) == counted  # idle the rest of the day
    assert dev.tag("belt_rate_per_min").value_at(80000) == 0.0
    assert dev.tag("belt_count").value_at(86400 + 600) == 3600 + 600  # the next day's shift


def test_energy_is_monotonic_and_the_integral_of_the_power_served() -> None:
    load = {"kind": "sine", "amplitude": 0.4, "offset": 0.6, "period_s": 300}
    models = {
        "m": {**MOTOR, "load": load, "tau_s": 2},
        "meter": {"kind": "energy", "power_kw": ref("m", "power_kw"), "start_kwh": 1000},
    }
    dev = device(models, "meter.energy_kwh", "m.power_kw", dt_s=0.5)
    energy = series(dev, "meter_energy_kwh", [k * 0.5 for k in range(0, 7201)])
    power = series(dev, "m_power_kw", [k * 0.5 for k in range(0, 7201)])
    assert energy[0] == 1000.0
    assert all(b >= a for a, b in itertools.pairwise(energy))
    integral = 1000.0
    for k in range(1, len(energy)):
        integral += power[k - 1] * 0.5 / 3600  # the power served during the step before
        assert energy[k] == pytest.approx(integral, rel=1e-12)
    assert energy[-1] > 1000.0


def test_an_energy_meter_rolls_over() -> None:
    meter = {"kind": "energy", "power_kw": 360, "start_kwh": 99.85, "rollover_kwh": 100}
    dev = device({"meter": meter}, "meter.energy_kwh", "meter.total_kwh")
    assert dev.tag("meter_energy_kwh").value_at(1) == pytest.approx(99.95)
    assert dev.tag("meter_energy_kwh").value_at(3) == pytest.approx(0.15)
    assert dev.tag("meter_total_kwh").value_at(3) == pytest.approx(0.3)


# -- machine states ---------------------------------------------------------------------------

SHIFTS = {
    "kind": "machine",
    "t0_h": 5,
    "shifts": [{"start_h": 6, "end_h": 14}, {"start_h": 22, "end_h": 2}],
    "maintenance": [{"start_h": 10, "end_h": 11, "every_days": 2, "day": 1}],
}


def hour(day: int, h: float) -> float:
    """Simulated seconds of hour h of day `day` (t = 0 is 05:00 of day 0)."""
    return (day * 24 + h - 5) * 3600


def test_machine_states_follow_the_shift_schedule() -> None:
    dev = device({"line": SHIFTS}, "line.state", "line.running", "line.run_hours")
    state = dev.tag("line_state")
    assert state.value_at(hour(0, 5.5)) == IDLE
    assert state.value_at(hour(0, 6)) == RUNNING
    assert state.value_at(hour(0, 10.5)) == RUNNING  # maintenance only on odd days
    assert state.value_at(hour(0, 14)) == IDLE
    assert state.value_at(hour(0, 23)) == RUNNING  # the night shift runs over midnight
    assert state.value_at(hour(1, 1.5)) == RUNNING
    assert state.value_at(hour(1, 2)) == IDLE
    assert state.value_at(hour(1, 10.5)) == MAINTENANCE
    assert state.value_at(hour(1, 11)) == RUNNING
    assert state.value_at(hour(3, 10.5)) == MAINTENANCE
    assert state.value_at(hour(2, 10.5)) == RUNNING
    # 6–14 (8 h) and 22–02 (4 h) a day, minus the maintenance hour on odd days
    assert dev.tag("line_run_hours").value_at(hour(2, 5)) == pytest.approx(8 + 3 + 1 + 7 + 4)


def fault_times(plant: Plant, name: str, end: int) -> list[int]:
    """When each fault of device `name` started (seconds)."""
    state = next(d for d in plant.devices() if d.name == name).tag("line_state")
    starts = []
    previous = None
    for t in range(end):
        value = state.value_at(t)
        if value == FAULT and previous != FAULT:
            starts.append(t)
        previous = value
    return starts


def test_random_faults_are_reproducible_per_seed_and_differ_per_copy() -> None:
    line = {**SHIFTS, "t0_h": 6, "mtbf_s": 1800, "repair_s": 120}
    tags = outputs({"line": line}, "line.state", "line.faults")
    plant = Plant.model_validate(plant_data({"line": line}, tags, count=2))
    one = fault_times(plant, "machine-01", 8 * 3600)
    assert fault_times(plant, "machine-01", 8 * 3600) == one  # the same every time
    assert fault_times(Plant.model_validate(plant.model_dump()), "machine-01", 8 * 3600) == one
    assert 5 <= len(one) <= 40  # about 8 h / 30 min, less the repair time
    assert fault_times(plant, "machine-02", 8 * 3600) != one  # each copy fails on its own
    reseeded = Plant.model_validate(plant_data({"line": line}, tags, count=2, seed=6))
    assert fault_times(reseeded, "machine-01", 8 * 3600) != one
    dev = plant.devices()[0]
    assert dev.tag("line_faults").value_at(8 * 3600) == len(one)
    # a fault lasts 0.5–1.5 × repair_s, then the machine runs again
    state = dev.tag("line_state")
    for start in one:
        end = next(t for t in range(start, start + 400) if state.value_at(t) != FAULT)
        assert 60 <= end - start <= 181


def test_no_faults_outside_the_shifts() -> None:
    line = {**SHIFTS, "mtbf_s": 60, "repair_s": 30}
    dev = device({"line": line}, "line.state")
    idle = [dev.tag("line_state").value_at(t) for t in range(int(hour(0, 14.5)), int(hour(0, 22)))]
    assert set(idle) == {IDLE}


# -- alarms -----------------------------------------------------------------------------------


def test_an_alarm_with_hysteresis_does_not_chatter() -> None:
    noisy = {
        "name": "pressure",
        "type": "Double",
        "signal": {
            "kind": "random_walk",
            "start": 10,
            "step": 0.08,
            "min": 9.4,
            "max": 10.6,
        },
    }
    alarm = {
        "kind": "alarm",
        "input": {"kind": "tag", "tag": "pressure"},
        "high": 10,
        "hysteresis": 0.3,
    }
    tags = [noisy, *outputs({"a": alarm}, "a.active", "a.count")]
    dev = Plant.model_validate(plant_data({"a": alarm}, tags)).devices()[0]
    pressure = series(dev, "pressure", range(20000))
    active = series(dev, "a_active", range(20000))
    crossings = sum(1 for a, b in itertools.pairwise(pressure) if (a > 10) != (b > 10))
    changes = 0
    for k in range(1, len(pressure)):
        if active[k] != active[k - 1]:
            changes += 1
            if active[k]:
                assert pressure[k] > 10  # raised above the threshold only
            else:
                assert pressure[k] < 9.7  # cleared below threshold − hysteresis only
        elif active[k]:
            assert pressure[k] >= 9.7
    assert changes >= 4
    assert crossings > 3 * changes  # the value wanders across 10 far more often
    assert (
        dev.tag("a_count").value_at(19999)
        == sum(1 for k in range(1, len(active)) if active[k] and not active[k - 1]) + active[0]
    )


def test_a_low_alarm_and_a_high_alarm_on_a_model_output() -> None:
    models = {
        "tank": {**TANK, "outflow": {"kind": "schedule", "points": [[0, 200], [600, 900]]}},
        "alarms": {
            "kind": "alarm",
            "input": ref("tank", "level_m"),
            "low": 2.0,
            "high": 4.0,
            "hysteresis": 0.1,
        },
    }
    dev = device(models, "alarms.low", "alarms.high", "alarms.active", "tank.level_m")
    assert dev.tag("alarms_active").value_at(0) == 0.0
    t_low = next(t for t in range(0, 7200, 10) if dev.tag("alarms_low").value_at(t))
    assert dev.tag("tank_level_m").value_at(t_low) < 2.0  # type: ignore[operator]
    assert dev.tag("alarms_high").value_at(t_low) == 0.0
    assert dev.tag("alarms_active").value_at(t_low) == 1.0


# -- determinism ------------------------------------------------------------------------------

EVERYTHING = {
    "line": {**SHIFTS, "mtbf_s": 900, "repair_s": 60},
    "m": {
        **MOTOR,
        "run": ref("line", "running"),
        "setpoint": {"kind": "random_walk", "start": 900, "step": 20, "min": 800, "max": 1000},
    },
    "meter": {"kind": "energy", "power_kw": ref("m", "power_kw")},
    "hot": {"kind": "alarm", "input": ref("m", "temperature_c"), "high": 50, "hysteresis": 2},
    "belt": {"kind": "conveyor", "rate_per_min": ref("m", "speed_rpm", scale=0.3), "max": 999},
}
EVERY_OUTPUT = (
    "line.state",
    "m.speed_rpm",
    "m.temperature_c",
    "meter.energy_kwh",
    "hot.active",
    "belt.count",
)


def test_values_do_not_depend_on_query_order_or_rate() -> None:
    times = [k * 7.3 for k in range(100)]
    forward = device(EVERYTHING, *EVERY_OUTPUT, dt_s=0.5)
    expected = {tag.name: [tag.value_at(t) for t in times] for tag in forward.tags}
    # another expansion, asked in random order, tags interleaved
    shuffled = device(EVERYTHING, *EVERY_OUTPUT, dt_s=0.5)
    order = [(i, tag) for i in range(len(times)) for tag in shuffled.tags]
    random.Random(1).shuffle(order)
    for i, tag in order:
        assert tag.value_at(times[i]) == expected[tag.name][i]
    # and a fast clock: asked every 0.1 s of simulated time, compared where the times meet
    fine = device(EVERYTHING, *EVERY_OUTPUT, dt_s=0.5)
    for k in range(0, 7300):
        t = k * 0.1
        for tag in fine.tags:
            value = tag.value_at(t)
            if k % 73 == 0:
                assert value == expected[tag.name][k // 73]


def test_the_plant_seed_changes_the_random_parts_only() -> None:
    a = device(EVERYTHING, *EVERY_OUTPUT, seed=1)
    b = device(EVERYTHING, *EVERY_OUTPUT, seed=2)
    times = range(0, 36000, 30)
    assert series(a, "line_state", times) != series(b, "line_state", times)
    constant = {"m": MOTOR}
    assert series(device(constant, "m.speed_rpm", seed=1), "m_speed_rpm", times) == series(
        device(constant, "m.speed_rpm", seed=2), "m_speed_rpm", times
    )


# -- the plant file ---------------------------------------------------------------------------

PLANT_YAML = """\
plant: models
modbus: {{base_port: 0}}
sites:
  - name: site
    lines:
      - name: line
        devices:
          - name: pump
            models:
              motor: {{kind: motor, setpoint: 1450}}
              meter: {{kind: energy, power_kw: {meter_power}}}
            tags:
              - {{name: speed, table: holding, address: 0, type: uint16,
                 signal: {speed_signal}}}
              - {{name: energy, table: holding, address: 1, type: float32,
                 signal: {{kind: model, model: meter, output: energy_kwh}}}}
"""


def load(tmp_path: Path, **fields: str) -> Plant:
    values = {
        "meter_power": "{kind: model, model: motor, output: power_kw}",
        "speed_signal": "{kind: model, model: motor, output: speed_rpm}",
        **fields,
    }
    return load_plant(write_plant(tmp_path / "plant.yaml", PLANT_YAML.format(**values)))


def test_a_valid_plant_file_with_models_loads(tmp_path: Path) -> None:
    pump = load(tmp_path).devices()[0]
    assert isinstance(pump, TwinDevice)
    assert pump.tag("speed").value_at(100) == 1450


@pytest.mark.parametrize(
    ("fields", "line", "field", "message"),
    [
        (
            {"speed_signal": "{kind: model, model: motr, output: speed_rpm}"},
            14,
            "sites[0].lines[0].devices[0].tags[0].signal.model",
            "no model 'motr' (its models: motor, meter)",
        ),
        (
            {"speed_signal": "{kind: model, model: motor, output: rpm}"},
            14,
            "sites[0].lines[0].devices[0].tags[0].signal.output",
            "model motor (motor) has no output 'rpm' (its outputs: speed_rpm, current_a",
        ),
        (
            {"meter_power": "{kind: model, model: meter, output: power_kw}"},
            11,
            "sites[0].lines[0].devices[0].models.meter",
            "models meter → meter depend on each other in a cycle",
        ),
        (
            {"meter_power": "{kind: tag, tag: energy}"},
            11,
            "sites[0].lines[0].devices[0].models.meter",
            "models meter → meter depend on each other in a cycle",
        ),
        (
            {"meter_power": "{kind: tag, tag: power}"},
            11,
            "sites[0].lines[0].devices[0].models.meter.power_kw.tag",
            "no tag 'power' (its tags: speed, energy)",
        ),
        (
            {"meter_power": "{kind: model, model: motor, output: torque}"},
            11,
            "sites[0].lines[0].devices[0].models.meter.power_kw.output",
            "has no output 'torque'",
        ),
        (
            {"meter_power": "{kind: motor, setpoint: 1}"},
            11,
            "sites[0].lines[0].devices[0].models.meter.energy.power_kw",
            "Input should be",
        ),
    ],
)
def test_model_errors_name_the_file_line_and_field(
    tmp_path: Path, fields: dict[str, str], line: int, field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, **fields)
    assert error.value.file == f"{tmp_path / 'plant.yaml'}:{line}"
    assert error.value.field is not None
    assert error.value.field.startswith(field)
    assert message in str(error.value)


def test_a_cycle_through_two_models_is_named(tmp_path: Path) -> None:
    text = PLANT_YAML.format(
        meter_power="{kind: model, model: motor, output: power_kw}",
        speed_signal="{kind: model, model: motor, output: speed_rpm}",
    ).replace("{kind: motor, setpoint: 1450}", "{kind: motor, setpoint: {kind: tag, tag: energy}}")
    with pytest.raises(ConfigError, match="models motor → meter → motor depend on each other"):
        load_plant(write_plant(tmp_path / "plant.yaml", text))


def test_a_model_output_that_does_not_fit_the_tag_type_is_an_error() -> None:
    belt = {"kind": "conveyor", "rate_per_min": 60, "max": 70000}
    tag = {
        "name": "count",
        "table": "holding",
        "address": 0,
        "type": "uint16",
        "signal": ref("belt", "count"),
    }
    with pytest.raises(ValueError, match=r"the signal spans 0…70000.*does not fit uint16"):
        Plant.model_validate(plant_data({"belt": belt}, [tag], protocol="modbus"))
    fits = {**tag, "type": "uint32"}
    Plant.model_validate(plant_data({"belt": belt}, [fits], protocol="modbus"))


@pytest.mark.parametrize("protocol", ["modbus", "opcua", "s7"])
def test_model_tags_get_the_outputs_unit_in_the_gateway_config(protocol: str) -> None:
    def tag(name: str, address: int, signal: dict[str, Any], **extra: Any) -> dict[str, Any]:
        places: dict[str, dict[str, Any]] = {
            "modbus": {"table": "holding", "address": 2 * address, "type": "float32"},
            "opcua": {"type": "Float"},
            "s7": {"address": f"DB1.DBD{4 * address}:REAL"},
        }
        return {"name": name, **places[protocol], **extra, "signal": signal}

    models = {"m": MOTOR}
    tags = [
        tag("current", 0, ref("m", "current_a")),
        tag("temperature", 1, ref("m", "temperature_c"), unit="K"),  # its own unit wins
        tag("rate", 2, ref("m", "speed_rpm", scale=0.25)),  # scaled: the unit is not rpm
    ]
    plant = Plant.model_validate(plant_data(models, tags, protocol=protocol))
    config = plant.with_base_port(20000).gateway_config()[0]
    assert isinstance(config, ModbusDevice | OpcUaDevice | S7Device)
    units = {t.name: t.unit for t in config.tags}
    assert units == {"current": "A", "temperature": "K", "rate": ""}


def test_a_schedule_holds_each_point_and_repeats() -> None:
    plan = {"kind": "schedule", "points": [[0, 5], [100, 7], [150, 9]], "period_s": 200}
    tags = [double("plan", plan)]
    plan_tag = Plant.model_validate(plant_data({}, tags)).devices()[0].tag("plan")
    values = [plan_tag.value_at(t) for t in (0, 99, 100, 149, 150, 199, 200, 310)]
    assert values == [5, 5, 7, 7, 9, 9, 5, 7]


# -- recording and a real server --------------------------------------------------------------


def test_record_includes_model_tags_reproducibly(tmp_path: Path) -> None:
    line = {**SHIFTS, "t0_h": 6, "mtbf_s": 120, "repair_s": 30}
    models = {**EVERYTHING, "line": line}
    path = write_plant(tmp_path / "plant.yaml", plant_data(models, outputs(models, *EVERY_OUTPUT)))

    def record(out: str, *extra: str) -> list[list[str]]:
        args = ["sim", "record", str(path), "--duration", "900", "--out", str(tmp_path / out)]
        assert main([*args, *extra]) == 0
        return list(csv.reader(io.StringIO((tmp_path / out).read_text(encoding="utf-8"))))

    first = record("a.csv")
    record("b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    speeds = [float(r[3]) for r in first[1:] if r[2] == "m_speed_rpm"]
    assert len(speeds) == 901
    assert max(speeds) > 700
    other = record("c.csv", "--seed", "99")
    differing = {r[2] for r, s in zip(first, other, strict=True) if r != s}
    assert "line_state" in differing  # the faults moved


async def test_a_model_tag_read_through_the_modbus_server_is_the_model_value() -> None:
    t = 4321.0
    models = {
        "line": {"kind": "machine"},
        "m": {**MOTOR, "tau_s": 30, "setpoint": 900, "run": ref("line", "running")},
        "belt": {"kind": "conveyor", "rate_per_min": 120, "start": 65000, "max": 65535},
        "meter": {"kind": "energy", "power_kw": ref("m", "power_kw")},
    }
    tags = [
        {
            "name": "speed",
            "table": "holding",
            "address": 0,
            "type": "float64",
            "signal": ref("m", "speed_rpm"),
        },
        {
            "name": "count",
            "table": "holding",
            "address": 4,
            "type": "uint16",
            "signal": ref("belt", "count"),
        },
        {
            "name": "energy",
            "table": "input",
            "address": 0,
            "type": "float32",
            "signal": ref("meter", "energy_kwh"),
        },
        {
            "name": "running",
            "table": "coil",
            "address": 0,
            "type": "bool",
            "signal": ref("line", "running"),
        },
    ]
    plant = Plant.model_validate(plant_data(models, tags, protocol="modbus"))
    expected = plant.devices()[0]  # a separate expansion: the same values, computed apart
    async with ModbusFleet(plant, clock=SimClock.frozen(t)) as fleet:
        served = fleet.device("machine")
        client = await connect(served)
        try:
            speed = await read_tag(client, served, served.tag("speed"))
            count = await read_tag(client, served, served.tag("count"))
            energy = await read_tag(client, served, served.tag("energy"))
            running = await read_tag(client, served, served.tag("running"))
        finally:
            client.close()
    assert speed == pytest.approx(900 * (1 - math.exp(-t / 30)), rel=1e-9)
    assert speed == expected.tag("speed").value_at(t)
    assert count == (65000 + 2 * 4321) % 65536  # 120 pieces/min from t = 0, wrapped
    assert energy == expected.tag("energy").value_at(t)
    assert running is True
