"""The plant file: expansion, the gateway's view, and errors that name file:line and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from nexus.errors import ConfigError
from nexus.model.tags import ByteOrder, DataType, ModbusDevice, ModbusTag, RegisterTable
from simulators.plant import Plant, load_plant
from tests.simulators.plants import plant_data, small_plant, tag, write_plant

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "plants" / "demo.yaml"


def test_count_expands_to_numbered_copies_in_file_order() -> None:
    plant = small_plant(base_port=20000)
    devices = plant.modbus_devices()
    assert [d.name for d in devices] == ["mixer-01", "mixer-02", "pump"]
    assert [d.port for d in devices] == [20000, 20001, 20002]
    assert [(d.site, d.line) for d in devices] == [("north", "mixing")] * 2 + [("south", "pumping")]
    assert [d.unit_id for d in devices] == [1, 1, 5]
    assert devices[2].poll_interval_ms == 500
    assert [t.name for t in devices[0].tags] == [
        t["name"] for t in plant_data()["sites"][0]["lines"][0]["devices"][0]["tags"]
    ]
    assert plant.device_count == 3
    assert plant.tag_count == sum(len(d.tags) for d in devices)


def test_wide_counts_are_zero_padded_to_the_widest() -> None:
    data = plant_data()
    data["sites"][0]["lines"][0]["devices"][0]["count"] = 100
    names = [d.name for d in Plant.model_validate(data).devices()]
    assert names[0] == "mixer-001"
    assert names[99] == "mixer-100"


def test_own_port_wins_and_copies_count_up_from_it() -> None:
    data = plant_data(base_port=20000)
    data["sites"][0]["lines"][0]["devices"][0]["port"] = 30000
    ports = [d.port for d in Plant.model_validate(data).devices()]
    assert ports == [30000, 30001, 20002]


def test_copies_get_their_own_seeds() -> None:
    first, second, _ = small_plant().devices()
    assert first.tag("temperature").seed != second.tag("temperature").seed
    walk_1 = [first.tag("temperature").value_at(t) for t in range(60)]
    walk_2 = [second.tag("temperature").value_at(t) for t in range(60)]
    assert walk_1 != walk_2
    # ...and the plant seed changes them all
    other = small_plant(seed=8).devices()[0]
    assert [other.tag("temperature").value_at(t) for t in range(60)] != walk_1


def modbus_config(plant: Plant, host: str | None = None) -> list[ModbusDevice]:
    devices = plant.gateway_config(host)
    assert all(type(d) is ModbusDevice for d in devices)
    return [d for d in devices if isinstance(d, ModbusDevice)]


def test_gateway_config_is_the_gateways_device_list() -> None:
    plant = small_plant(base_port=20000)
    devices = modbus_config(plant)
    assert all(type(t) is ModbusTag for d in devices for t in d.tags)
    mixer = devices[0]
    assert (mixer.name, mixer.site, mixer.line, mixer.host, mixer.port) == (
        "mixer-01",
        "north",
        "mixing",
        "127.0.0.1",
        20000,
    )
    assert mixer.topic_prefix == "dev/north/mixing/mixer-01"
    energy = next(t for t in mixer.tags if t.name == "energy")
    assert (energy.table, energy.address, energy.type, energy.order) == (
        RegisterTable.HOLDING,
        3,
        DataType.UINT64,
        ByteOrder.DCBA,
    )
    level = next(t for t in mixer.tags if t.name == "level")
    assert (level.scale, level.offset, level.unit) == (0.1, -5, "%")
    assert [d.host for d in modbus_config(plant, host="10.0.0.5")] == ["10.0.0.5"] * 3


def test_gateway_yaml_loads_back_as_the_same_devices() -> None:
    plant = small_plant(base_port=20000)
    data = yaml.safe_load(plant.gateway_yaml())
    assert list(data) == ["devices"]
    assert [ModbusDevice.model_validate(d) for d in data["devices"]] == plant.gateway_config()
    assert "signal" not in plant.gateway_yaml()


def test_gateway_config_needs_real_ports() -> None:
    with pytest.raises(ConfigError, match="base_port"):
        small_plant(base_port=0).gateway_config()


def test_with_base_port_returns_a_moved_copy() -> None:
    plant = small_plant(base_port=20000)
    moved = plant.with_base_port(25000)
    assert [d.port for d in moved.devices()] == [25000, 25001, 25002]
    assert [d.port for d in plant.devices()] == [20000, 20001, 20002]
    assert modbus_config(moved)[0].tags == modbus_config(plant)[0].tags
    with pytest.raises(ConfigError, match="65535"):
        plant.with_base_port(65534)


def test_the_demo_plant() -> None:
    plant = load_plant(DEMO)
    everything = plant.devices()
    devices = plant.modbus_devices()
    tags = [t for d in devices for t in d.tags]
    assert len(devices) >= 20
    assert len(tags) >= 200
    assert len({d.site for d in devices}) >= 2
    assert len({(d.site, d.line) for d in devices}) >= 2
    assert {t.tag.type for t in tags} == set(DataType)
    assert {
        t.tag.order for t in tags if t.tag.type is not DataType.STRING and t.tag.register_count > 1
    } == set(ByteOrder)
    assert {t.table for t in tags} == set(RegisterTable)
    assert {t.signal.kind for t in tags} >= {
        "sine",
        "ramp",
        "random_walk",
        "step",
        "counter",
        "constant",
        "text",
    }
    assert any(t.tag.scale != 1 for t in tags)
    assert any(t.tag.unit for t in tags)
    assert {d.poll_interval_ms for d in everything} == {1000}
    assert len(plant.gateway_config()) == len(everything)
    # a few OPC UA servers and S7 PLCs too, and nothing listens twice on one port
    assert {d.protocol for d in everything} == {"modbus", "opcua", "s7"}
    assert 2 <= sum(d.protocol == "opcua" for d in everything) <= 4
    assert 2 <= sum(d.protocol == "s7" for d in everything) <= 6
    assert len({d.port for d in everything}) == len(everything)


# -- invalid plant files -------------------------------------------------------------------------


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the `occurrence`-th line containing `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def load_text(tmp_path: Path, text: str) -> ConfigError:
    path = write_plant(tmp_path / "plant.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_plant(path)
    return info.value


HEAD = """\
plant: bad
seed: 1
modbus: {base_port: 20000}
sites:
  - name: site1
    lines:
      - name: line1
        devices:
"""


def test_overlapping_addresses_name_the_tag_and_its_line(tmp_path: Path) -> None:
    text = (
        HEAD
        + """\
          - name: press
            tags:
              - {name: a, address: 0, type: float32, signal: {kind: constant, value: 1}}
              - {name: b, table: input, address: 1, signal: {kind: constant, value: 1}}
              - {name: c, table: holding, address: 1, signal: {kind: constant, value: 1}}
"""
    )
    error = load_text(tmp_path, text)
    assert error.file == f"{tmp_path / 'plant.yaml'}:{line_of(text, '{name: c,')}"
    assert error.field == "sites[0].lines[0].devices[0].tags[2].address"
    assert "overlaps tag a" in str(error)


def test_the_same_address_in_two_tables_is_fine(tmp_path: Path) -> None:
    data = plant_data(base_port=20000)
    path = write_plant(tmp_path / "ok.yaml", data)
    assert load_plant(path).device_count == 3


def test_unknown_signal_kind(tmp_path: Path) -> None:
    text = (
        HEAD
        + """\
          - name: press
            tags:
              - {name: a, address: 0,
                 signal: {kind: sine, amplitude: 1, offset: 5, period_s: 9}}
              - {name: b, table: holding, address: 1, type: uint16,
                 signal: {kind: square, period_s: 9}}
"""
    )
    error = load_text(tmp_path, text)
    assert error.field is not None
    assert error.field.startswith("sites[0].lines[0].devices[0].tags[1].signal")
    assert error.file == f"{tmp_path / 'plant.yaml'}:{line_of(text, 'kind: square')}"
    assert "square" in str(error) or "tag" in str(error)


def test_unknown_field(tmp_path: Path) -> None:
    text = (
        HEAD
        + """\
          - name: press
            colour: red
            tags:
              - {name: a, address: 0, signal: {kind: constant, value: 1}}
"""
    )
    error = load_text(tmp_path, text)
    assert error.field == "sites[0].lines[0].devices[0].colour"
    assert error.file == f"{tmp_path / 'plant.yaml'}:{line_of(text, 'colour')}"


def mutate(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(plant_data(base_port=20000))
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


MIXER = ["sites", 0, "lines", 0, "devices", 0]
SINE_AROUND_0 = {"kind": "sine", "amplitude": 10, "offset": 0, "period_s": 5}
COUNT_100 = {"kind": "counter", "increment": 1, "max": 100}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param(
            mutate(["sites", 1, "lines", 0, "devices", 0, "name"], "mixer-02"),
            "sites[1].lines[0].devices[0].name",
            "mixer-02",
            id="device name clashes with an expanded copy",
        ),
        pytest.param(
            mutate(["sites", 1, "name"], "north"),
            "sites[1].name",
            "north",
            id="site name twice",
        ),
        pytest.param(
            mutate(["sites", 1, "lines", 0, "devices", 0, "port"], 20001),
            "sites[1].lines[0].devices[0].port",
            "20001",
            id="own port clashes",
        ),
        pytest.param(
            mutate(["modbus", "base_port"], 65534),
            "modbus.base_port",
            "65535",
            id="ports run past 65535",
        ),
        pytest.param(
            mutate([*MIXER, "tags", 1, "name"], "speed"),
            "sites[0].lines[0].devices[0].tags[1].name",
            "speed",
            id="tag name twice",
        ),
        pytest.param(
            mutate(
                [*MIXER, "tags", 0],
                tag(
                    "speed",
                    "holding",
                    0,
                    "uint16",
                    signal={"kind": "sine", "amplitude": 10, "offset": 0, "period_s": 5},
                ),
            ),
            "sites[0].lines[0].devices[0].tags[0].signal",
            "uint16",
            id="signal below an unsigned type",
        ),
        pytest.param(
            mutate(
                [*MIXER, "tags", 0],
                tag(
                    "speed",
                    "holding",
                    0,
                    "int16",
                    scale=0.001,
                    signal={"kind": "counter", "increment": 1, "max": 100},
                ),
            ),
            "sites[0].lines[0].devices[0].tags[0].signal",
            "int16",
            id="scale pushes the signal out of the type",
        ),
        pytest.param(
            mutate([*MIXER, "tags", 9], tag("running", "coil", 0, "bool", scale=2)),
            "sites[0].lines[0].devices[0].tags[9].scale",
            "bool",
            id="bool with a scale",
        ),
        pytest.param(
            mutate([*MIXER, "tags", 9], tag("running", "coil", 0, "uint16")),
            "sites[0].lines[0].devices[0].tags[9]",
            "bool",
            id="coil that is not a bool",
        ),
        pytest.param(
            mutate([*MIXER, "count"], 0),
            "sites[0].lines[0].devices[0].count",
            "greater than or equal to 1",
            id="count 0",
        ),
        pytest.param(
            mutate([*MIXER, "protocol"], "profinet"),
            "sites[0].lines[0].devices[0].protocol",
            "modbus, opcua, s7",
            id="unknown protocol",
        ),
    ],
)
def test_invalid_plants(tmp_path: Path, data: dict[str, Any], field: str, message: str) -> None:
    path = write_plant(tmp_path / "plant.yaml", data)
    with pytest.raises(ConfigError) as info:
        load_plant(path)
    error = info.value
    assert error.field == field
    assert error.file is not None
    assert error.file.startswith(f"{path}:")
    assert int(error.file.rsplit(":", 1)[1]) > 0
    assert message in str(error)


def test_an_unbounded_ramp_on_an_integer_is_allowed_and_saturates() -> None:
    data = mutate(
        [*MIXER, "tags", 0],
        tag("speed", "holding", 0, "uint16", signal={"kind": "ramp", "start": 65000, "slope": 100}),
    )
    speed = Plant.model_validate(data).devices()[0].tag("speed")
    assert speed.value_at(0) == 65000
    assert speed.value_at(100) == 65535


def test_missing_file_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_plant(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="mapping"):
        load_plant(write_plant(tmp_path / "list.yaml", "- a\n- b\n"))
