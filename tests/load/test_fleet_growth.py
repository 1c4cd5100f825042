"""The fleet load grows the plant's Modbus devices to each step's count."""

from __future__ import annotations

import argparse

import pytest

from load.fleet import DEFAULT_PLANT, growth, parse_steps
from simulators.plant import load_plant


def test_a_step_copies_the_unit_to_the_device_count_it_adds() -> None:
    plant = growth(load_plant(DEFAULT_PLANT), 2, 15, interval_ms=500)
    devices = plant.devices()
    assert len(devices) == 15
    assert devices[0].name == "s2-plc-01"
    assert {d.poll_interval_ms for d in devices} == {500}
    assert plant.modbus.base_port == 0


def test_steps_must_grow() -> None:
    assert parse_steps("10,25,50") == [10, 25, 50]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_steps("25,10")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_steps("ten")
