"""Small plant descriptions for the twin's tests."""

from __future__ import annotations

import copy
import socket
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from simulators.plant import Plant


def tag(name: str, table: str, address: int, type_: str, **extra: Any) -> dict[str, Any]:
    signal = extra.pop("signal", {"kind": "constant", "value": 1})
    return {
        "name": name,
        "table": table,
        "address": address,
        "type": type_,
        **extra,
        "signal": signal,
    }


MIXER_TAGS = [
    tag(
        "speed",
        "holding",
        0,
        "uint16",
        unit="rpm",
        signal={"kind": "sine", "amplitude": 100, "offset": 1000, "period_s": 60},
    ),
    tag(
        "temperature",
        "holding",
        1,
        "float32",
        order="CDAB",
        unit="°C",
        signal={"kind": "random_walk", "start": 50, "step": 0.5, "min": 40, "max": 60},
    ),
    tag(
        "energy",
        "holding",
        3,
        "uint64",
        order="DCBA",
        unit="Wh",
        signal={"kind": "counter", "start": 1000, "increment": 7.5, "max": 999999999},
    ),
    tag(
        "pressure",
        "holding",
        10,
        "int16",
        order="BADC",
        scale=0.01,
        unit="bar",
        signal={"kind": "sine", "amplitude": 1.5, "offset": 0.5, "period_s": 20},
    ),
    tag(
        "flow",
        "holding",
        11,
        "float64",
        order="BADC",
        unit="l/h",
        signal={"kind": "ramp", "start": 10, "slope": 0.25},
    ),
    tag(
        "position",
        "input",
        0,
        "int32",
        order="DCBA",
        signal={"kind": "ramp", "start": 0, "slope": -300, "min": -50000, "max": 50000},
    ),
    tag(
        "level",
        "input",
        2,
        "uint32",
        order="CDAB",
        scale=0.1,
        offset=-5,
        unit="%",
        signal={"kind": "step", "levels": [10, 50, 90], "dwell_s": 30},
    ),
    tag(
        "torque",
        "input",
        4,
        "int64",
        order="ABCD",
        signal={"kind": "random_walk", "start": 0, "step": 1000, "min": -100000, "max": 100000},
    ),
    tag(
        "current",
        "input",
        8,
        "float32",
        order="BADC",
        unit="A",
        signal={"kind": "sine", "amplitude": 2, "offset": 8, "period_s": 7, "phase": 45},
    ),
    tag("running", "coil", 0, "bool", signal={"kind": "step", "levels": [1, 0], "dwell_s": 10}),
    tag("cleaning", "coil", 1, "bool", signal={"kind": "constant", "value": 0}),
    tag("heater", "coil", 17, "bool", signal={"kind": "constant", "value": 1}),
    tag("door_closed", "discrete_input", 5, "bool", signal={"kind": "constant", "value": 1}),
    tag(
        "overload",
        "discrete_input",
        6,
        "bool",
        signal={"kind": "sine", "amplitude": 1, "offset": 0, "period_s": 10},
    ),
]

PUMP_TAGS = [  # no coils and no input registers
    tag(
        "flow",
        "holding",
        100,
        "float32",
        unit="m³/h",
        signal={"kind": "random_walk", "start": 12, "step": 0.3, "min": 10, "max": 14},
    ),
    tag("starts", "holding", 102, "uint16", signal={"kind": "counter", "increment": 0.5, "max": 9}),
    tag("dry_run", "discrete_input", 0, "bool", signal={"kind": "constant", "value": 0}),
]


def plant_data(*, base_port: int = 0, seed: int = 7) -> dict[str, Any]:
    """Two sites; mixer ×2 on one line, pump ×1 (unit id 5) on the other (a fresh copy)."""
    return copy.deepcopy(
        {
            "plant": "test",
            "seed": seed,
            "modbus": {"host": "127.0.0.1", "base_port": base_port},
            "sites": [
                {
                    "name": "north",
                    "lines": [
                        {
                            "name": "mixing",
                            "devices": [
                                {"name": "mixer", "count": 2, "unit_id": 1, "tags": MIXER_TAGS}
                            ],
                        },
                    ],
                },
                {
                    "name": "south",
                    "lines": [
                        {
                            "name": "pumping",
                            "devices": [
                                {
                                    "name": "pump",
                                    "unit_id": 5,
                                    "poll_interval_ms": 500,
                                    "tags": PUMP_TAGS,
                                }
                            ],
                        },
                    ],
                },
            ],
        }
    )


def small_plant(**kwargs: Any) -> Plant:
    return Plant.model_validate(plant_data(**kwargs))


def write_plant(path: Path, data: dict[str, Any] | str) -> Path:
    path.write_text(
        data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8"
    )
    return path


def free_port_range(n: int, host: str = "127.0.0.1") -> int:
    """A first port p such that p … p+n-1 are free right now (found by binding them)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((host, 0))
            base = int(probe.getsockname()[1])
        if base + n > 65535:
            continue
        with ExitStack() as stack:
            try:
                for port in range(base, base + n):
                    s = stack.enter_context(socket.socket())
                    s.bind((host, port))
            except OSError:
                continue
            return base
    raise RuntimeError(f"no {n} consecutive free ports")
