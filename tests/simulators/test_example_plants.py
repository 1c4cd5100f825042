"""The example plants under scenarios/plants/ load, use every protocol and make a gateway file."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.gateway.config import GatewayConfig
from simulators.plant import load_plant
from simulators.record import Recording, rows

PLANTS = Path(__file__).resolve().parents[2] / "scenarios" / "plants"
EXAMPLES = ["bottling-line.yaml", "water-treatment.yaml"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_an_example_plant_uses_every_protocol(name: str) -> None:
    plant = load_plant(PLANTS / name)
    assert plant.protocols == {"modbus", "opcua", "s7"}
    assert plant.device_count <= 12
    devices = plant.gateway_config()
    config = GatewayConfig.model_validate({"devices": [d.model_dump(mode="json") for d in devices]})
    assert [d.name for d in config.devices] == [d.name for d in plant.devices()]


@pytest.mark.parametrize("name", EXAMPLES)
def test_an_example_plant_serves_a_value_for_every_tag(name: str) -> None:
    plant = load_plant(PLANTS / name)
    recorded = list(rows(plant, Recording(duration_s=60, interval_ms=60_000)))
    assert len(recorded) == 2 * plant.tag_count


@pytest.mark.parametrize("name", EXAMPLES)
def test_an_example_plant_is_documented(name: str) -> None:
    assert f"`{name}`" in (PLANTS / "README.md").read_text(encoding="utf-8")
