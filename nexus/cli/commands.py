"""The list of sub-command registrars; each module adds its own sub-commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from nexus.cli import conformance, demo, scenario, services, sim, stack

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

REGISTRARS: list[Registrar] = [
    stack.register,
    sim.register,
    services.register,
    demo.register,
    conformance.register,
    scenario.register,
]
